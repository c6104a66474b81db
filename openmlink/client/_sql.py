"""The SQL endpoint (MySQL protocol) through PyMySQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import MLinkConnectionError, MLinkError

if TYPE_CHECKING:
    import pandas

__all__ = ["sql_frame", "sql_query"]


def sql_query(sql: str, *, host: str, key: str, user: str = "dev", port: int = 3306,
              database: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run one SQL statement on an openmlink/SRSE MySQL endpoint (log in with the key's
    ``userName`` and the API key as password) and return its rows as dicts.

    Raises ``MLinkError`` (``result`` = the MySQL error number) for an error the server reports
    and ``MLinkConnectionError`` when it cannot be reached."""
    try:
        import pymysql
    except ImportError as e:
        raise ImportError("the SQL helper needs PyMySQL: pip install PyMySQL") from e
    try:
        conn = pymysql.connect(host=host, port=port, user=user, password=key, database=database,
                               connect_timeout=timeout, read_timeout=timeout,
                               cursorclass=pymysql.cursors.DictCursor)
    except pymysql.err.OperationalError as e:
        code = e.args[0] if e.args else 0
        if code in (1044, 1045):  # access denied: the server answered
            raise MLinkError(str(code), str(e.args[1] if len(e.args) > 1 else e), "SQL") from e
        raise MLinkConnectionError(f"{host}:{port}: {e}") from e
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    except pymysql.err.MySQLError as e:
        code = e.args[0] if e.args else 0
        raise MLinkError(str(code), str(e.args[1] if len(e.args) > 1 else e), "SQL") from e
    finally:
        conn.close()


def sql_frame(sql: str, **kw: Any) -> pandas.DataFrame:
    """``sql_query`` as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(sql_query(sql, **kw))
