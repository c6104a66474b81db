"""The ``openmlink`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .gateway import ApiKeys, Principal, RestConfig, generate_key, make_app, run_server
from .platform import build_platform

__all__ = ["main"]


def _keys(args: argparse.Namespace) -> tuple[ApiKeys, str | None]:
    keys = ApiKeys.from_file(args.keys_file) if args.keys_file else ApiKeys()
    one = args.api_key or os.environ.get("OPENMLINK_API_KEY")
    dev = None
    if one:
        keys.add(Principal(one))
    if not len(keys):
        dev = generate_key()
        keys.add(Principal(dev))
    return keys, dev


def _serve(args: argparse.Namespace) -> int:
    keys, dev = _keys(args)
    cfg = RestConfig(limit_cap=args.limit_cap, max_body_bytes=args.max_body_bytes)
    plat = build_platform(keys, rest_config=cfg)
    app = make_app(plat.rest)
    if dev:
        print(f"openmlink: development API key: {dev}", flush=True)
    print(f"openmlink: serving REST on http://{args.host}:{args.port}/rest/json", flush=True)
    run_server(app, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="openmlink", description="Self-hosted MLink platform")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the server (embedded defaults, no external service)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--api-key", help="accept this API key (also OPENMLINK_API_KEY)")
    s.add_argument("--keys-file", help="TOML file of API keys ([[key]] entries)")
    s.add_argument("--limit-cap", type=int, default=100_000, help="maximum getmsgs limit")
    s.add_argument("--max-body-bytes", type=int, default=16 * 1024 * 1024)
    s.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    if args.command == "serve":
        return _serve(args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
