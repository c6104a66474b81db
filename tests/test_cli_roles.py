"""``openmlink serve --bus/--role``: bad combinations and an unreachable NATS server end the
command at once with one line naming the problem (exit status 2)."""

from __future__ import annotations

import pytest

from openmlink.errors import StartupError
from openmlink.runtime import parse_role
from tests.conftest import free_port
from tests.support.nats import nats_server_binary
from tests.support.process import run_cli


def test_role_words() -> None:
    assert parse_role(["all"]).engines == {"implied", "trading", "calc"}
    assert parse_role(["all"]).sources and parse_role(["market"]).sources
    assert not parse_role(["gateway"]).sources and parse_role(["gateway"]).engines == set()
    assert parse_role(["engine", "implied,calc"]).engines == {"implied", "calc"}
    assert parse_role(["engine", "trading", "calc"]).engines == {"trading", "calc"}
    assert parse_role(["engine", "all"]).engines == {"implied", "trading", "calc"}
    assert str(parse_role(["engine", "trading,implied"])) == "engine implied,trading"
    for bad, why in ((["engine"], "needs a name"), (["engine", "span"], "span: unknown"),
                     (["gateway", "x"], "takes no name"), (["router"], "one of")):
        with pytest.raises(StartupError, match=why):
            parse_role(bad)


@pytest.mark.parametrize(("args", "said"), [
    (("--role", "gateway"), "needs a distributed bus"),
    (("--bus", "redis://x:1"), "'inprocess' or a NATS URL"),
    (("--role", "engine", "nope", "--bus", "nats://127.0.0.1:1"), "unknown engine"),
])
def test_bad_bus_or_role_is_one_line_and_exit_2(args: tuple[str, ...], said: str) -> None:
    r = run_cli("serve", "--no-market", "--no-sql", "--no-persist", *args)
    assert r.rc == 2 and said in r.text, r.text
    assert "Traceback" not in r.text


@pytest.mark.skipif(nats_server_binary() is None, reason="nats extra not installed")
def test_unreachable_nats_server_is_a_startup_error() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    r = run_cli("serve", "--bus", url, "--role", "gateway", "--no-sql", "--no-persist",
                "--port", str(free_port()), timeout=60)
    assert r.rc == 2 and f"cannot join the NATS bus at {url}" in r.text, r.text
    assert "Traceback" not in r.text
