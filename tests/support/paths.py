"""Where the tests find the repository and the project's shared material (``../shared``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("OPENMLINK_SHARED", REPO.parent / "shared"))
SEEDS = SHARED / "seeds"
CBOE = SHARED / "data" / "cboe"
FIXTURES = REPO / "tests" / "fixtures"
