"""Publish/subscribe of MLink records (in-process by default)."""

from ._bus import Bus, ColumnBatch, Event, Handler, InProcessBus, RecordingBus

__all__ = ["Bus", "ColumnBatch", "Event", "Handler", "InProcessBus", "RecordingBus"]
