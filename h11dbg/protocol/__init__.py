"""h11dbg.protocol: a strict, explainable, sans-I/O HTTP/1.1 engine with h11's API.

Code written for h11 runs unchanged against it.  Beyond h11, every state
change can be observed as a :class:`Transition` (``Connection.add_observer``)
and every :class:`ProtocolError` carries ``rule``, ``section``,
``explanation``, ``offset`` and ``offending``.  See docs/protocol.md.

Standard library only; no I/O.
"""

from h11dbg import __version__

from ._connection import NEED_DATA, PAUSED, Connection, message_framing
from ._events import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    InformationalResponse,
    Request,
    Response,
)
from ._headers import Headers
from ._state import (
    CLIENT,
    CLOSED,
    DONE,
    ERROR,
    IDLE,
    MIGHT_SWITCH_PROTOCOL,
    MUST_CLOSE,
    RULES,
    SEND_BODY,
    SEND_RESPONSE,
    SERVER,
    SWITCHED_PROTOCOL,
    Edge,
    Rule,
    Transition,
    allowed_events,
    describe_state,
    state_machine,
)
from ._util import LocalProtocolError, ProtocolError, RemoteProtocolError

PRODUCT_ID = f"h11dbg/{__version__}"

__all__ = (
    "Connection",
    "message_framing",
    "NEED_DATA",
    "PAUSED",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "InformationalResponse",
    "Request",
    "Response",
    "Headers",
    "CLIENT",
    "CLOSED",
    "DONE",
    "ERROR",
    "IDLE",
    "MIGHT_SWITCH_PROTOCOL",
    "MUST_CLOSE",
    "SEND_BODY",
    "SEND_RESPONSE",
    "SERVER",
    "SWITCHED_PROTOCOL",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "PRODUCT_ID",
    "RULES",
    "Edge",
    "Rule",
    "Transition",
    "allowed_events",
    "describe_state",
    "state_machine",
    "__version__",
)
