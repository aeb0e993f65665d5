"""The reference behind ``h11dbg explain``: headers, status codes, states and rules, in our own words.

What HTTP/1.1 framing and connection management depend on, each with what it does to them and the RFC
section.  States and rules read their facts from the engine itself (:func:`h11dbg.protocol.describe_state`,
:func:`~h11dbg.protocol.state_machine`, :data:`~h11dbg.protocol.RULES`); every rule comes with a loopback
script that makes the engine report it, which ``explain rule`` runs to show what the engine says, and
which tests/cli/test_explain_reference.py runs for every rule the engine can report.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from h11dbg.output.describe import error_details, error_summary, transition_summary
from h11dbg.protocol import CLIENT, RULES, SERVER, allowed_events, describe_state, state_machine
from h11dbg.transcript.escaping import quote

if TYPE_CHECKING:
    from h11dbg.session.log import LogEntry

KINDS = ("header", "status", "state", "rule")
STATES = ("IDLE", "SEND_RESPONSE", "SEND_BODY", "DONE", "MUST_CLOSE", "CLOSED", "MIGHT_SWITCH_PROTOCOL",
          "SWITCHED_PROTOCOL", "ERROR")


class Topic(NamedTuple):
    name: str
    meaning: str  # what it is, a sentence or two
    effect: str  # what it does to framing and connection management
    section: str


def _topics(*topics: Topic) -> dict[str, Topic]:
    return {topic.name.lower(): topic for topic in topics}


HEADERS = _topics(
    Topic("Content-Length", "The size of the message body in bytes, as one decimal number.",
          "Frames the body: the recipient reads exactly that many bytes, then the message is complete and the "
          "connection can carry the next one. Two different values, or one beside Transfer-Encoding, are "
          "refused (two parsers could split the stream differently: request smuggling).", "RFC 9112 §6.2"),
    Topic("Transfer-Encoding", "The codings applied to the body in transit; in HTTP/1.1 in practice `chunked`.",
          "Frames the body as chunks, each with its size in hex, ended by a zero-size chunk and optional "
          "trailers: the sender need not know the length in advance. It wins over Content-Length, and a "
          "message with both is refused. HTTP/1.0 has no chunked coding.", "RFC 9112 §6.1, §7.1"),
    Topic("Connection", "Options for this connection only (hop by hop), and the names of other hop-by-hop "
          "fields. `close` and `keep-alive` are the values that matter here.",
          "`Connection: close` says the sender will close after this message: no further request may use the "
          "connection, so both sides end in MUST_CLOSE, then CLOSED. Without it an HTTP/1.1 connection "
          "persists (keep-alive) and start_next_cycle() reuses it.", "RFC 9112 §9.3, §9.6"),
    Topic("Keep-Alive", "An HTTP/1.0-era field with hints such as `timeout=5, max=100` for a persistent "
          "connection.",
          "Only a hint: whether the connection persists is decided by the version and `Connection`. A server's "
          "timeout is when it may close an idle connection: a request sent just then meets a closed "
          "connection (retry it if it is idempotent).", "RFC 9112 §9.3, §9.3.1"),
    Topic("Host", "The host (and port) the request is for; the authority of the target URI.",
          "Required in every HTTP/1.1 request, exactly once; a request without it, with two, or with an "
          "invalid one is refused with 400.", "RFC 9112 §3.2"),
    Topic("Expect", "`100-continue`: the client asks whether it should send the body before sending it.",
          "The server answers with a 100 Continue interim response (or a final one that refuses the body); "
          "the client may send the body after the 100 or after a while without an answer.", "RFC 9110 §10.1.1"),
    Topic("Upgrade", "The protocols the client would like to switch to on this connection (websocket, h2c).",
          "With `Connection: Upgrade` it proposes a switch: the client waits in MIGHT_SWITCH_PROTOCOL; a 101 "
          "Switching Protocols answer moves both sides to SWITCHED_PROTOCOL and the bytes that follow are not "
          "HTTP/1.1. Any other final response declines.", "RFC 9110 §7.8"),
    Topic("TE", "The transfer codings the client accepts in a response, and `trailers`.",
          "`TE: trailers` says the client will read trailer fields after a chunked body. Hop by hop: it must "
          "be listed in Connection.", "RFC 9110 §10.1.4"),
    Topic("Trailer", "The names of the fields the sender will put in the trailer section after a chunked body.",
          "Trailers exist only with chunked framing: they follow the last (zero-size) chunk. A message framed "
          "by Content-Length cannot carry them.", "RFC 9110 §6.6.2, RFC 9112 §7.1.2"),
    Topic("Content-Type", "The media type of the body (`text/html; charset=utf-8`, `application/json`).",
          "None on framing: the body's length comes from Content-Length, chunked, or the close.",
          "RFC 9110 §8.3"),
    Topic("Date", "When the message was made, in the IMF-fixdate format.",
          "None on framing; it differs on every response, which is why `diff` ignores it by default.",
          "RFC 9110 §6.6.1"),
    Topic("Proxy-Connection", "A field some old clients send instead of Connection when talking to a proxy.",
          "Not standard: h11dbg treats it as an ordinary field; only Connection decides keep-alive.",
          "RFC 9112 §9.3 (Connection)"),
)

STATUSES: dict[int, Topic] = {
    int(topic.name.split(" ")[0]): topic
    for topic in (
        Topic("100 Continue", "An interim answer: the server has the request head and the client may send the body.",
              "1xx responses come before the final one on the same request: the server stays in SEND_RESPONSE "
              "and the client keeps waiting for the final response.", "RFC 9110 §15.2.1"),
        Topic("101 Switching Protocols", "The server accepts the client's Upgrade proposal.",
              "The HTTP/1.1 exchange ends with this response's head: both sides move to SWITCHED_PROTOCOL and "
              "the bytes that follow belong to the new protocol.", "RFC 9110 §15.2.2"),
        Topic("103 Early Hints", "An interim response with headers the final response will probably carry.",
              "Like every 1xx: no body, the final response still to come.", "RFC 8297"),
        Topic("200 OK", "The request succeeded.",
              "An ordinary final response: its body is framed by Content-Length, chunked, or (HTTP/1.0 or no "
              "framing) by the close. To CONNECT, a 2xx turns the connection into a tunnel.", "RFC 9110 §15.3.1"),
        Topic("204 No Content", "Success, with no body.",
              "Never has a body, whatever Content-Length says: the message ends with its head.", "RFC 9110 §15.3.5"),
        Topic("206 Partial Content", "The body is the requested range of the resource.",
              "Framed like any body; Content-Range says which part.", "RFC 9110 §15.3.7"),
        Topic("304 Not Modified", "The client's cached copy is still good (a conditional request matched).",
              "Never has a body: the message ends with its head, even if Content-Length names the cached size.",
              "RFC 9110 §15.4.5"),
        Topic("400 Bad Request", "The server could not read the request: malformed syntax, framing it refuses.",
              "What a strict server answers to a request its parser refused; after a framing error it cannot "
              "know where the next request starts, so it closes.", "RFC 9110 §15.5.1"),
        Topic("408 Request Timeout", "The server gave up waiting for a complete request.",
              "Sent on an idle or slow connection just before the server closes it.", "RFC 9110 §15.5.9"),
        Topic("411 Length Required", "The server refuses a request body without Content-Length.",
              "Some servers do not read chunked request bodies.", "RFC 9110 §15.5.12"),
        Topic("413 Content Too Large", "The request body is larger than the server accepts.",
              "The server may close rather than read the rest of the body.", "RFC 9110 §15.5.14"),
        Topic("414 URI Too Long", "The request-target is longer than the server accepts.",
              "A limit on the start line, like h11's max_incomplete_event_size.", "RFC 9110 §15.5.15"),
        Topic("417 Expectation Failed", "The server cannot meet the request's Expect field.",
              "The answer to an `Expect: 100-continue` the server will not honour.", "RFC 9110 §15.5.18"),
        Topic("426 Upgrade Required", "The server will only serve the request over another protocol.",
              "It names the protocol in Upgrade; the client may retry with an Upgrade proposal.",
              "RFC 9110 §15.5.22"),
        Topic("431 Request Header Fields Too Large", "The request head is larger than the server accepts.",
              "What h11dbg's server side answers when the head exceeds max_incomplete_event_size.", "RFC 6585 §5"),
        Topic("500 Internal Server Error", "The server failed while handling the request.",
              "A final response like any other; the framing rules are the same.", "RFC 9110 §15.6.1"),
        Topic("501 Not Implemented", "The server does not support the method or a transfer coding.",
              "The answer to a Transfer-Encoding other than chunked.", "RFC 9112 §6.1"),
        Topic("505 HTTP Version Not Supported", "The server refuses the request's major HTTP version.",
              "The answer to a request line that is not HTTP/1.x.", "RFC 9110 §15.6.6"),
    )
}


# What a session, a replay and a lesson say inline under a head that changes framing or the
# connection's future: a status, or a header and the value (None: any value) that matters, in a
# request only where the field means something else in a response (Upgrade names the new protocol there).
INLINE_STATUSES: dict[int, str] = {
    100: "100 Continue is an interim answer: the final response is still to come, and the client may now "
         "send its body [RFC 9110 §15.2.1]",
    101: "101 Switching Protocols: after this head the connection speaks the protocol named in Upgrade, "
         "not HTTP/1.1 [RFC 9110 §15.2.2]",
    204: "204 No Content never has a body: the message ends with its head [RFC 9110 §15.3.5]",
    304: "304 Not Modified never has a body, whatever Content-Length says [RFC 9110 §15.4.5]",
}
INLINE_REQUEST_ONLY = frozenset({b"upgrade", b"expect"})
INLINE_FIELDS: dict[bytes, tuple[bytes | None, str]] = {
    b"connection": (b"close", "Connection: close: the sender closes after this message, so no further request "
                              "may use this connection [RFC 9112 §9.6]"),
    b"expect": (b"100-continue", "Expect: 100-continue: the client waits for a 100 (or a final answer) before "
                                 "sending its body [RFC 9110 §10.1.1]"),
    b"upgrade": (None, "Upgrade proposes a protocol switch: a 101 accepts it, any other final response declines "
                       "[RFC 9110 §7.8]"),
}


class RuleExample(NamedTuple):
    rule: str
    meaning: str  # for an error rule: what the engine refuses and why it matters
    script: tuple[str, ...]  # loopback commands after which the engine reports ``rule``


def _raw_to_server(request: str) -> tuple[str, ...]:
    return (f"raw {request}", "as server", "run")


def _raw_to_client(response: str) -> tuple[str, ...]:
    return ("request GET /", "eom", "as server", "run", f"raw {response}", "as client", "run")


_CHUNKED = "POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
_UPGRADE = "Connection: Upgrade Upgrade: websocket"

RULE_EXAMPLES: dict[str, RuleExample] = {example.rule: example for example in (
    # the moves of the state machines (their words and sections are the engine's: protocol.RULES)
    RuleExample("request-sent", "", ("request GET /",)),
    RuleExample("request-received", "", ("request GET /", "eom", "as server", "run")),
    RuleExample("informational-response", "",
                ("request POST / Content-Length: 2 Expect: 100-continue", "as server", "run", "info 100")),
    RuleExample("final-response", "", ("request GET /", "eom", "as server", "run", "response 200")),
    RuleExample("body-data", "", ("request POST / Content-Length: 2", "data hi")),
    RuleExample("end-of-message", "", ("request GET /", "eom")),
    RuleExample("connection-closed", "", ("close",)),
    RuleExample("upgrade-accepted", "",
                (f"request GET /chat {_UPGRADE}", "eom", "as server", "run", f"info 101 {_UPGRADE}")),
    RuleExample("connect-accepted", "",
                ("request CONNECT example.com:443", "eom", "as server", "run", "response 200")),
    RuleExample("switch-proposed", "", (f"request GET /chat {_UPGRADE}", "eom")),
    RuleExample("switch-declined", "",
                (f"request GET /chat {_UPGRADE}", "eom", "as server", "run", "response 200 Content-Length: 0",
                 "as client", "run")),
    RuleExample("switch-followed", "",
                (f"request GET /chat {_UPGRADE}", "eom", "as server", "run", f"info 101 {_UPGRADE}", "as client",
                 "run")),
    RuleExample("keep-alive-disabled", "", ("request GET / Connection: close", "eom")),
    RuleExample("peer-closed", "", ("close", "as server", "run")),
    RuleExample("peer-error", "",
                ("request POST / Transfer-Encoding: chunked", "as server", "run", "response 200 Content-Length: 0",
                 "eom", "as client", "raw zz\\r\\n", "as server", "run")),
    RuleExample("protocol-error", "", ("data too early",)),
    RuleExample("next-cycle", "",
                ("request GET /", "eom", "as server", "run", "response 200 Content-Length: 0", "eom", "cycle")),
    # what the engine refuses
    RuleExample("bare-cr", "A CR must be followed by LF; a lone CR is read differently by different parsers.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: x\\rY\\r\\n\\r\\n")),
    RuleExample("chunk-data-crlf", "Each chunk's data must be followed by CRLF.",
                _raw_to_server(_CHUNKED + "3\\r\\nabcX\\r\\n")),
    RuleExample("chunk-extension-syntax", "A chunk extension must be `;name` or `;name=value`.",
                _raw_to_server(_CHUNKED + "3;\\r\\nabc\\r\\n")),
    RuleExample("chunk-line-crlf", "A chunk-size line must end with CRLF, not a bare LF.",
                _raw_to_server(_CHUNKED + "3\\nabc\\r\\n")),
    RuleExample("chunk-size-hex", "A chunk size is hex digits only: no sign, 0x, or space before them.",
                _raw_to_server(_CHUNKED + "zz\\r\\n")),
    RuleExample("chunk-size-overflow", "A chunk size too large to be real is refused rather than trusted.",
                _raw_to_server(_CHUNKED + "10000000000000000\\r\\n")),
    RuleExample("content-length-and-transfer-encoding",
                "Both framing fields in one message: the classic request-smuggling shape (CL.TE / TE.CL).",
                _raw_to_server("POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 3\\r\\n"
                               "Transfer-Encoding: chunked\\r\\n\\r\\n")),
    RuleExample("content-length-conflict", "Two different Content-Length values: which one frames the body?",
                _raw_to_server("POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 1\\r\\n"
                               "Content-Length: 2\\r\\n\\r\\n")),
    RuleExample("content-length-digits", "Content-Length is decimal digits only: no sign, no space, no hex.",
                _raw_to_server("POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: +1\\r\\n\\r\\n")),
    RuleExample("content-length-overflow", "A Content-Length too large to be real is refused rather than trusted.",
                _raw_to_server("POST / HTTP/1.1\\r\\nHost: x\\r\\n"
                               "Content-Length: 99999999999999999999\\r\\n\\r\\n")),
    RuleExample("content-length-exceeded", "A sender may not send more body than its Content-Length said.",
                ("request POST / Content-Length: 2", "data abc")),
    RuleExample("content-length-short", "A message framed by Content-Length cannot end before that many bytes.",
                ("request POST / Content-Length: 5", "data abc", "eom")),
    RuleExample("data-after-close",
                "Bytes after a message that ended the connection (HTTP/1.0, or Connection: close).",
                ("raw GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\nGET / HTTP/1.1\\r\\n", "as server", "run",
                 "response 200 Content-Length: 0", "eom", "run")),
    RuleExample("event-not-allowed", "An event the sender's state does not allow (a body before a request).",
                ("data too early",)),
    RuleExample("field-line-syntax", "A header line must be `name: value`.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: x\\r\\nNoColon\\r\\n\\r\\n")),
    RuleExample("field-name-token", "A field name is a token: letters, digits and a few symbols, no spaces.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: x\\r\\nX(A: 1\\r\\n\\r\\n")),
    RuleExample("field-name-whitespace",
                "No whitespace between a field name and its colon: parsers disagree on what it means.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: x\\r\\nX-A : 1\\r\\n\\r\\n")),
    RuleExample("field-value-chars", "A field value may not hold control bytes such as NUL or CR.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: x\\r\\nX-A: a\\x01b\\r\\n\\r\\n")),
    RuleExample("host-duplicate", "A request carries exactly one Host.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: a\\r\\nHost: b\\r\\n\\r\\n")),
    RuleExample("host-invalid", "Host is a host name or address and an optional port, nothing else.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: a b\\r\\n\\r\\n")),
    RuleExample("host-missing", "An HTTP/1.1 request must carry Host.", _raw_to_server("GET / HTTP/1.1\\r\\n\\r\\n")),
    RuleExample("http-version", "The version is `HTTP/` and two digits with a dot: `HTTP/1.1`.",
                _raw_to_server("GET / HTTP/1.x\\r\\nHost: x\\r\\n\\r\\n")),
    RuleExample("incomplete-body", "The connection closed before the body its framing promised arrived.",
                ("raw POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 5\\r\\n\\r\\nab", "close", "as server",
                 "run")),
    RuleExample("incomplete-message", "The connection closed in the middle of a message head.",
                ("raw GET / HTTP/1.1\\r\\nHo", "close", "as server", "run")),
    RuleExample("max-incomplete-event-size",
                "A head (or a line) larger than the limit: a peer could make the parser buffer without end.",
                _raw_to_server("GET /" + "a" * 17_000 + " HTTP/1.1\\r\\n")),
    RuleExample("method-token", "A method is a token (GET, POST, ...).",
                _raw_to_server("(GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")),
    RuleExample("next-cycle-not-ready", "start_next_cycle() needs both sides DONE.", ("request GET /", "cycle")),
    RuleExample("obs-fold", "A header line starting with whitespace continues the previous one (obsolete line "
                "folding): a request with it is refused.",
                _raw_to_server("GET / HTTP/1.1\\r\\nHost: x\\r\\nX-A: 1\\r\\n 2\\r\\n\\r\\n")),
    RuleExample("our-state-error", "After its own protocol error a side may send nothing more.",
                ("data too early", "request GET /")),
    RuleExample("peer-in-error", "After the peer's protocol error nothing more is read from it.",
                ("raw \\x00\\r\\n\\r\\n", "as server", "run", "next")),
    RuleExample("reason-phrase-chars", "A reason phrase may not hold control bytes.",
                _raw_to_client("HTTP/1.1 200 O\\x01K\\r\\nContent-Length: 0\\r\\n\\r\\n")),
    RuleExample("request-line-syntax", "A request line is `METHOD SP target SP HTTP/x.y`.",
                _raw_to_server("GET /\\r\\nHost: x\\r\\n\\r\\n")),
    RuleExample("request-target-chars", "A request-target is visible ASCII, with no spaces or control bytes.",
                _raw_to_server("GET /a\\x01b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")),
    RuleExample("send-version", "This engine writes HTTP/1.1 (and HTTP/1.0 requests) only.",
                ("request --http 1.0 GET /", "eom", "as server", "run", "response --http 1.0 200")),
    RuleExample("status-code-range", "A status code is three digits from 100 to 999.",
                _raw_to_client("HTTP/1.1 099 Odd\\r\\n\\r\\n")),
    RuleExample("status-code-syntax", "A status code is exactly three digits.",
                _raw_to_client("HTTP/1.1 2x0 OK\\r\\n\\r\\n")),
    RuleExample("status-line-syntax", "A status line is `HTTP/x.y SP code SP reason`.",
                _raw_to_client("HTTP/1.1200 OK\\r\\n\\r\\n")),
    RuleExample("switch-unproposed", "A server may switch protocols only when the client proposed it.",
                ("request GET /", "eom", "as server", "run", "info 101 Upgrade: x")),
    RuleExample("trailers-need-chunked", "Trailers exist only after a chunked body.",
                ("request POST / Content-Length: 0", "eom X-T: 1")),
    RuleExample("transfer-encoding-http10", "HTTP/1.0 has no Transfer-Encoding: a request using it is refused.",
                _raw_to_server("POST / HTTP/1.0\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")),
    RuleExample("transfer-encoding-unsupported", "Only `chunked` (last) is understood as a transfer coding.",
                _raw_to_server("POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: gzip\\r\\n\\r\\n")),
    RuleExample("whitespace-after-start-line",
                "Whitespace before the first header line: some parsers take it as part of the start line.",
                _raw_to_server("GET / HTTP/1.1\\r\\n Host: x\\r\\n\\r\\n")),
)}


class UnknownTopic(LookupError):
    """A name the reference does not have; the message lists what it has, the closest first."""


def _unknown(kind: str, name: str, known: Sequence[str]) -> UnknownTopic:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return UnknownTopic(f"no {kind} {quote(name)} in the reference: {hint}`h11dbg explain {kind}` lists them")


def _wrap(text: str, indent: str = "  ", width: int = 100) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)


def names(kind: str) -> list[str]:
    """Every name of ``kind`` the reference has, in the order it lists them."""
    if kind == "header":
        return [topic.name for topic in HEADERS.values()]
    if kind == "status":
        return [str(code) for code in STATUSES]
    if kind == "state":
        return list(STATES)
    return list(RULE_EXAMPLES)


def index_lines(kind: str) -> list[str]:
    """``explain KIND`` with no name: each one with a few words."""
    if kind == "header":
        return [f"{topic.name:<20} {topic.meaning}" for topic in HEADERS.values()]
    if kind == "status":
        return [f"{topic.name:<36} {topic.meaning}" for topic in STATUSES.values()]
    if kind == "state":
        return [f"{state:<22} {describe_state(CLIENT, _state(state)).partition(': ')[2]}" for state in STATES]
    return [f"{rule:<37} {example.meaning or RULES[rule].explanation}" for rule, example in RULE_EXAMPLES.items()]


def _state(name: str) -> type:
    import h11dbg.protocol as protocol

    state: type = getattr(protocol, name)
    return state


def topic_lines(kind: str, name: str) -> list[str]:
    """``explain header NAME``, ``explain status CODE``, ``explain state STATE`` (rules need their
    example run: :func:`rule_lines`).  Raises :class:`UnknownTopic`."""
    if kind == "header":
        topic = HEADERS.get(name.lower())
        if topic is None:
            raise _unknown(kind, name, [t.name for t in HEADERS.values()])
        return [f"{topic.name} (header) [{topic.section}]", *_wrap(topic.meaning),
                *_wrap("framing and connection: " + topic.effect)]
    if kind == "status":
        status = STATUSES.get(int(name)) if name.isascii() and name.isdigit() and len(name) == 3 else None
        if status is None:
            raise _unknown(kind, name, [str(code) for code in STATUSES])
        return [f"{status.name} (status) [{status.section}]", *_wrap(status.meaning),
                *_wrap("framing and connection: " + status.effect)]
    if kind == "state":
        state = name.upper()
        if state not in STATES:
            raise _unknown(kind, name, list(STATES))
        lines = [f"{state} (state)"]
        for role in (CLIENT, SERVER):
            moves = [edge for edge in state_machine(role) if str(edge.old_state) == state]
            if not moves and state not in ("ERROR",) and not any(str(edge.new_state) == state
                                                                   for edge in state_machine(role)):
                continue  # not a state of this role (SEND_RESPONSE is the server's, MIGHT_SWITCH the client's)
            lines += _wrap(describe_state(role, _state(state)))
            may = ", ".join(allowed_events(role, _state(state))) or "nothing"
            lines.append(f"    may send: {may}")
            lines += [f"    {edge.trigger} -> {edge.new_state} ({edge.rule}) [{RULES[edge.rule].section}]"
                      for edge in moves if edge.old_state is not edge.new_state]
        if state == "ERROR":
            lines.append("    any state -> ERROR on a protocol error (protocol-error) "
                         f"[{RULES['protocol-error'].section}]")
        return lines
    raise _unknown("kind", kind, list(KINDS))


def rule_example(name: str) -> RuleExample:
    example = RULE_EXAMPLES.get(name.lower())
    if example is None:
        raise _unknown("rule", name, list(RULE_EXAMPLES))
    return example


def _shell_quote(line: str) -> str:
    return "'" + line.replace("'", "'\\''") + "'"


_RUN = re.compile(r"(.)\1{99,}")  # a run of 100 or more of one character: too long to print as it is


def _python_expression(line: str) -> str:
    """``line`` as a Python expression, each long run of one character written ``"a" * 17000`` (double
    quotes: the shell's single quotes go around it)."""
    parts: list[str] = []
    at = 0
    for match in _RUN.finditer(line):
        if match.start() > at:
            parts.append(json.dumps(line[at : match.start()]))
        parts.append(f"{json.dumps(match.group(1))} * {len(match.group(0))}")
        at = match.end()
    if at < len(line):
        parts.append(json.dumps(line[at:]))
    return " + ".join(parts)


def try_it(example: RuleExample) -> str:
    """The shell command that runs the example, as printed: ``printf '%s\\n'`` keeps the escapes as typed;
    a line with a long run of one character is made by Python instead."""
    if not any(_RUN.search(line) for line in example.script):
        return "printf '%s\\n' " + " ".join(_shell_quote(line) for line in example.script) + " | h11dbg loopback"
    program = "; ".join(f"print({_python_expression(line)})" for line in example.script)
    return f"python3 -c {_shell_quote(program)} | h11dbg loopback"


def rule_lines(example: RuleExample, log: Iterable[LogEntry]) -> list[str]:
    """``explain rule RULE``: what it means, the example, and what the engine said when it ran it."""
    entries = list(log)
    move = RULES.get(example.rule)
    lines = [f"{example.rule} ({'a move of the state machines' if move else 'what the engine refuses'})"]
    lines += _wrap(move.explanation + f" [{move.section}]" if move else example.meaning)
    lines.append("  example (loopback commands):")
    lines += [f"    {line if len(line) <= 96 else line[:90] + '...'}" for line in example.script]
    said: list[str] = []
    for entry in entries:
        if move is not None:
            said += [transition_summary(t) for t in entry.transitions if t.rule == example.rule]
        elif entry.kind == "error" and entry.error is not None and getattr(entry.error, "rule", None) == example.rule:
            said = [error_summary(entry.error), *(f"  {key}: {value}" for key, value in error_details(entry.error))]
    if move is not None and not said:  # a move that stays put (Data, a 1xx) is no recorded transition
        said = [f"{str(edge.role).lower()}: {edge.old_state} stays {edge.new_state} on {edge.trigger} "
                "(a move that stays put records no transition)"
                for role in (CLIENT, SERVER) for edge in state_machine(role)
                if edge.rule == example.rule and edge.old_state is edge.new_state]
    lines.append("  the engine says:")
    lines += [f"    {line}" for line in dict.fromkeys(said)] or ["    (nothing: the example no longer shows it)"]
    return [*lines, "  run it yourself:", f"    {try_it(example)}"]
