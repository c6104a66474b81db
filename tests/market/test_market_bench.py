"""The market benchmark runs (on a small universe) so that it cannot rot: a smoke test of its
results' shape only -- the throughput it prints is not asserted (the machine is shared)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_market.py"


def test_bench_market_runs_on_a_small_universe():
    spec = importlib.util.spec_from_file_location("bench_market", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run("small", steps=3, quote_rate=0.05, record_steps=3)
    assert r["series"] > 1000
    assert r["sustained_quotes_per_s"] > 0
    assert 0 < r["recorder_bytes_per_quote"] < 60
