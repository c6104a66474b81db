"""The store's key-column hints (``upsert_columns`` batches) keep its pkey index exact."""

from __future__ import annotations

import numpy as np

from openmlink.market._columns import option_key_columns
from openmlink.schema import OptionKey, registry
from openmlink.store import Table


def _okey_batch(tks: list[str], strikes: list[float], bid: float) -> dict[str, np.ndarray]:
    m = len(tks)
    return {**option_key_columns("okey", np.array(tks, dtype=object), np.full(m, 19_800, np.int32),
                                 np.array(strikes), np.zeros(m, np.int8)),
            "bidPrice": np.full(m, bid)}


def test_upsert_columns_hints_keep_index_exact_through_deletes_and_single_upserts() -> None:
    t = Table(registry()["OptionNbboQuote"])
    rng = np.random.default_rng(1)
    names = [f"R{i}" for i in range(40)]
    for step in range(30):
        m = int(rng.integers(300, 1200))
        tks = [names[i] for i in rng.integers(0, len(names), m)]
        ks = (rng.integers(1, 60, m) * 5.0).tolist()
        rows = t.upsert_columns(_okey_batch(tks, ks, float(step)))
        keys = [OptionKey("EQT", "NMS", a, "2024-03-18", float(k), "Call")
                for a, k in zip(tks, ks, strict=True)]
        assert rows.tolist() == [t.index[(k,)] for k in keys]
        assert (t.column("bidPrice")[rows] == step).all()
        # deletes and single-record upserts between the batches
        for k in rng.choice(len(keys), 20).tolist():
            t.delete((keys[k],))
        for k in rng.choice(len(keys), 10).tolist():
            t.upsert({"okey": keys[k], "bidPrice": -1.0})
        assert len(t.index) == t.count == int(t.alive[: t.n].sum())
        for pk, r in t.index.items():
            assert t.alive[r] and t.get(pk)["okey"] == pk[0]
