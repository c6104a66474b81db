"""API keys and entitlements: who may call, and which message types (tokens) they may see."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..config import convert, did_you_mean, read_toml
from ..errors import ConfigError
from ..schema import registry

__all__ = ["ApiKeys", "AuthError", "KeyEntry", "Principal", "bearer_token", "generate_key"]


class AuthError(Exception):
    """Missing or unknown credentials; the message says which."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    key: str
    user_name: str = "dev"
    client_firm: str | None = None  # None: sees every firm's records (development keys)
    tokens: frozenset[str] = field(default_factory=lambda: frozenset({"*"}))
    #: an operator's key: may also take the openmlink extension actions of
    #: ``schema.ADMIN_ACTIONS`` (busting/correcting a fill: docs/trading.md)
    admin: bool = False

    def may_see(self, token: str) -> bool:
        return "*" in self.tokens or token in self.tokens

    @property
    def origin(self) -> str:
        """The poster's identity on the bus (``bus.Event.origin``): the user name, else the key."""
        return self.user_name or self.key


class KeyEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="camel"):
    """One ``[[key]]`` entry of a keys file (names as written: ``userName``, ``clientFirm``)."""

    key: str
    user_name: str = "user"
    client_firm: str = ""  # empty: the key sees every firm's records
    tokens: tuple[str, ...] = ("*",)
    admin: bool = False  # an operator's key (``Principal.admin``)


def generate_key() -> str:
    """A fresh key of the MLink form XXXX-XXXX-XXXX-XXXX."""
    h = secrets.token_hex(8).upper()
    return "-".join(h[i:i + 4] for i in range(0, 16, 4))


def bearer_token(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer <key>`` header value (None otherwise).
    REST and WebSocket requests both read their header through this."""
    bits = (authorization or "").strip().split(None, 1)
    if len(bits) == 2 and bits[0].lower() == "bearer":
        return bits[1].strip() or None
    return None


def _known_tokens() -> frozenset[str]:
    return frozenset(mt.token for mt in registry().types if mt.token)


class ApiKeys:
    """The set of accepted keys.

    A keys file is TOML::

        [[key]]
        key = "ABCD-1234-ABCD-1234"
        userName = "trader1"
        clientFirm = "ACME"
        tokens = ["*"]          # or a list of MLink tokens, e.g. ["EqtMktData", "OptAnalytics"]

    Unknown fields, wrong types, unknown tokens, empty or repeated keys are refused at start-up
    with a ``ConfigError`` naming the file, the entry and the field.
    """

    def __init__(self, principals: Mapping[str, Principal] | None = None) -> None:
        self._by_key: dict[str, Principal] = dict(principals or {})

    def add(self, p: Principal) -> None:
        self._by_key[p.key] = p

    @classmethod
    def from_file(cls, path: str | Path, tokens: Iterable[str] | None = None) -> ApiKeys:
        """The keys of a TOML keys file; ``tokens`` are the token names a key may list
        (default: every token of the schema registry)."""
        doc = read_toml(path)
        known = frozenset(tokens) if tokens is not None else _known_tokens()
        for name in doc:
            if name != "key":
                raise ConfigError(f"{path}: unknown table '{name}'{did_you_mean(name, ['key'])}; "
                                  "a keys file holds [[key]] entries")
        entries = doc.get("key", [])
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: 'key' must be an array of tables ([[key]] entries), "
                              f"got {type(entries).__name__}")
        keys = cls()
        first: dict[str, int] = {}
        for i, item in enumerate(entries, 1):
            where = f"{path} [[key]] #{i}"
            e = convert(item, KeyEntry, where)
            p = _principal(e, where, known)
            if e.key in first:
                raise ConfigError(f"{where}: key '{e.key}' repeats [[key]] #{first[e.key]}")
            first[e.key] = i
            keys.add(p)
        return keys

    def __len__(self) -> int:
        return len(self._by_key)

    def principals(self) -> list[Principal]:
        """Every accepted key's principal (the SQL endpoint checks log-ins against them)."""
        return list(self._by_key.values())

    def authenticate(self, bearer: str | None, api_key: str | None) -> Principal:
        token = bearer or api_key
        if not token:
            raise AuthError("no credentials: send 'Authorization: Bearer <key>' or apiKey=<key>")
        p = self._by_key.get(token) or self._by_key.get(token.split(".", 1)[0])
        if p is None:
            raise AuthError("unknown API key")
        return p


def _principal(e: KeyEntry, where: str, known: frozenset[str]) -> Principal:
    if not e.key.strip():
        raise ConfigError(f"{where}: field 'key': empty (give the API key, e.g. '{generate_key()}')")
    if e.key != e.key.strip() or any(c.isspace() for c in e.key):
        raise ConfigError(f"{where}: field 'key': '{e.key}' contains white space")
    if not e.tokens:
        raise ConfigError(f"{where}: field 'tokens': empty (list the tokens the key may see, "
                          "or [\"*\"] for all)")
    for t in e.tokens:
        if t != "*" and t not in known:
            raise ConfigError(f"{where}: field 'tokens': unknown token '{t}'"
                              f"{did_you_mean(t, known)} (known: {', '.join(sorted(known))}, or *)")
    if e.client_firm != e.client_firm.strip():
        raise ConfigError(f"{where}: field 'clientFirm': '{e.client_firm}' has leading or "
                          "trailing white space")
    return Principal(key=e.key, user_name=e.user_name, client_firm=e.client_firm or None,
                     tokens=frozenset(e.tokens), admin=e.admin)
