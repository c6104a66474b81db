"""The deployment files (deploy/docker-compose.yml, the systemd units of docs/scale-out.md)
start processes the ``openmlink`` command line accepts: every command parses, names a role,
joins the NATS service of the file, and the ports a compose service publishes are the ones
its process listens on (no docker needed: the files are read as text)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from openmlink.cli import parser
from openmlink.runtime import parse_role
from tests.support.paths import REPO

COMPOSE = REPO / "deploy" / "docker-compose.yml"


def _services() -> dict[str, dict[str, Any]]:
    """service -> {"command": [...], "ports": [...]} (the file writes them as JSON lists)."""
    out: dict[str, dict[str, Any]] = {}
    current = None
    in_services = False
    for line in COMPOSE.read_text().splitlines():
        if re.match(r"^\S", line):
            in_services = line.startswith("services:")
            current = None
            continue
        m = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
        if in_services and m:
            current = out.setdefault(m.group(1), {})
            continue
        m = re.match(r"^    (command|ports):\s*(\[.*\])\s*$", line)
        if current is not None and m:
            current[m.group(1)] = json.loads(m.group(2))
    return out


def _check(argv: list[str], nats_hosts: set[str]) -> tuple[Any, Any]:
    args = parser().parse_args(argv)
    assert args.command == "serve"
    role = parse_role(args.role)
    m = re.fullmatch(r"nats://([^:/]+):(\d+)", args.bus)
    assert m and m.group(1) in nats_hosts, args.bus
    if "trading" in role.engines:  # the order manager resumes from its journal
        assert not args.no_persist and args.data_dir, argv
    return args, role


def test_the_compose_file_starts_processes_the_command_line_accepts() -> None:
    svc = _services()
    assert "nats" in svc and "-js" in svc["nats"]["command"]
    roles = []
    for name, s in svc.items():
        if name == "nats":
            continue
        args, role = _check(s["command"], {"nats"})
        roles.append(str(role))
        published = {int(p.split(":")[1]) for p in s.get("ports", [])}
        listening = {args.port} | ({args.sql_port} if args.sql_port and not args.no_sql else set())
        assert published <= listening, (name, published, listening)
        if role.name == "gateway":
            assert published == listening and args.host == "0.0.0.0", name
    assert sorted(roles) == sorted(["market", "engine implied", "engine implied",
                                    "engine calc,trading", "gateway", "gateway"])


def test_the_systemd_units_start_processes_the_command_line_accepts() -> None:
    doc = (REPO / "docs" / "scale-out.md").read_text()
    lines = re.findall(r"^ExecStart=/opt/openmlink/bin/openmlink (.+)$", doc, re.M)
    assert len(lines) == 4
    for line in lines:
        _check(shlex.split(line.replace("%i", "01")), {"nats-host"})

