"""REST and WebSocket gateway: sessions, auth, entitlements."""

from ._auth import ApiKeys, AuthError, KeyEntry, Principal, bearer_token, generate_key
from ._rest import RestApi, RestConfig
from ._server import make_app, run_server
from ._session import Hub, MLinkSession, SessionConfig

__all__ = [
    "ApiKeys",
    "AuthError",
    "Hub",
    "KeyEntry",
    "MLinkSession",
    "Principal",
    "RestApi",
    "RestConfig",
    "SessionConfig",
    "bearer_token",
    "generate_key",
    "make_app",
    "run_server",
]
