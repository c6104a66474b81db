"""Strict configuration structures: unknown fields, wrong types and out-of-bound values are a
ConfigError naming where and which field."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openmlink.config import convert, did_you_mean, validated
from openmlink.errors import ConfigError
from openmlink.gateway import RestConfig, SessionConfig


def test_convert_refuses_unknown_fields_with_a_suggestion() -> None:
    want = r"^rest: unknown field 'limit_capp' \(did you mean 'limit_cap'\?\)$"
    with pytest.raises(ConfigError, match=want):
        convert({"limit_capp": 5}, RestConfig, "rest")


def test_convert_refuses_wrong_types_and_bounds() -> None:
    with pytest.raises(ConfigError, match=r"^rest: field 'limit_cap': expected an integer, got str$"):
        convert({"limit_cap": "5"}, RestConfig, "rest")
    with pytest.raises(ConfigError, match=r"^ws: field 'heartbeat_s': Expected float > 0"):
        convert({"heartbeat_s": 0}, SessionConfig, "ws")
    with pytest.raises(ConfigError, match=r"^ws: expected a table, got list$"):
        convert([1], SessionConfig, "ws")
    assert convert({"limit_cap": 7}, RestConfig, "rest").limit_cap == 7


def test_validated_checks_structs_built_in_code() -> None:
    assert validated(RestConfig(limit_cap=3)).limit_cap == 3
    with pytest.raises(ConfigError, match=r"^RestConfig: field 'max_body_bytes': Expected int >= 1"):
        validated(RestConfig(max_body_bytes=0))


def test_did_you_mean() -> None:
    assert did_you_mean("client_firm", ["key", "userName", "clientFirm"]) == " (did you mean 'clientFirm'?)"
    assert did_you_mean("zzz", ["key"]) == ""


def test_serve_refuses_a_bad_limit_in_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "openmlink", "serve", "--port", "1", "--no-market",
                        "--no-analytics", "--no-persist", "--limit-cap", "0"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "openmlink: ConfigError: serve options: field 'limit_cap': Expected int >= 1"
