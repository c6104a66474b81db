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

__all__ = ["Bus", "ColumnBatch", "Event", "Failure", "Handler", "InProcessBus", "PublishFailed",
           "RecordingBus", "Supervisor", "Validator", "describe", "handler_name", "log_failure"]
