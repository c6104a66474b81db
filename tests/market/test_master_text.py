"""The security master's definition as JSON (what a market process shares with engine-only
processes): the master built from it lists the same series, with the same dividends and
contract terms; a definition this version cannot read is refused with the reason."""

from __future__ import annotations

from datetime import date

import numpy as np
import orjson
import pytest

from openmlink.market import build_universe, master_from_json, master_to_json


def test_the_rebuilt_master_is_the_same_master() -> None:
    m = build_universe("200", date(2026, 1, 5), 7)  # default names plus seeded synthetic ones
    m2 = master_from_json(master_to_json(m))
    assert m2.today == m.today and m2.underliers == m.underliers and m2.roots == m.roots
    for col in ("root_idx", "und_idx", "exp_idx", "dt_days", "strike", "cp", "tk", "exp_ns"):
        assert np.array_equal(getattr(m2.series, col), getattr(m.series, col)), col
    for u in m.underliers:
        assert m2.dividends(u.symbol) == m.dividends(u.symbol)
    for r in m.roots:
        assert (m2.exercise_style(r.root), m2.multiplier(r.root), m2.expiries(r.root)) == (
            m.exercise_style(r.root), m.multiplier(r.root), m.expiries(r.root))


def test_an_unreadable_definition_is_refused_with_the_reason() -> None:
    doc = orjson.loads(master_to_json(build_universe("default", date(2026, 1, 5))))
    with pytest.raises(ValueError, match="version 2 is not 1"):
        master_from_json(orjson.dumps({**doc, "version": 2}))
    doc["roots"][0]["cycle"]["fortnightlies"] = 2
    with pytest.raises(ValueError, match=r"root \w+\.cycle: unknown field\(s\) fortnightlies"):
        master_from_json(orjson.dumps(doc))
