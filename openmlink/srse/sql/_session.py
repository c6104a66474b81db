"""MySQL sessions of the SQL endpoint: log-in with a REST API key as password, statements
answered from the catalog (SHOW, DESCRIBE, information_schema) or the engine (SELECT)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlglot.errors
from mysql_mimic import AuthPlugin, IdentityProvider, NativePasswordAuthPlugin, Session, User
from mysql_mimic.auth import AuthInfo, AuthState, Forbidden, Success
from mysql_mimic.results import AllowedResult
from mysql_mimic.utils import nonce
from sqlglot import exp

from ._catalog import Login
from ._errors import SqlError, codes
from ._statement import READ_ONLY, is_write_text

if TYPE_CHECKING:
    from ._server import SqlServer

__all__ = ["ApiKeyIdentity", "SqlSession"]

log = logging.getLogger("openmlink.srse.sql")

#: the login of the connection being set up (set by the auth plugin, read by the session; a
#: connection's handshake and its session run in the same task, hence the same context)
_LOGIN: contextvars.ContextVar[Login | None] = contextvars.ContextVar("openmlink_sql_login",
                                                                     default=None)


class _ApiKeyPassword(NativePasswordAuthPlugin):
    """mysql_native_password where the password is one of the user's API keys."""

    def __init__(self, logins: Callable[[], Iterable[Login]]) -> None:
        self._logins = logins

    async def auth(self, auth_info: AuthInfo | None = None) -> AuthState:
        if auth_info and auth_info.handshake_plugin_name == self.name and auth_info.handshake_auth_data:
            salt = auth_info.handshake_auth_data.rstrip(b"\x00")
        else:
            salt = nonce(20)
            auth_info = yield salt + b"\x00"
        assert auth_info is not None
        user = auth_info.username
        for login in self._logins():
            if login.user_name == user and self.verify_scramble(
                    self.create_auth_string(login.key), auth_info.data, salt):
                _LOGIN.set(login)
                yield Success(user)
                return
        _LOGIN.set(None)
        yield Forbidden(f"Access denied for user '{user}': the password must be an API key "
                        "of that user name")


class ApiKeyIdentity(IdentityProvider):
    """Users are the user names of the API keys; every user logs in with an API key."""

    def __init__(self, logins: Callable[[], Iterable[Login]]) -> None:
        self._plugin = _ApiKeyPassword(logins)

    def get_plugins(self) -> list[AuthPlugin]:
        return [self._plugin]

    async def get_user(self, username: str) -> User | None:
        # every name gets the password check (unknown names fail it like a wrong key)
        return User(name=username, auth_plugin=self._plugin.name)


class SqlSession(Session):
    """One MySQL connection."""

    def __init__(self, server: SqlServer) -> None:
        super().__init__()
        self.server = server
        self.login: Login | None = None

    async def init(self, connection: Any) -> None:
        await super().init(connection)
        self.login = _LOGIN.get()

    async def reset(self) -> None:  # after COM_CHANGE_USER
        await super().reset()
        self.login = _LOGIN.get()

    def _who(self) -> Login:
        if self.login is None:
            raise SqlError("not logged in", codes.ACCESS_DENIED)
        return self.login

    async def use(self, database: str) -> None:
        if database.lower() not in self.server.catalog.databases(self._who()) | {"information_schema"}:
            raise SqlError(f"Unknown database '{database}'", codes.BAD_DB)
        self.database = database.lower()

    async def schema(self) -> dict[str, dict[str, dict[str, str]]]:
        return self.server.catalog.schema(self._who())

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> AllowedResult:
        self._who()
        if is_write_text(sql):  # also what sqlglot cannot parse, e.g. LOAD DATA
            raise SqlError(READ_ONLY, codes.READ_ONLY)
        try:
            return await super().handle_query(sql, attrs)
        except sqlglot.errors.ParseError as e:
            first = str(e).split("\n")[0]
            raise SqlError(f"You have an error in your SQL syntax: {first}", codes.PARSE) from None
        except sqlglot.errors.SqlglotError as e:
            raise SqlError(str(e).split("\n")[0], codes.NOT_SUPPORTED) from None

    async def query(self, expression: exp.Expression, sql: str, attrs: dict[str, str]) -> AllowedResult:
        return await self.server.execute(self._who(), self.database, expression, self._drain)

    async def _drain(self) -> None:
        """Flush the result written so far. A client that went away stops the result (the
        rest is never converted) and then the connection (``_server`` ends it quietly)."""
        try:
            await self.connection.stream.drain()
        except ConnectionError as e:
            raise SqlError(f"client {self.username} left mid-result ({e})", codes.UNKNOWN) from None
