"""The SQL endpoint: a MySQL-protocol server (mysql-mimic) over the catalog and the engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mysql_mimic import MysqlServer
from mysql_mimic.control import LocalControl, TooManyConnections
from mysql_mimic.results import AllowedResult
from sqlglot import exp

from ...query import QueryError
from ...schema import Registry
from ...store import Store
from .._history import History
from ._catalog import Catalog, Login
from ._engine import Engine, EngineLimits
from ._errors import SqlError, codes
from ._results import result_set
from ._session import ApiKeyIdentity, SqlSession
from ._statement import plan

__all__ = ["SqlConfig", "SqlServer"]

log = logging.getLogger("openmlink.srse.sql")


class _ClientErrorsAtDebug(logging.Filter):
    """mysql-mimic logs every error it answers a client with (a typo in a query) at ERROR.

    Those are the client's errors, already sent back as MySQL error packets: they go to our
    logger at DEBUG.  Server faults (logged with a traceback) pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.exc_info is None and isinstance(record.msg, Exception):
            log.debug("sql: client error: %s", record.msg)
            return False
        return True


logging.getLogger("mysql_mimic.connection").addFilter(_ClientErrorsAtDebug())


@dataclass(frozen=True, slots=True)
class SqlConfig:
    host: str = "127.0.0.1"
    port: int = 3306  # 0: any free port
    max_connections: int = 256
    limits: EngineLimits = field(default_factory=EngineLimits)


class _Connections(LocalControl):
    """Bounded connection count; closes every connection when the server stops."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.open: dict[int, Any] = {}

    async def add(self, connection: Any) -> int:
        if len(self.open) >= self.limit:
            raise TooManyConnections()
        cid = await super().add(connection)
        self.open[cid] = connection
        return cid

    async def remove(self, connection_id: int) -> None:
        self.open.pop(connection_id, None)
        await super().remove(connection_id)


class _MysqlServer(MysqlServer):
    """mysql_mimic's server, its connections' tasks kept so ``stop`` can wait for them, and
    every socket closed however its connection ends (mysql_mimic leaves the socket open when
    it refuses a connection: too many, or its session could not be made)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.handlers: set[asyncio.Task[Any]] = set()

    async def _client_connected_cb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        try:
            await super()._client_connected_cb(reader, writer)
        except ConnectionError as e:  # the client went away while being answered
            log.info("sql: connection lost: %s", e)
        finally:
            writer.close()
            if task is not None:
                self.handlers.discard(task)


class SqlServer:
    """Serves SQL over the MySQL protocol; runs on the asyncio loop that mutates ``store``."""

    def __init__(self, reg: Registry, store: Store, logins: Callable[[], Iterable[Login]],
                 history: History | None = None, config: SqlConfig | None = None) -> None:
        self.config = config or SqlConfig()
        self.catalog = Catalog(reg, store, history)
        self.engine = Engine(self.config.limits)
        self._connections = _Connections(self.config.max_connections)
        self._mysql = _MysqlServer(session_factory=lambda: SqlSession(self),
                                  identity_provider=ApiKeyIdentity(logins),
                                  control=self._connections)
        self.port: int | None = None

    async def start(self) -> int:
        """Listen; returns the port."""
        await self._mysql.start_server(host=self.config.host, port=self.config.port)
        self.port = int(self._mysql.sockets()[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        self._mysql.close()
        for conn in list(self._connections.open.values()):
            conn.kill()
        if self._mysql.handlers:  # let the killed connections unwind and close their sockets
            await asyncio.wait(list(self._mysql.handlers), timeout=5.0)
        await self._mysql.wait_closed()
        self.engine.close()

    async def execute(self, who: Login, database: str | None, expression: exp.Expression,
                      drain: Callable[[], Awaitable[None]]) -> AllowedResult:
        """One parsed SELECT of a session: snapshot the tables it reads (here, on the loop
        thread), run it on the engine, stream the result."""
        p = plan(expression, database, lambda db, name: self.catalog.resolve(who, db, name))
        tables = {}
        for use in p.tables:
            try:
                tables[use.view] = self.catalog.snapshot(use.source, use.names, who)
            except QueryError as e:
                raise SqlError(f"{use.source.database}.{use.source.table}: {e}", codes.UNKNOWN) from None
        result = await self.engine.run(p.sql, tables)
        return result_set(result, drain)
