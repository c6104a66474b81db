"""The SQL endpoint (SRSE role): the MySQL client/server protocol over the live tables and the
history, one database per SRSE product and one table per message type (see ``_layout``)."""

from ._catalog import Catalog, Login, Source
from ._engine import EngineLimits
from ._layout import (
    DEFAULT_DATABASE,
    HISTORY_SUFFIX,
    SqlColumn,
    columns_of,
    database_of,
    table_name_of,
)
from ._server import SqlConfig, SqlServer

__all__ = [
    "DEFAULT_DATABASE",
    "HISTORY_SUFFIX",
    "Catalog",
    "EngineLimits",
    "Login",
    "Source",
    "SqlColumn",
    "SqlConfig",
    "SqlServer",
    "columns_of",
    "database_of",
    "table_name_of",
]
