"""A Python client for MLink endpoints (openmlink or any other: it speaks only the protocol).

Synchronous REST (``MLinkClient``: ``get_msgs``, ``get_msg``, ``count``, ``aggregate``,
``schema``, ``post``; records or pandas DataFrames with flattened keys), asynchronous WebSocket
(``MLinkSocket``: ``stream()``/``subscribe()`` as async iterators with checkpoints,
``signal_ready()``, reconnect and resubscribe, json or jsonf framing) and the SQL endpoint
(``sql_query``/``sql_frame``, needs PyMySQL)::

    from openmlink.client import MLinkClient
    ml = MLinkClient("http://127.0.0.1:8080", KEY)
    df = ml.get_msgs_df("LiveImpliedQuote", where="ticker:eq:SPY-NMS-EQT", limit=1000)
"""

from ._errors import MLinkConnectionError, MLinkError
from ._framing import decode_frame, encode_message
from ._records import Record, flatten, to_frame
from ._rest import MLinkClient, Reply
from ._socket import MLinkSocket, StreamEvent, Subscription
from ._sql import sql_frame, sql_query
from ._urls import Endpoint

__all__ = ["Endpoint", "MLinkClient", "MLinkConnectionError", "MLinkError", "MLinkSocket",
           "Record", "Reply", "StreamEvent", "Subscription", "decode_frame", "encode_message",
           "flatten", "sql_frame", "sql_query", "to_frame"]
