"""REST and WebSocket gateway: sessions, auth, entitlements."""

from ._auth import ApiKeys, AuthError, Principal, generate_key
from ._rest import RestApi, RestConfig
from ._server import make_app, run_server
from ._session import Hub, MLinkSession, SessionConfig

__all__ = [
    "ApiKeys",
    "AuthError",
    "Hub",
    "MLinkSession",
    "Principal",
    "RestApi",
    "RestConfig",
    "SessionConfig",
    "generate_key",
    "make_app",
    "run_server",
]
