"""What an event, an error and a state transition say: the one source of their words.

Plain text (:mod:`h11dbg.output.text`), JSON Lines (:mod:`h11dbg.output.jsonl`) and the REPL's rich
renderables (:mod:`h11dbg.output.rich`) all take their wording from here, so a Response reads the
same whether it was sent live, parsed live or replayed from a capture, and a change of wording is
made once.

Rules of the house: works on any engine with h11's API (attribute access only; the explain
details only h11dbg.protocol has are read with ``getattr``); bytes are shown only through
:func:`h11dbg.transcript.escaping.escape`; a start line reads in wire order (``HTTP/1.1 200 OK``).
What repeats message after message (header fields, transitions) is remembered, in bounded caches,
because replay renders millions of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from h11dbg.transcript.escaping import escape, excerpt
from h11dbg.transcript.model import Direction, Role, sender

if TYPE_CHECKING:
    from collections.abc import Iterable

    from h11dbg.engines import Headers
    from h11dbg.protocol import Transition
    from h11dbg.session.hints import Suggestion
    from h11dbg.session.log import PeerClose
    from h11dbg.transport.tls import TLSInfo

# An event is typed Any here: it is either engine's (their classes differ), and what is read of it
# depends on its class name.

#: How many bytes of a body or of raw bytes a one-line preview shows (live and replay alike).
PREVIEW_BYTES = 64

#: Events whose text has a head: a start line and header fields, or trailers.
WITH_HEADERS = frozenset({"Request", "Response", "InformationalResponse", "EndOfMessage"})
#: Events that are a message head (a start line and header fields).
HEADS = frozenset({"Request", "Response", "InformationalResponse"})

# How many rendered header fields (and transitions) are remembered: the fields that repeat (user
# agents, content types) stay, one-off values (cookies, lengths) make the cache start over now and
# then; small, so that a replay's memory does not grow with the file.
REMEMBERED = 2048


def preview(data: bytes | bytearray | memoryview) -> str:
    """The first :data:`PREVIEW_BYTES` bytes, escaped, and ``...`` when there is more."""
    if type(data) is not bytes:
        data = bytes(data)
    return escape(data[:PREVIEW_BYTES]) + "..." if len(data) > PREVIEW_BYTES else escape(data)


def role_name(role: object) -> str:
    """``CLIENT`` (an engine sentinel) -> ``client``: the spelling of roles in every output."""
    return str(role).lower()


def sent_or_received(direction: Direction | None, actor: Role | None) -> str:
    """Whether ``actor``'s machine sent the bytes going ``direction`` or received them."""
    return "sent" if direction is not None and actor == sender(direction) else "received"


def raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    """Header fields in wire order and case (``raw_items()``, which h11 and h11dbg both offer)."""
    return list(headers.raw_items() if hasattr(headers, "raw_items") else headers)


def head_summary(event: Any, kind: str, fields: int = 0) -> str:
    """A message head in one line: ``Request GET / HTTP/1.1``, ``Response HTTP/1.1 200 OK``,
    ``EndOfMessage with 2 trailer(s)``; ``fields`` is how many header fields (trailers) it has."""
    if kind == "Request":
        return (f"Request {escape(bytes(event.method))} {escape(bytes(event.target))} "
                f"HTTP/{escape(bytes(event.http_version))}")
    if kind in ("Response", "InformationalResponse"):
        return (f"{kind} HTTP/{escape(bytes(event.http_version))} {int(event.status_code)} "
                f"{escape(bytes(event.reason))}").rstrip()
    if kind == "EndOfMessage" and fields:
        return f"EndOfMessage with {fields} trailer(s)"
    return kind


def hex_rows(data: bytes, width: int = 16) -> list[tuple[str, str, str]]:
    """The classic hex dump, one row per ``width`` bytes: offset, hex bytes (padded), printable ASCII."""
    rows = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        hex_part = " ".join(f"{b:02x}" for b in chunk)
        rows.append((f"{start:08x}", f"{hex_part:<{width * 3 - 1}}",
                     "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)))
    return rows


def hexdump_said(on: bool) -> str:
    """What ``hex`` answers."""
    return f"hex dumps {'on' if on else 'off'}"


def data_summary(data: bytes | bytearray | memoryview) -> str:
    """A Data event in one line: ``Data 5 bytes: hello``."""
    return f"Data {len(data)} bytes: {preview(data)}"


def event_summary(event: Any) -> str:
    """Any event in one line (a Data event with a preview of its payload)."""
    kind = type(event).__name__
    if kind == "Data":
        return data_summary(event.data)
    return head_summary(event, kind, len(event.headers) if kind in WITH_HEADERS else 0)


def message_label(event: Any) -> str:
    """A message in a few words, for the ladder: ``GET /chunked``, ``200 OK``, ``Data 9 B``."""
    kind = type(event).__name__
    if kind == "Request":
        return f"{escape(bytes(event.method))} {escape(bytes(event.target))}"
    if kind in ("Response", "InformationalResponse"):
        return f"{int(event.status_code)} {escape(bytes(event.reason))}".rstrip()
    if kind == "Data":
        return f"Data {len(event.data)} B"
    if kind == "EndOfMessage":
        return "EndOfMessage + trailers" if len(event.headers) else "EndOfMessage"
    if kind == "ConnectionClosed":
        return "close"
    return kind


_NOTED_STATUSES = frozenset({100, 101, 204, 304})
_NOTED_FIELDS = frozenset({b"connection", b"expect", b"upgrade"})


def inline_notes(event: Any, kind: str, items: list[tuple[bytes, bytes]]) -> list[str]:
    """What the reference says under a head that changes framing or the connection's future (a 1xx, a
    204 or 304, Connection: close, Expect: 100-continue, Upgrade); ``items`` are its header fields."""
    status = int(event.status_code) if kind in ("Response", "InformationalResponse") else 0
    names = [name.lower() for name, _ in items if name.lower() in _NOTED_FIELDS]
    if status not in _NOTED_STATUSES and not names:
        return []  # the common case, decided without the reference (a replay's start-up never loads it)
    from h11dbg.output.reference import INLINE_FIELDS, INLINE_REQUEST_ONLY, INLINE_STATUSES

    notes = [INLINE_STATUSES[status]] if status in INLINE_STATUSES else []
    for name, value in items:
        name = name.lower()
        wanted, text = INLINE_FIELDS.get(name, (b"", ""))
        if name in INLINE_REQUEST_ONLY and kind != "Request":
            continue
        if text and text not in notes and (wanted is None or wanted in value.lower()):
            notes.append(text)
    return notes


_HEADER_TEXT: dict[tuple[bytes, bytes], str] = {}


def header_text(name: bytes, value: bytes) -> str:
    """``Name: value``, escaped."""
    key = (name, value)
    try:
        text = _HEADER_TEXT.get(key)
    except TypeError:  # an engine that gives bytearrays: nothing to remember
        return f"{escape(bytes(name))}: {escape(bytes(value))}"
    if text is None:
        text = f"{escape(name)}: {escape(value)}"
        if len(value) <= 256:
            if len(_HEADER_TEXT) >= REMEMBERED:
                _HEADER_TEXT.clear()
            _HEADER_TEXT[key] = text
    return text


# -- transitions (h11dbg.protocol's Transition records; h11 has none) ---------------------------

# in the order of h11dbg.protocol.Transition's fields (a NamedTuple), so that a slice is its key
TRANSITION_FIELDS = ("role", "old_state", "new_state", "cause", "rule", "explanation", "section")
_TRANSITION_DICTS: dict[tuple[object, ...], dict[str, str]] = {}
_TRANSITION_TEXT: dict[tuple[object, ...], str] = {}


def transition_key(transition: Transition) -> tuple[object, ...]:
    if isinstance(transition, tuple):  # h11dbg.protocol.Transition: its leading fields, sliced in C
        return transition[:7]
    return tuple(getattr(transition, name, None) for name in TRANSITION_FIELDS)


def transition_fields(transition: Transition) -> dict[str, str]:
    """A transition as JSON-ready fields: the role as ``client``/``server``, absent fields left out."""
    key = transition_key(transition)
    fields = _TRANSITION_DICTS.get(key)
    if fields is None:
        fields = {name: str(value) for name, value in zip(TRANSITION_FIELDS, key, strict=True) if value is not None}
        fields["role"] = role_name(transition.role)
        if len(_TRANSITION_DICTS) < REMEMBERED:  # a few dozen distinct ones in practice; bounded regardless
            _TRANSITION_DICTS[key] = fields
    return dict(fields)  # each record owns its dict


def transition_summary(transition: Transition) -> str:
    """``client: IDLE -> SEND_BODY (request-sent) the client sent a request head ... [RFC 9112 §3]``."""
    key = transition_key(transition)
    text = _TRANSITION_TEXT.get(key)
    if text is None:
        role, old, new, cause, rule, explanation, section = key
        text = f"{role_name(role)}: {old} -> {new}"
        if rule or cause:
            text += f" ({rule or cause})"
        if explanation:
            text += f" {explanation}"
        if section:
            text += f" [{section}]"
        if len(_TRANSITION_TEXT) < REMEMBERED:
            _TRANSITION_TEXT[key] = text
    return text


# -- errors ---------------------------------------------------------------------------------------

def error_summary(error: BaseException) -> str:
    """``RemoteProtocolError: both Content-Length and Transfer-Encoding``."""
    return f"{type(error).__name__}: {error}"


def error_where(offset: int | None, exact: bool = True) -> str | None:
    """Where in its direction's byte stream an error is; an engine that does not say (h11) gets how
    far parsing had got instead."""
    if offset is None:
        return None
    return f"at byte {offset}" if exact else f"parsing stopped at byte {offset}"


def error_details(error: BaseException) -> list[tuple[str, str]]:
    """What h11dbg's errors explain: rule, RFC section, explanation, the offending bytes (escaped)."""
    details = [(name, str(value)) for name in ("rule", "section", "explanation")
               if (value := getattr(error, name, None))]
    offending = getattr(error, "offending", None)
    if offending:
        details.append(("offending bytes", excerpt(bytes(offending))))
    return details


def states_summary(states: dict[str, str], before: dict[str, str] | None = None) -> str:
    """``client IDLE -> SEND_BODY, server SEND_RESPONSE``: both roles, each change with its old state."""
    parts = []
    for role in ("client", "server"):
        after = states.get(role)
        if after is None:
            continue
        old = None if before is None else before.get(role)
        parts.append(f"{role} {old} -> {after}" if old and old != after else f"{role} {after}")
    return ", ".join(parts)


# -- diff A B: two recordings compared exchange by exchange -----------------------------------------

#: How the two recordings are named in every output of ``diff A B``.
SIDES = ("A", "B")


def framing_text(framing: list[Any] | tuple[Any, ...]) -> str:
    """How a message's body is delimited, as the engine read its head: ``chunked``, ``Content-Length 5``,
    ``no body``, ``until the close``."""
    kind, length = framing
    if kind == "chunked":
        return "chunked"
    if kind == "content-length":
        return f"Content-Length {length}" if length else "no body"
    return "until the close (no Content-Length, not chunked)"


def exchange_summary(start_lines: list[str]) -> str:
    """An exchange in one line: ``GET / HTTP/1.1 -> HTTP/1.1 200 OK`` (its escaped start lines)."""
    return " -> ".join(start_lines) if start_lines else "(no message parsed)"


def _values(values: list[str] | None) -> str:
    return "(absent)" if values is None else ", ".join(values)


def _ab(a: str, b: str) -> str:
    return f"A {a} | B {b}"


def change_summary(change: Any) -> str:
    """One difference between two exchanges in one line (a :class:`h11dbg.replay.compare.Change`)."""
    what, a, b = change.what, change.a, change.b
    where = f"{change.message}: " if change.message else ""
    if what == "exchange":
        side, present = ("A", a) if change.change == "removed" else ("B", b)
        # what the exchange came to (the start lines are said with the exchange)
        ended = "; ".join([_error_text(error) for error in present["errors"]] + present["endings"])
        return f"only in {side} ({'B' if side == 'A' else 'A'} has fewer exchanges)" + (f": {ended}" if ended else "")
    if what == "message":
        side = "A" if change.change == "removed" else "B"
        return f"{where}only in {side}: {a if side == 'A' else b}"
    if what == "start-line":
        return f"{where}start line differs: {_ab(a, b)}"
    if what in ("header", "trailer"):
        if change.change == "added":
            return f"{where}{what} {change.name} added (only in B): {_values(b)}"
        if change.change == "removed":
            return f"{where}{what} {change.name} removed (only in A): {_values(a)}"
        return f"{where}{what} {change.name} changed: {_ab(_values(a), _values(b))}"
    if what.endswith("-case"):
        return f"{where}{what[:-5]} name differs only in case: {_ab(a, b)}"
    if what.endswith("-order"):
        return f"{where}{what[:-6]} order differs: {_ab(', '.join(a), ', '.join(b))}"
    if what == "framing":
        return f"{where}framing differs: {_ab(framing_text(a), framing_text(b))}"
    if what == "body":
        text = f"{where}body differs: {_ab(f'{a} bytes', f'{b} bytes')}"
        if change.offset is not None:
            return text + f", first difference at byte {change.offset}"
        from h11dbg.replay.exchanges import BODY_KEPT

        return text + f", past the first {BODY_KEPT} bytes (compared by hash there)"
    if what == "complete":
        return f"{where}ended differently: {_ab('complete' if a else 'incomplete', 'complete' if b else 'incomplete')}"
    if what == "error":
        return f"error differs: {_ab(_error_text(a), _error_text(b))}"
    if what == "states":
        return f"states at the end differ: {_ab(states_summary(a), states_summary(b))}"
    if what == "ending":
        return f"ending differs: {_ab('; '.join(a) or 'normal', '; '.join(b) or 'normal')}"
    return f"{where}{what} differs"


def _error_text(fields: dict[str, Any] | None) -> str:
    if fields is None:
        return "no error"
    where = error_where(fields["offset"])
    return f"{fields['error']}: {fields['message']} ({fields['direction']}{', ' + where if where else ''})"


def suggestion_text(suggestion: Suggestion) -> str:
    """A hint: ``cycle`` and its reason, as one phrase ("`cycle` starts the next request/response")."""
    return f"`{suggestion.command}` {suggestion.reason}"


def noted(text: str, suggestions: Iterable[Suggestion]) -> str:
    """A note and the hints it ends in: ``PAUSED: ...; `response 200` answers the request``."""
    said = " or ".join(suggestion_text(s) for s in suggestions)
    return f"{text}; {said}" if said else text


# -- TLS ------------------------------------------------------------------------------------------

def tls_details(info: TLSInfo) -> list[tuple[str, str]]:
    """A certificate as ``curl -v`` shows it (subject, issuer, validity, names), its fingerprint, whether
    it was verified, and the PEM file a client can trust; the negotiated terms are the note's text."""
    details: list[tuple[str, str]] = []
    cert = info.certificate
    if cert is not None:
        details += [("subject", cert.subject), ("issuer", cert.issuer),
                    ("valid", f"{cert.not_before} to {cert.not_after}"),
                    ("subject alt names", ", ".join(cert.san) or "(none)"),
                    ("SHA-256 fingerprint", cert.sha256)]
    if info.verified is not None:
        details.append(("verified", "yes" if info.verified else "no (--insecure)"))
    if info.pem:
        details.append(("PEM file", info.pem))
    return details


def tls_fields(info: TLSInfo) -> dict[str, Any]:
    """The same as JSON: the negotiated terms and the certificate, fields without a value left out."""
    import dataclasses

    fields = {name: value for name, value in dataclasses.asdict(info).items() if value is not None}
    if not info.throwaway:
        del fields["throwaway"]
    if info.certificate is not None:
        fields["certificate"]["san"] = list(info.certificate.san)
    return fields
# -- an exchange's times ---------------------------------------------------------------------------

class Times(Protocol):
    """An exchange's times in ``curl -w``'s sense (h11dbg.session.log.Timing, or a replay's): seconds
    from the start, each including the ones before; None where a phase did not happen."""

    @property
    def dns(self) -> float | None: ...
    @property
    def connect(self) -> float | None: ...
    @property
    def tls(self) -> float | None: ...
    @property
    def first_byte(self) -> float: ...
    @property
    def total(self) -> float: ...


#: The phases in curl's order, under the names of the JSON ``timing`` object, and curl's ``-w`` names.
TIMING_PHASES = (
    ("dns", "time_namelookup"),
    ("connect", "time_connect"),
    ("tls", "time_appconnect"),
    ("first_byte", "time_starttransfer"),
    ("total", "time_total"),
)


def timing_fields(times: Times) -> dict[str, float | None]:
    """The JSON ``timing`` object: ``{"dns", "connect", "tls", "first_byte", "total"}``."""
    return {name: getattr(times, name) for name, _ in TIMING_PHASES}


def timing_summary(times: Times) -> str:
    """``timing: dns 0.000021 s, connect 0.000233 s, tls -, first byte 0.002051 s, total 0.002160 s
    (transfer 0.000109 s)``; a reused connection has no set-up to time."""
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.6f} s"

    fresh = times.connect is not None
    head = "timing" if fresh else "timing (connection reused: from the request)"
    phases = ", ".join(f"{name.replace('_', ' ')} {seconds(getattr(times, name))}" for name, _ in TIMING_PHASES
                       if fresh or getattr(times, name) is not None)
    return f"{head}: {phases} (transfer {seconds(times.total - times.first_byte)})"


# -- the peer closing the connection -----------------------------------------------------------------

_RETRY = ("clients retry an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) on a new connection "
          "by themselves, any other only when they know the server did not act on it")


def peer_close_summary(close: PeerClose) -> str:
    """``the server closed the idle connection after 5.0 s``."""
    verb = "reset" if close.reset else "closed"
    if close.situation == "idle":
        return f"the {close.peer} {verb} the idle connection after {close.idle:.1f} s"
    if close.situation == "announced":
        return f"the {close.peer} {verb} the connection, as its last message announced (keep-alive was off)"
    return f"the {close.peer} {verb} the connection without answering {close.request or 'the request'}"


def peer_close_section(close: PeerClose) -> str:
    """The RFC section that says what to make of the close."""
    if close.peer == "server" and (close.situation == "unanswered" or close.reused):
        return "RFC 9112 §9.3.1"
    return "RFC 9112 §9.6"


def peer_close_explanation(close: PeerClose) -> list[str]:
    """Why it happened, whether anything was lost, and what to do next: a few sentences."""
    lines: list[str] = []
    if close.situation == "idle" and close.peer == "server":
        lines.append("A server may close a persistent connection it finds idle at any time; this is most "
                     "likely its keep-alive timeout (RFC 9112 §9.5). Nothing was lost.")
        lines.append(f"A request written at that moment would meet the closed connection (the keep-alive "
                     f"race): {_RETRY} (RFC 9112 §9.3.1).")
    elif close.situation == "idle":
        lines.append("A client closes a persistent connection when it has no more requests; nothing was lost "
                     "(RFC 9112 §9.6). `accept` waits for the next client.")
    elif close.situation == "announced":
        lines.append("Nothing was lost: the connection was not to be reused (RFC 9112 §9.6).")
    else:
        if close.reused:
            lines.append(f"The request went out after the connection had been idle {close.idle:.1f} s: the "
                         "server's keep-alive timeout most likely closed it as the request was on its way, the "
                         "keep-alive race, not a protocol error (RFC 9112 §9.3.1).")
        else:
            lines.append("The server took the connection and closed it without a response: it gave up on the "
                         "request, or failed (RFC 9112 §9.5).")
        method = (close.request or "").split(" ", 1)[0] or "the request"
        if close.idempotent:
            lines.append(f"{method} is idempotent: {_RETRY} (RFC 9112 §9.3.1).")
        else:
            lines.append(f"{method} is not idempotent: retry it only if you know the server did not act on it "
                         "(RFC 9112 §9.3.1).")
    if close.reconnect:
        lines.append("`reconnect` opens a new connection to the same server" +
                     (", then send the request again." if close.situation == "unanswered" else "."))
    return lines
