"""API keys and entitlements: who may call, and which message types (tokens) they may see."""

from __future__ import annotations

import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ApiKeys", "AuthError", "Principal", "generate_key"]


class AuthError(Exception):
    """Missing or unknown credentials; the message says which."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    key: str
    user_name: str = "dev"
    client_firm: str | None = None  # None: sees every firm's records (development keys)
    tokens: frozenset[str] = field(default_factory=lambda: frozenset({"*"}))

    def may_see(self, token: str) -> bool:
        return "*" in self.tokens or token in self.tokens


def generate_key() -> str:
    """A fresh key of the MLink form XXXX-XXXX-XXXX-XXXX."""
    h = secrets.token_hex(8).upper()
    return "-".join(h[i:i + 4] for i in range(0, 16, 4))


class ApiKeys:
    """The set of accepted keys.

    A keys file is TOML::

        [[key]]
        key = "ABCD-1234-ABCD-1234"
        userName = "trader1"
        clientFirm = "ACME"
        tokens = ["*"]          # or a list of MLink tokens, e.g. ["EqtMktData", "OptAnalytics"]
    """

    def __init__(self, principals: Mapping[str, Principal] | None = None) -> None:
        self._by_key: dict[str, Principal] = dict(principals or {})

    def add(self, p: Principal) -> None:
        self._by_key[p.key] = p

    @classmethod
    def from_file(cls, path: str | Path) -> ApiKeys:
        data = tomllib.loads(Path(path).read_text("utf-8"))
        keys = cls()
        for i, item in enumerate(data.get("key", [])):
            if "key" not in item:
                raise ValueError(f"{path}: [[key]] entry {i + 1} has no 'key'")
            keys.add(Principal(
                key=str(item["key"]),
                user_name=str(item.get("userName", "user")),
                client_firm=str(item["clientFirm"]) if item.get("clientFirm") else None,
                tokens=frozenset(item.get("tokens", ["*"])),
            ))
        return keys

    def __len__(self) -> int:
        return len(self._by_key)

    def authenticate(self, bearer: str | None, api_key: str | None) -> Principal:
        token = bearer or api_key
        if not token:
            raise AuthError("no credentials: send 'Authorization: Bearer <key>' or apiKey=<key>")
        p = self._by_key.get(token) or self._by_key.get(token.split(".", 1)[0])
        if p is None:
            raise AuthError("unknown API key")
        return p
