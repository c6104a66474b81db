"""The SPAN/theo benchmark runs (small sizes) so that it cannot rot: its results are checked,
not its speed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_span_theo.py"


def test_bench_span_theo_runs_small():
    spec = importlib.util.spec_from_file_location("bench_span_theo", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.run(200, 2, 20)
    assert r["span_single_errors"] == 0
    assert r["span_batch_per_s"] > 0 and r["theo_rows"] == 80
