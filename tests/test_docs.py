"""The README and docs/ link only to documents inside the repository, and every such link
resolves (the project must read complete without ../shared)."""

from __future__ import annotations

import re

import pytest

from tests.support.paths import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_links_stay_inside_the_repository_and_resolve(page):
    text = page.read_text()
    assert "/work/" not in text and "../shared" not in text
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue  # web addresses and anchors
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO), (page.name, target)
        assert path.exists(), (page.name, target)
