"""REST and WebSocket gateway: sessions, auth, entitlements."""

from ._auth import ApiKeys, AuthError, KeyEntry, Principal, bearer_token, generate_key
from ._dashboard import add_dashboard
from ._http import HttpLimits, ProtocolRunner
from ._rest import RestApi, RestConfig
from ._server import log_task_failure, make_app, run_server, spawn
from ._session import Hub, MLinkSession, SessionConfig

__all__ = [
    "ApiKeys",
    "AuthError",
    "HttpLimits",
    "Hub",
    "KeyEntry",
    "MLinkSession",
    "Principal",
    "ProtocolRunner",
    "RestApi",
    "RestConfig",
    "SessionConfig",
    "add_dashboard",
    "bearer_token",
    "generate_key",
    "log_task_failure",
    "make_app",
    "run_server",
    "spawn",
]
