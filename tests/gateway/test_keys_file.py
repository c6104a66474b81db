"""Keys files are decoded strictly: a mistake stops start-up with one line naming the file,
the entry and the field (never a key that silently sees more than it should)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openmlink.errors import ConfigError, StartupError
from openmlink.gateway import ApiKeys, bearer_token

GOOD = """
[[key]]
key = "AAAA-0000-0000-0001"
userName = "alice"
clientFirm = "ACME"
tokens = ["EqtMktData", "OptAnalytics"]
"""

#: (file text, what the one-line message must contain)
BAD = {
    "misspelt field": (GOOD + '\n[[key]]\nkey = "BBBB-0000-0000-0002"\nclient_firm = "ACME"\n',
                       "[[key]] #2: unknown field 'client_firm' (did you mean 'clientFirm'?)"),
    "tokens not a list": ('[[key]]\nkey = "AAAA-0000-0000-0001"\ntokens = "EqtMktData"\n',
                          "[[key]] #1: field 'tokens': expected a list of strings, got str"),
    "token not a string": ('[[key]]\nkey = "AAAA-0000-0000-0001"\ntokens = ["EqtMktData", 3]\n',
                           "[[key]] #1: field 'tokens[1]': expected a string, got int"),
    "unknown token": ('[[key]]\nkey = "AAAA-0000-0000-0001"\ntokens = ["EqtMktDta"]\n',
                      "[[key]] #1: field 'tokens': unknown token 'EqtMktDta' (did you mean 'EqtMktData'?)"),
    "empty key": ('[[key]]\nkey = ""\nuserName = "bob"\n', "[[key]] #1: field 'key': empty"),
    "no key": ('[[key]]\nuserName = "bob"\n', "[[key]] #1: missing required field 'key'"),
    "duplicate key": (GOOD + GOOD, "[[key]] #2: key 'AAAA-0000-0000-0001' repeats [[key]] #1"),
    "not TOML": ("[[key]\nkey = 'x'\n", "not valid TOML"),
    "misspelt table": ('[[keys]]\nkey = "AAAA-0000-0000-0001"\n',
                       "unknown table 'keys' (did you mean 'key'?)"),
    "wrong type of name": ('[[key]]\nkey = "AAAA-0000-0000-0001"\nuserName = 7\n',
                           "[[key]] #1: field 'userName': expected a string, got int"),
}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "keys.toml"
    p.write_text(text)
    return p


def test_a_good_file_gives_the_keys_it_lists(tmp_path: Path) -> None:
    keys = ApiKeys.from_file(_write(tmp_path, GOOD))
    p = keys.authenticate("AAAA-0000-0000-0001", None)
    assert (p.user_name, p.client_firm, p.tokens) == ("alice", "ACME",
                                                      frozenset({"EqtMktData", "OptAnalytics"}))
    assert p.may_see("OptAnalytics") and not p.may_see("ClientTrading")


def test_defaults_see_everything_only_when_nothing_is_misspelt(tmp_path: Path) -> None:
    keys = ApiKeys.from_file(_write(tmp_path, '[[key]]\nkey = "AAAA-0000-0000-0001"\n'))
    p = keys.authenticate("AAAA-0000-0000-0001", None)
    assert p.client_firm is None and p.may_see("ClientTrading")


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_keys_file_in_process(tmp_path: Path, case: str) -> None:
    text, want = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        ApiKeys.from_file(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)), msg
    assert want in msg, msg
    assert "\n" not in msg
    assert isinstance(ei.value, StartupError)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"keys\.toml: cannot read"):
        ApiKeys.from_file(tmp_path / "keys.toml")


@pytest.mark.parametrize("case", ["misspelt field", "tokens not a list", "unknown token", "empty key",
                                  "not TOML"])
def test_bad_keys_file_stops_serve_with_one_line(tmp_path: Path, case: str) -> None:
    text, want = BAD[case]
    path = _write(tmp_path, text)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "openmlink", "serve", "--port", "1", "--no-market",
                        "--no-analytics", "--no-persist", "--keys-file", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"openmlink: ConfigError: {path}"), lines[0]
    assert want in lines[0]
    assert "Traceback" not in r.stderr and "serving" not in r.stdout
    assert time.monotonic() - t0 < 60


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_bearer_token_never_fails_and_only_takes_bearer(header: str) -> None:
    got = bearer_token(header)
    if got is not None:
        assert header.strip().lower().startswith("bearer")
        assert got == got.strip() and got


def test_bearer_token_forms() -> None:
    assert bearer_token("Bearer K-1") == "K-1"
    assert bearer_token("  bearer   K-1  ") == "K-1"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


def test_admin_marks_an_operator_key_and_defaults_to_false(tmp_path: Path) -> None:
    p = tmp_path / "keys.toml"
    p.write_text(GOOD + '\n[[key]]\nkey = "OPER-0000-0000-0001"\nuserName = "ops"\nadmin = true\n')
    keys = ApiKeys.from_file(p)
    assert keys.authenticate(None, "OPER-0000-0000-0001").admin
    assert not keys.authenticate(None, "AAAA-0000-0000-0001").admin
    p.write_text('[[key]]\nkey = "OPER-0000-0000-0001"\nadmin = "yes"\n')
    with pytest.raises(ConfigError, match="admin"):
        ApiKeys.from_file(p)
