from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.serve import LITE, Served, serve_on


@pytest.fixture(scope="module")
def lite() -> Iterator[Served]:
    """A small seeded simulator without analytics, shared by a module's tests."""
    s = serve_on(*LITE)
    yield s
    s.stop()
