"""REST and WebSocket gateway: sessions, auth, entitlements."""

from ._auth import ApiKeys, AuthError, Principal, generate_key
from ._rest import RestApi, RestConfig
from ._server import make_app, run_server

__all__ = [
    "ApiKeys",
    "AuthError",
    "Principal",
    "RestApi",
    "RestConfig",
    "generate_key",
    "make_app",
    "run_server",
]
