"""MySQL errors of the SQL endpoint: code numbers and SQLSTATEs as MySQL uses them, so that
client libraries raise their usual exception classes (ProgrammingError for 1064, 1146...)."""

from __future__ import annotations

from types import SimpleNamespace

from mysql_mimic.errors import SQLSTATES, MysqlError

__all__ = ["SqlError", "codes"]

codes = SimpleNamespace(
    ACCESS_DENIED=1045,
    NO_DB=1046,
    BAD_DB=1049,
    BAD_FIELD=1054,
    PARSE=1064,
    UNKNOWN=1105,
    NO_SUCH_TABLE=1146,
    NOT_SUPPORTED=1235,
    READ_ONLY=1290,
    TIMEOUT=3024,
    ROW_CAP=1105,
)

_STATES = {1046: b"3D000", 1049: b"42000", 1054: b"42S22", 1064: b"42000", 1146: b"42S02",
           1235: b"42000", 1290: b"HY000", 3024: b"HY000"}
for _code, _state in _STATES.items():  # the library knows a few codes only
    SQLSTATES.setdefault(_code, _state)  # type: ignore[call-overload]


class SqlError(MysqlError):
    """A statement refused or failed: answered with a MySQL error packet (``code``, ``msg``)."""

    def __init__(self, msg: str, code: int) -> None:
        super().__init__(msg, code)  # type: ignore[arg-type]
