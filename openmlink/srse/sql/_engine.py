"""The SQL engine: DuckDB over the Arrow views of a query, in a bounded pool of worker threads,
with a row cap and a time cap. DuckDB is locked down: no file, network or extension access,
and its configuration cannot be changed by a query."""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from ._errors import SqlError, codes

__all__ = ["Engine", "EngineLimits"]

log = logging.getLogger("openmlink.srse.sql")

_BATCH_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class EngineLimits:
    row_cap: int = 1_000_000  # a result of more rows is refused
    time_cap_s: float = 30.0  # a query running longer is stopped
    workers: int = 4  # queries executing at once (more wait their turn)
    threads: int = 2  # DuckDB threads per query
    memory_limit: str = "4GB"  # DuckDB's working memory


class Engine:
    """Runs rewritten queries (``_statement.Plan``) over registered Arrow tables."""

    def __init__(self, limits: EngineLimits | None = None) -> None:
        self.limits = limits or EngineLimits()
        self._db = duckdb.connect(":memory:", config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": self.limits.threads,
            "memory_limit": self.limits.memory_limit,
        })
        self._db.execute("SET lock_configuration = true")
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="openmlink-sql")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._db.close()

    async def run(self, sql: str, tables: dict[str, pa.Table]) -> pa.Table:
        """The result of ``sql`` (at most ``row_cap`` rows), or ``SqlError``."""
        cur = self._db.cursor()  # closed by the worker (or here if it never starts)
        job = self._pool.submit(self._execute, cur, sql, tables)
        fut = asyncio.wrap_future(job)
        cap = self.limits.time_cap_s
        try:
            return await asyncio.wait_for(asyncio.shield(fut), cap)
        except TimeoutError:
            if job.cancel():  # still waiting for a worker
                cur.close()
            else:
                await self._stop(cur, fut)
            raise SqlError(f"Query execution was interrupted: it ran longer than the time cap "
                           f"of {cap:g} s; narrow it with WHERE or LIMIT", codes.TIMEOUT) from None
        except asyncio.CancelledError:  # the connection went away: stop the query too
            if job.cancel():
                cur.close()
            else:
                self._interrupt(cur)
            raise

    @staticmethod
    def _interrupt(cur: duckdb.DuckDBPyConnection) -> None:
        try:
            cur.interrupt()
        except duckdb.Error as e:  # e.g. between two calls of the worker: tried again
            log.info("sql: interrupt not taken yet (%s)", e)

    async def _stop(self, cur: duckdb.DuckDBPyConnection, fut: asyncio.Future[pa.Table]) -> None:
        """Interrupt a running query until its worker returns."""
        while not fut.done():
            self._interrupt(cur)
            await asyncio.wait([fut], timeout=0.05)
        exc = fut.exception()
        if exc is not None:
            log.info("sql: query stopped at the time cap (%s)", exc)

    def _execute(self, cur: duckdb.DuckDBPyConnection, sql: str, tables: dict[str, pa.Table]) -> pa.Table:
        cap = self.limits.row_cap
        reader = None
        try:
            for name, t in tables.items():
                cur.register(name, t)
            reader = cur.sql(sql).to_arrow_reader(_BATCH_ROWS)  # streams: the cap stops it early
            batches: list[pa.RecordBatch] = []
            n = 0
            for b in reader:
                n += b.num_rows
                if n > cap:
                    raise SqlError(f"the result has more than {cap} rows (the row cap); narrow "
                                   "the query with WHERE or LIMIT", codes.ROW_CAP)
                batches.append(b)
            return pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.Error as e:
            raise _mysql_error(e) from None
        finally:
            if reader is not None:
                reader.close()
            del reader
            cur.close()


_VIEW = re.compile(r"__v\d+_")


def _mysql_error(e: duckdb.Error) -> SqlError:
    """DuckDB's error as the MySQL error a client expects (view names back to table names)."""
    text = _VIEW.sub("", str(e)).strip()
    first = re.sub(r"^[A-Za-z ]+ Error: ", "", text.split("\n")[0])
    if isinstance(e, duckdb.ParserException):
        return SqlError(f"You have an error in your SQL syntax: {first}", codes.PARSE)
    if isinstance(e, duckdb.InterruptException):
        return SqlError("Query execution was interrupted", codes.TIMEOUT)
    if isinstance(e, duckdb.BinderException) and ("not found" in text or "does not have a column" in text):
        return SqlError(f"Unknown column: {first}", codes.BAD_FIELD)
    if isinstance(e, duckdb.CatalogException):
        return SqlError(first, codes.NO_SUCH_TABLE if "Table" in first else codes.UNKNOWN)
    return SqlError(first, codes.UNKNOWN)


