"""Partitions by underlier: a stable hash every process agrees on, ``K/N`` parsing, and the
ownership a leased engine sees change."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openmlink.bus import Partitions, parse_partition, partition_of


@given(st.text(min_size=0, max_size=12), st.integers(1, 64))
def test_every_underlier_is_in_exactly_one_of_the_fixed_partitions(name: str, n: int) -> None:
    owners = [k for k in range(n) if parse_partition(f"{k}/{n}").owns(name)]
    assert owners == [partition_of(name, n)]


def test_the_hash_is_the_same_in_another_interpreter() -> None:
    # Python's hash() of a str changes per process (PYTHONHASHSEED): engines must not use it
    names = ["SPY", "AAPL", "SPX", "Ä-1", ""]
    code = ("import sys; from openmlink.bus import partition_of; "
            f"print([partition_of(n, 7) for n in {names!r}])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "123"}).stdout
    assert out.strip() == str([partition_of(n, 7) for n in names])


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0", "1/2/3"])
def test_a_bad_partition_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="--partition"):
        parse_partition(text)


def test_listeners_see_the_partitions_gained_and_the_version_moves() -> None:
    p = Partitions(4, leased=True)
    seen: list[frozenset[int]] = []
    p.on_gain(seen.append)
    assert not p.owns("SPY") and p.version == 0
    p.set({partition_of("SPY", 4), 0})
    assert p.owns("SPY") and p.version == 1
    v = p.version
    p.set(p.owned)  # no change: no notice
    assert p.version == v
    p.set({0})
    assert seen == [frozenset({partition_of("SPY", 4), 0}), frozenset()]
    with pytest.raises(ValueError, match=r"not in 0\.\.3"):
        p.set({4})
