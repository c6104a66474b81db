"""The vendor's seed documents as the tests use them: the schema pages' REST sample sections (the
"... API Call" code blocks) and the notebook page's SQL cell, shipped under tests/fixtures/seeds/
so that the tests run without ../shared.  ``python -m tests.support.seeds`` rewrites that copy
from ../shared/seeds."""

from __future__ import annotations

import re
import sys

from tests.support.paths import FIXTURES, SEEDS

__all__ = ["NOTEBOOK", "PAGES", "api_sections", "notebook_sql_cell", "notebook_text", "page_text"]

#: the seed pages with REST samples the tests replay
PAGES = ["001_6d837a5de6d424b7.txt", "002_439b89820a4b8385.txt", "003_22c068a661168229.txt",
         "004_e34a2ddef7fef608.txt"]
COPY = FIXTURES / "seeds"
#: the client notebooks page; the tests need only its SQL cell (example 6, step 2)
NOTEBOOK = "000_aad390d6939b13a4.txt"
_SQL_FROM = "Step 2: Retrieve notice number and stream auction updates"
_SQL_TO = "# Create DataFrame for streaming data"


def api_sections(text: str) -> str:
    """The page's ``Schema:`` line and its "... API Call" sections, without ``#`` comment
    lines (the sample code and JSON payloads unchanged)."""
    lines = text.splitlines()
    title = next((ln for ln in lines if ln.startswith("Schema: ")), "")
    start = next(i for i, ln in enumerate(lines) if re.fullmatch(r"[A-Za-z ]+ API Call", ln))
    body = [ln for ln in lines[start:] if not ln.lstrip().startswith("#")]
    return "\n".join([title, "", *body]).rstrip("\n") + "\n"


def notebook_sql_cell(text: str) -> str:
    """The notebook page's block-auction step 2 cell, up to its streaming part (the SQL query
    and the mysql.connector code that runs it)."""
    start = text.index(_SQL_FROM)
    return text[start:text.index(_SQL_TO, start)].rstrip("\n") + "\n"


def notebook_text() -> str:
    """The shipped copy of the notebook page's SQL cell."""
    return (COPY / NOTEBOOK).read_text()


def page_text(page: str) -> str:
    """The shipped copy of a seed page's sample sections."""
    return (COPY / page).read_text()


if __name__ == "__main__":
    COPY.mkdir(parents=True, exist_ok=True)
    for p in PAGES:
        (COPY / p).write_text(api_sections((SEEDS / p).read_text()))
        print(f"wrote {COPY / p}", file=sys.stderr)
    (COPY / NOTEBOOK).write_text(notebook_sql_cell((SEEDS / NOTEBOOK).read_text()))
    print(f"wrote {COPY / NOTEBOOK}", file=sys.stderr)
