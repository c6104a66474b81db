"""Live tables: the latest record per pkey of every message type, stored by column."""

from ._catalog import Store
from ._table import Listener, StaleListener, Table, Vocab

__all__ = ["Listener", "StaleListener", "Store", "Table", "Vocab"]
