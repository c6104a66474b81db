"""``|`` chains of ``eq`` terms (MLink has no ``in``) are compiled to set lookups; they must
select exactly what the terms evaluated one by one select, through both back ends."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.query import BOr, Leaf, compile_predicate, compile_where, where_mask
from openmlink.schema import registry
from openmlink.schema._codec import decode_record
from openmlink.store import Table

REG = registry()
LIQ = REG["LiveImpliedQuote"]

_TK = ["SPY", "SPX", "AAPL", "QQQ"]
_DT = ["2025-05-16", "2025-05-21", "2025-06-20"]
_XX = [62.5, 100.0, 480.0, 500.0]
_CP = ["Call", "Put"]
_SRC = ["Loop", "Tick"]


def _okey(tk: str, dt: str, xx: float, cp: str) -> str:
    return f"{tk}-NMS-EQT-{dt}-{xx:g}-{cp[0]}"


def _rec(tk: str, dt: str, xx: float, cp: str, de: float, src: str) -> dict:
    body = {"pkey": {"okey": {"at": "EQT", "ts": "NMS", "tk": tk, "dt": dt, "xx": xx, "cp": cp}},
            "ticker": f"{tk}-NMS-EQT", "de": de, "calcSource": src}
    return decode_record(LIQ, body)


_opt = st.tuples(st.sampled_from(_TK), st.sampled_from(_DT), st.sampled_from(_XX), st.sampled_from(_CP),
                 st.sampled_from([-0.5, 0.0, 0.25, 0.5]), st.sampled_from(_SRC))
# one eq term: a whole key, a key prefix, one key member, a scalar, or (not collapsible) a gt
_term = st.one_of(
    st.builds(lambda o: f"okey:eq:{_okey(*o[:4])}", _opt),
    st.builds(lambda tk, dt: f"okey:eq:{tk}-NMS-EQT-{dt}", st.sampled_from([*_TK, "IWM"]),
              st.sampled_from(_DT)),
    st.builds(lambda tk: f"ticker:eq:{tk}-NMS-EQT", st.sampled_from([*_TK, "IWM"])),
    st.builds(lambda tk: f"okey.tk:eq:{tk}", st.sampled_from([*_TK, "NOPE"])),
    st.builds(lambda x: f"okey.xx:eq:{x:g}", st.sampled_from([*_XX, 1.0])),
    st.builds(lambda cp: f"okey.cp:eq:{cp}", st.sampled_from(_CP)),
    st.builds(lambda d: f"de:eq:{d}", st.sampled_from([-0.5, 0.0, 0.25, 0.5, 0.7])),
    st.builds(lambda s: f"calcSource:eq:{s}", st.sampled_from(_SRC)),
    st.builds(lambda d: f"de:gt:{d}", st.sampled_from([-0.5, 0.0, 0.25])),
    st.builds(lambda tk: f"okey.tk:eq:{tk} & okey.cp:eq:Put", st.sampled_from(_TK)),
)


def _table(opts: list[tuple]) -> tuple[Table, list[dict]]:
    t = Table(LIQ)
    recs = []
    for o in opts:
        rec = _rec(*o)
        t.upsert(rec)
        recs.append(rec)
    return t, recs


@settings(max_examples=150, deadline=None)
@given(st.lists(_opt, min_size=0, max_size=25), st.lists(_term, min_size=1, max_size=12),
       st.lists(st.integers(0, 24), max_size=10))
def test_an_eq_chain_selects_what_its_terms_select_one_by_one(opts, terms, subset):
    t, _ = _table(opts)
    n = t.n
    # the naive evaluation: one mask per term, ORed
    naive = np.zeros(n, bool)
    for term in terms:
        naive |= where_mask(t, compile_where(LIQ, term))
    clause = " | ".join(f"({x})" if "&" in x else x for x in terms)
    bound = compile_where(LIQ, clause)
    assert np.array_equal(where_mask(t, bound), naive), clause
    pred = compile_predicate(LIQ, bound)
    assert [pred(t.record(r)) for r in range(n)] == naive.tolist(), clause
    rows = np.array(sorted({r for r in subset if r < n}), dtype=np.int64)
    assert np.array_equal(where_mask(t, bound, rows), naive[rows]), clause


def test_a_chain_of_eq_terms_binds_to_one_set_leaf_per_column_or_key():
    b = compile_where(LIQ, "okey:eq:SPY-NMS-EQT-2025-05-16-500-C | okey:eq:SPX-NMS-EQT-2025-05-16-100-P"
                           " | okey.tk:eq:A | okey.tk:eq:B | de:gt:0")
    assert isinstance(b, BOr)
    kinds = sorted((x.vk, x.op) for x in b.items if isinstance(x, Leaf))
    assert kinds == [("num", "gt"), ("str", "in"), ("tuple", "in")]
    tup = next(x for x in b.items if isinstance(x, Leaf) and x.vk == "tuple")
    assert tup.b == ("tk", "ts", "at", "dt", "xx", "cp") and len(tup.a) == 2


def test_a_10000_key_chain_selects_exactly_its_keys():
    rng = np.random.default_rng(19)
    t = Table(LIQ)
    all_keys = []
    for tk in ("SPY", "SPX", "QQQ", "IWM"):
        for d in range(12):
            dt = f"2025-{1 + d:02d}-15"
            for k in range(250):
                for cp in ("C", "P"):
                    all_keys.append((tk, dt, 100 + k * 2.5, cp))
    opts = [(tk, dt, xx, "Call" if cp == "C" else "Put", 0.0, "Loop") for tk, dt, xx, cp in all_keys]
    for o in opts:
        t.upsert(_rec(*o))
    assert t.n == 24_000
    pick = rng.choice(len(all_keys), 9_000, replace=False)
    absent = [("SPY", "2025-01-15", 99_999.5 + i, "C") for i in range(1_000)]
    chain_keys = [all_keys[i] for i in pick.tolist()] + absent
    clause = " | ".join(f"okey:eq:{tk}-NMS-EQT-{dt}-{xx:.10g}-{cp}" for tk, dt, xx, cp in chain_keys)
    bound = compile_where(LIQ, clause)
    assert isinstance(bound, Leaf) and bound.vk == "tuple" and len(bound.a) == 10_000
    got = np.flatnonzero(where_mask(t, bound))
    assert np.array_equal(got, np.sort(pick))
    rows = np.arange(0, t.n, 7)
    assert np.array_equal(rows[where_mask(t, bound, rows)], np.intersect1d(rows, pick))


def test_a_chain_sees_keys_whose_words_appear_after_it_was_first_evaluated():
    t, _ = _table([("SPY", "2025-05-16", 500.0, "Call", 0.0, "Loop")])
    by_key = compile_where(LIQ, "okey:eq:QQQ-NMS-EQT-2025-05-16-500-C | okey:eq:SPY-NMS-EQT-2025-05-16-500-C")
    by_tk = compile_where(LIQ, "okey.tk:eq:QQQ | okey.tk:eq:IWM")
    assert where_mask(t, by_key).tolist() == [True]
    assert where_mask(t, by_tk).tolist() == [False]
    t.upsert(_rec("AAPL", "2025-05-16", 500.0, "Call", 0.0, "Loop"))  # the vocabulary grows
    assert where_mask(t, by_key).tolist() == [True, False]
    t.upsert(_rec("QQQ", "2025-05-16", 500.0, "Call", 0.0, "Loop"))  # a word of both chains
    assert where_mask(t, by_key).tolist() == [True, False, True]
    assert where_mask(t, by_tk).tolist() == [False, False, True]
    assert where_mask(t, by_key, np.array([2, 0])).tolist() == [True, True]
