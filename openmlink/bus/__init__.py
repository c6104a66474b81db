"""Publish/subscribe of MLink records (in-process by default)."""

from ._bus import (
    Bus,
    ColumnBatch,
    Event,
    Failure,
    Handler,
    InProcessBus,
    PublishFailed,
    RecordingBus,
    Supervisor,
    Validator,
    describe,
    handler_name,
    log_failure,
)
from ._jlog import Fenced, JournalLog, StreamJournal
from ._leases import PartitionLeases
from ._nats import (
    POST_TIMEOUT_S,
    VALID_TTL_S,
    NatsBus,
    NatsStats,
    NotDurable,
    split_by_ticker,
    split_rows,
    subject_token,
    ticker_column,
)
from ._parts import PARTITIONS, Partitions, parse_partition, partition_of
from ._wire import decode_message, decode_messages, encode_message

__all__ = ["PARTITIONS", "POST_TIMEOUT_S", "VALID_TTL_S", "Bus", "ColumnBatch", "Event", "Failure",
           "Fenced", "Handler", "InProcessBus", "JournalLog", "NatsBus", "NatsStats", "NotDurable",
           "PartitionLeases", "Partitions", "PublishFailed", "RecordingBus", "StreamJournal",
           "Supervisor", "Validator", "decode_message", "decode_messages", "describe",
           "encode_message", "handler_name", "log_failure", "parse_partition", "partition_of",
           "split_by_ticker", "split_rows", "subject_token", "ticker_column"]
