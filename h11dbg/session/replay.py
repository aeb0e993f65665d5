"""Replay a transcript through two state machines per connection.

For each connection the client→server bytes go into a SERVER-role Connection and the
server→client bytes into a CLIENT-role Connection, exactly as each chunk was read.  Every event one
side parses is sent on the other side's machine, so both advance together: the client machine
learns the request (and so its method: HEAD, CONNECT) before it parses the response, and the server
machine learns the response before it parses the next pipelined request.

Replay is a lazy stream of :class:`ReplayStep` records, one record of the transcript at a time, so
a multi-gigabyte transcript replays in bounded memory; connections are forgotten once both sides
closed.  UI-free: callers render the steps (plain text here, JSON Lines via h11dbg.session.jsonl).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, Literal

from h11dbg.escaping import escape
from h11dbg.session import jsonl
from h11dbg.transcript.model import Chunk, Close, Open, Record

StepKind = Literal["open", "event", "error", "cycle", "switch", "close", "reset", "end"]
_DIRECTIONS = ("c2s", "s2c")


class ReplayStep:
    """One step of a replay.  A plain class with slots: replay builds millions, and a dataclass would
    also cost every replay's start-up (building a slotted dataclass takes a few milliseconds)."""

    __slots__ = ("kind", "conn", "time", "direction", "event", "states", "error", "offset", "offset_exact",
                 "text", "transitions", "tunnelled", "peers")

    def __init__(
        self, kind: StepKind, conn: int, time: float,
        direction: str | None = None,  # "c2s"/"s2c": whose bytes were parsed
        event: Any = None,
        # after the step, as the parsing machine sees them (shared between steps: read it, do not change it)
        states: dict[str, str] | None = None,
        error: BaseException | None = None,
        offset: int | None = None,  # error: byte offset in that direction's stream, from the connection start
        offset_exact: bool = True,  # False when the engine does not say and we only know where parsing stood
        text: str | None = None,
        transitions: tuple[Any, ...] = (),
        tunnelled: dict[str, int] | None = None,  # after a protocol switch: bytes each way
        peers: tuple[str | None, str | None] = (None, None),
    ) -> None:
        self.kind = kind
        self.conn = conn
        self.time = time
        self.direction = direction
        self.event = event
        self.states: dict[str, str] = {} if states is None else states
        self.error = error
        self.offset = offset
        self.offset_exact = offset_exact
        self.text = text
        self.transitions = transitions
        self.tunnelled = tunnelled
        self.peers = peers

    def __eq__(self, other: object) -> bool:
        if type(other) is not ReplayStep:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # (equal steps may change: not hashable)

    def __repr__(self) -> str:
        return f"ReplayStep({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"

    @property
    def event_name(self) -> str:
        if self.kind == "event":
            return type(self.event).__name__
        return self.kind


def make_connection(engine: ModuleType, role: Any) -> tuple[Any, bool]:
    """A Connection that keeps HTTP/1.0 keep-alive connections open when the engine can, and
    whether it can."""
    try:
        return engine.Connection(role, keep_alive_http10=True), True
    except TypeError:  # h11 has no such option: HTTP/1.0 connections always end after one cycle
        return engine.Connection(role), False


def _connection_tokens(headers: Any) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return tokens


def as_sendable(event: Any, http10_keep_alive: bool) -> Any:
    """The event to send on the mirror machine.

    Engines only send HTTP/1.1, but a mirror must learn what an HTTP/1.0 message means for the
    connection: it ends after this cycle unless the peer asked for keep-alive and the engine honours
    that.  So a 1.0 message is mirrored as 1.1 with ``Connection: close`` added when it must close.
    """
    version = getattr(event, "http_version", None)
    if version is None or version == b"1.1":
        return event
    headers = list(event.headers.raw_items())
    tokens = _connection_tokens(headers)
    if b"close" not in tokens and not (http10_keep_alive and b"keep-alive" in tokens):
        headers.append((b"Connection", b"close"))
    if type(event).__name__ == "Request":
        if not any(name.lower() == b"host" for name, _ in headers):
            headers.append((b"Host", b""))  # HTTP/1.1 requires one; its value changes no state
        return type(event)(method=event.method, target=event.target, headers=headers, http_version=b"1.1")
    return type(event)(status_code=event.status_code, reason=event.reason, headers=headers, http_version=b"1.1")


# (client state, server state) -> their names; state objects are module-level sentinels
_STATE_NAMES: dict[tuple[Any, Any], dict[str, str]] = {}


class _ConnectionReplay:
    def __init__(self, engine: ModuleType, conn: int) -> None:
        self.engine = engine
        self.conn = conn
        self.server, self.http10_keep_alive = make_connection(engine, engine.SERVER)  # parses c2s bytes
        self.client, _ = make_connection(engine, engine.CLIENT)  # parses s2c bytes
        self.fed = {"c2s": 0, "s2c": 0}
        self.closed: set[str] = set()
        self.finished: set[str] = set()  # directions whose parser reported ConnectionClosed
        self.failed = False
        self.reset = False
        self.switched = False
        self.tunnelled = {"c2s": 0, "s2c": 0}
        self.ignored = {"c2s": 0, "s2c": 0}
        # Each machine reports its own transitions; a step shows the parsing machine's (the mirror
        # repeats them).
        self._server_moves: list[Any] = []
        self._client_moves: list[Any] = []
        self._roles = (engine.CLIENT, engine.SERVER)
        self.last_states: dict[str, str] = self.states(self.client)
        if hasattr(self.server, "add_observer"):
            self.server.add_observer(self._server_moves.append)
            self.client.add_observer(self._client_moves.append)
        self._consumed = hasattr(self.server, "bytes_consumed")  # h11dbg's engine counts them; h11 does not
        self._mirror_server = _mirror_send(self.server)
        self._mirror_client = _mirror_send(self.client)

    def _take_transitions(self, machine: Any) -> tuple[Any, ...]:
        server, client = self._server_moves, self._client_moves
        if not server and not client:  # most events (Data) move no state
            return ()
        taken = tuple(server if machine is self.server else client)
        server.clear()
        client.clear()
        return taken

    def _unread(self, direction: str) -> int:
        """How many bytes of ``direction`` its parser has not made events of yet."""
        if self._consumed:
            return self.fed[direction] - (self.server if direction == "c2s" else self.client).bytes_consumed
        return len((self.server if direction == "c2s" else self.client).trailing_data[0])

    def _sides(self, direction: str) -> tuple[Any, Any]:
        return (self.server, self.client) if direction == "c2s" else (self.client, self.server)

    def states(self, machine: Any) -> dict[str, str]:
        """The state names as ``machine`` sees them.  Steps share these dicts: read them only."""
        states = machine.states
        client, server = self._roles
        key = (states[client], states[server])
        names = _STATE_NAMES.get(key)
        if names is None:
            names = jsonl.state_names(states, client, server)
            if len(_STATE_NAMES) < 1024:  # engines have a dozen states; this bounds an odd one
                _STATE_NAMES[key] = names
        self.last_states = names
        return names

    # -- input -------------------------------------------------------------------------------

    def data(self, direction: str, data: bytes, time: float) -> list[ReplayStep]:
        if self.switched:
            self.tunnelled[direction] += len(data)
            return []
        if self.failed or self.reset:
            self.ignored[direction] += len(data)
            return []
        parser = self.server if direction == "c2s" else self.client
        self.fed[direction] += len(data)
        try:
            parser.receive_data(data)
        except RuntimeError as exc:  # bytes after that side's close
            return [self._fail(direction, time, exc, parser)]
        return self._pump(time, direction)

    def eof(self, direction: str, time: float) -> list[ReplayStep]:
        self.closed.add(direction)
        steps = [ReplayStep("close", self.conn, time, direction, text=f"{_side(direction)} stopped sending",
                            states=self.last_states)]
        if not (self.switched or self.failed or self.reset):
            parser, _ = self._sides(direction)
            try:
                parser.receive_data(b"")
            except RuntimeError as exc:  # a second close from the same side
                steps.append(self._fail(direction, time, exc, parser))
                return steps
            steps += self._pump(time)
        return steps

    def abort(self, direction: str, time: float) -> list[ReplayStep]:
        self.reset = True
        self.closed.update(_DIRECTIONS)
        text = f"{_side(direction)} reset the connection"
        return [ReplayStep("reset", self.conn, time, direction, text=text, states=self.last_states)]

    # -- the two machines --------------------------------------------------------------------

    def _pump(self, time: float, fresh: str | None = None) -> list[ReplayStep]:
        """Run both machines until neither can move; ``fresh``: the direction that just got bytes.

        Between two pumps both parsers wait (NEED_DATA or PAUSED) and no keep-alive cycle is due.
        A parser runs until it waits again; it is asked once more only when something it does not
        know of moved since: the other parser's events (mirrored into its machine) or a keep-alive
        cycle.  And only when it has something to read: unread bytes, or the close of its side
        (events come from nothing else).  So a chunk in the middle of a body costs its Data events
        and one NEED_DATA, nothing more.
        """
        steps: list[ReplayStep] = []
        engine = self.engine
        need_data, paused, data_type = engine.NEED_DATA, engine.PAUSED, engine.Data
        conn = self.conn
        closed = self.closed
        # whom to ask: the direction with fresh bytes; both after a close or when unsure
        ask_c2s, ask_s2c = fresh != "s2c", fresh != "c2s"
        while ask_c2s or ask_s2c:
            moved_any = False
            # Requests first: a response can only be parsed once its request is known on both sides.
            for direction in _DIRECTIONS:
                if direction == "c2s":
                    if not ask_c2s:
                        continue
                    ask_c2s = False
                    parser, mirror_send = self.server, self._mirror_client
                else:
                    if not ask_s2c:
                        continue
                    ask_s2c = False
                    parser, mirror_send = self.client, self._mirror_server
                if direction in self.finished:  # h11 repeats ConnectionClosed for ever once closed
                    continue
                if not (direction in closed or self._unread(direction)):
                    continue  # nothing to read: it would only say NEED_DATA
                moved = False
                next_event = parser.next_event
                while True:
                    try:
                        event = next_event()
                    except Exception as exc:
                        steps.append(self._parse_failed(direction, time, exc, parser))
                        return steps
                    if type(event) is data_type:
                        # Data moves no state and reads the same in every HTTP version: no
                        # as_sendable, no transitions, the states as they were.
                        try:
                            mirror_send(event)
                        except Exception as exc:
                            steps.append(self._mirror_failed(direction, time, exc, parser))
                            return steps
                        steps.append(ReplayStep("event", conn, time, direction, event, self.last_states))
                        continue
                    if event is need_data or event is paused:
                        break
                    outcome = self._take_event(direction, parser, mirror_send, event, time, steps)
                    if outcome == "stop":
                        return steps
                    moved = True
                    if outcome == "closed":
                        break
                if moved:  # the other machine saw these events too: its parser may go on now
                    moved_any = True
                    if direction == "c2s":
                        ask_s2c = True
                    else:
                        ask_c2s = True
            if not moved_any:
                break  # no state moved, so no cycle is due either
            for machine in (self.server, self.client):
                if machine.our_state is engine.DONE and machine.their_state is engine.DONE:
                    machine.start_next_cycle()
                    ask_c2s = ask_s2c = True
                    if machine is self.client:  # both machines agree; one note for the pair
                        steps.append(
                            ReplayStep("cycle", conn, time, None, states=self.states(machine),
                                       text="both sides DONE: start_next_cycle (keep-alive)",
                                       transitions=self._take_transitions(machine))
                        )
        return steps

    def _take_event(self, direction: str, parser: Any, mirror_send: Callable[[Any], Any], event: Any,
                    time: float, steps: list[ReplayStep]) -> str:
        """Mirror one parsed event other than Data and record its step: "moved", "closed" or "stop"."""
        engine = self.engine
        try:
            mirror_send(as_sendable(event, self.http10_keep_alive))
        except Exception as exc:
            steps.append(self._mirror_failed(direction, time, exc, parser))
            return "stop"
        states = self.states(parser)
        steps.append(ReplayStep("event", self.conn, time, direction, event, states,
                                transitions=self._take_transitions(parser)))
        if type(event) is engine.ConnectionClosed:
            self.finished.add(direction)
            return "closed"
        if "SWITCHED_PROTOCOL" in (states["client"], states["server"]) and (
                engine.SWITCHED_PROTOCOL in (parser.our_state, parser.their_state)):
            steps.append(self._switch(time))
            return "stop"
        return "moved"

    def _parse_failed(self, direction: str, time: float, exc: Exception, parser: Any) -> ReplayStep:
        # anything but RemoteProtocolError is an engine bug, and must not end the replay (h11 has a few)
        crashed = not isinstance(exc, self.engine.RemoteProtocolError)
        return self._fail(direction, time, exc, parser, crashed=crashed)

    def _mirror_failed(self, direction: str, time: float, exc: Exception, parser: Any) -> ReplayStep:
        crashed = not isinstance(exc, self.engine.LocalProtocolError)
        return self._fail(direction, time, exc, parser, mirrored=True, crashed=crashed)

    def _switch(self, time: float) -> ReplayStep:
        self.switched = True
        self.tunnelled["c2s"] = len(self.server.trailing_data[0])
        self.tunnelled["s2c"] = len(self.client.trailing_data[0])
        return ReplayStep("switch", self.conn, time, None, states=self.states(self.client),
                          text="protocol switched: the bytes that follow are tunnelled, not HTTP/1.1",
                          transitions=self._take_transitions(self.client))

    def _fail(
        self, direction: str, time: float, exc: BaseException, parser: Any, *, mirrored: bool = False,
        crashed: bool = False,
    ) -> ReplayStep:
        self.failed = True
        offset = getattr(exc, "offset", None)
        exact = offset is not None
        if offset is None:
            # Without the engine's help: parsing stopped somewhere in the bytes it had not consumed.
            offset = self.fed[direction] - len(parser.trailing_data[0])
        text = None
        if mirrored:
            text = (f"the {'client' if direction == 'c2s' else 'server'} machine refused the event the "
                    "other machine parsed (the two machines disagree)")
        if crashed:
            text = (text + "; " if text else "") + (
                f"the engine itself failed with {type(exc).__name__} (an engine bug, met on bytes it "
                "should have refused)")
        return ReplayStep("error", self.conn, time, direction, error=exc, states=self.states(parser),
                          offset=offset, offset_exact=exact, text=text,
                          transitions=self._take_transitions(parser))

    def end(self, time: float) -> ReplayStep:
        notes = []
        if not (self.switched or self.failed or self.reset):
            for direction in _DIRECTIONS:
                parser, _ = self._sides(direction)
                left = len(parser.trailing_data[0])
                if left:
                    notes.append(f"{left} {direction} bytes never completed a message")
        for direction in _DIRECTIONS:
            if self.ignored[direction]:
                notes.append(f"{self.ignored[direction]} {direction} bytes after the error not parsed")
        return ReplayStep("end", self.conn, time, None, states=self.last_states,
                          text="; ".join(notes) or None,
                          tunnelled=dict(self.tunnelled) if self.switched else None)


def _mirror_send(machine: Any) -> Callable[[Any], Any]:
    """How to send on ``machine`` as a mirror: only its states matter, not the wire bytes nor its
    own account of the moves (a step shows the parsing machine's), and h11dbg's engine can skip
    both; h11 sends."""
    advance = getattr(machine, "advance", None)
    if advance is None:
        return machine.send_with_data_passthrough  # type: ignore[no-any-return]
    return functools.partial(advance, observe=False)


def _side(direction: str) -> str:
    return "the client" if direction == "c2s" else "the server"


class Replayer:
    """Feeds records one at a time; :attr:`errors` counts connections that hit a protocol error."""

    def __init__(self, engine: ModuleType) -> None:
        self.engine = engine
        self._conns: dict[int, _ConnectionReplay] = {}
        self._last_time = 0.0
        self.errors = 0
        self.connections = 0

    def _conn(self, conn: int) -> _ConnectionReplay:
        replay = self._conns.get(conn)
        if replay is None:
            replay = self._conns[conn] = _ConnectionReplay(self.engine, conn)
            self.connections += 1
        return replay

    def feed(self, record: Record) -> list[ReplayStep]:
        time = record.time
        if time > self._last_time:
            self._last_time = time
        if type(record) is Chunk:  # nearly every record: the short way (a chunk ends no connection)
            replay = self._conns.get(record.conn) or self._conn(record.conn)
            if replay.failed:
                return replay.data(record.direction, record.data, time)
            steps = replay.data(record.direction, record.data, time)
            if replay.failed:
                self.errors += 1
            return steps
        if isinstance(record, Open):
            fresh = record.conn not in self._conns
            replay = self._conn(record.conn)
            if not fresh:
                return []
            return [ReplayStep("open", record.conn, record.time, None, states=replay.states(replay.client),
                               peers=(record.client, record.server))]
        replay = self._conn(record.conn)
        failed_before = replay.failed
        if isinstance(record, Chunk):
            steps = replay.data(record.direction, record.data, record.time)
        elif isinstance(record, Close):
            steps = (replay.abort if record.reset else replay.eof)(record.direction, record.time)
        else:
            raise TypeError(f"not a transcript record: {record!r}")
        if replay.failed and not failed_before:
            self.errors += 1
        if len(replay.closed) == 2:  # both directions
            steps.append(replay.end(record.time))
            del self._conns[record.conn]
        return steps

    def finish(self, last_time: float | None = None) -> list[ReplayStep]:
        """End steps for connections the transcript left open, at the transcript's last time
        (``last_time`` when records were seen elsewhere too: a replay split across processes)."""
        time = self._last_time if last_time is None else max(last_time, self._last_time)
        steps = [replay.end(time) for replay in self._conns.values()]
        self._conns.clear()
        return steps


def replay(records: Iterable[Record], engine: ModuleType) -> Iterator[ReplayStep]:
    replayer = Replayer(engine)
    for record in records:
        yield from replayer.feed(record)
    yield from replayer.finish()


# -- rendering (plain text and JSON Lines; rich colours would live in h11dbg.ui) ---------------

_PREVIEW = 60
_WITH_HEADERS = frozenset({"Request", "Response", "InformationalResponse", "EndOfMessage"})


def _preview(data: bytes) -> str:
    text = escape(data[:_PREVIEW])
    return text + ("..." if len(data) > _PREVIEW else "")


def describe_event(event: Any, fields: dict[str, Any] | None = None) -> str:
    if type(event).__name__ == "Data":  # bodies can be huge: escape only the preview
        return f"Data {len(event.data)} bytes {_preview(bytes(event.data[:_PREVIEW + 1]))}"
    if fields is None:
        fields = jsonl.event_fields(event)
    kind = fields["event"]
    if kind == "Request":
        return f"Request {fields['method']} {fields['target']} HTTP/{fields['http_version']}"
    if kind in ("Response", "InformationalResponse"):
        return f"{kind} {fields['status_code']} {fields['reason']} HTTP/{fields['http_version']}".rstrip()
    if kind == "EndOfMessage" and fields["headers"]:
        return f"EndOfMessage with {len(fields['headers'])} trailer(s)"
    return str(kind)


def _states(states: dict[str, str]) -> str:
    return f"client={states.get('client')} server={states.get('server')}" if states else ""


def _step_head(step: ReplayStep) -> str:
    """``[conn] time direction``: the steps of one record share it, so the last one is remembered
    (formatting the time is the dearest part of a Data line)."""
    conn, time, direction = step.conn, step.time, step.direction
    last = _LAST_HEAD
    if time == last[1] and conn == last[0] and direction == last[2]:
        return last[3]  # type: ignore[no-any-return]
    head = "[%s] %10.6f %s" % (conn, time, direction or "   ")  # noqa: UP031  (twice as fast as f"{time:10.6f}")
    last[:] = conn, time, direction, head
    return head


_LAST_HEAD: list[Any] = [None, None, None, ""]


def _raw_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    return list(headers.raw_items() if hasattr(headers, "raw_items") else headers)


def _header_lines(items: list[tuple[bytes, bytes]]) -> list[str]:
    """``NAME: VALUE`` lines, escaped and indented; most fields repeat message after message, so
    their lines are remembered."""
    lines = []
    cache = _HEADER_LINES
    for item in items:
        try:
            line = cache.get(item)
        except TypeError:  # an engine that gives bytearrays: nothing to remember
            line = None
            item = (bytes(item[0]), bytes(item[1]))
        if line is None:
            name, value = item
            line = f"{'':24}{escape(name)}: {escape(value)}"
            if len(value) <= 256:
                if len(cache) >= _REMEMBERED:
                    cache.clear()
                cache[item] = line
        lines.append(line)
    return lines


_HEADER_LINES: dict[tuple[bytes, bytes], str] = {}
# How many rendered header fields are remembered: the fields that repeat (user agents, content
# types) stay, one-off values (cookies, lengths) make the cache start over now and then; small,
# so that a replay's memory does not grow with the file.
_REMEMBERED = 2048


def _describe_head(event: Any, kind: str, items: list[tuple[bytes, bytes]]) -> str:
    """describe_event for events other than Data, without escaping the headers it does not show."""
    if kind == "Request":
        return f"Request {escape(bytes(event.method))} {escape(bytes(event.target))} " \
               f"HTTP/{escape(bytes(event.http_version))}"
    if kind in ("Response", "InformationalResponse"):
        return (f"{kind} {int(event.status_code)} {escape(bytes(event.reason))} "
                f"HTTP/{escape(bytes(event.http_version))}").rstrip()
    if kind == "EndOfMessage" and items:
        return f"EndOfMessage with {len(items)} trailer(s)"
    return kind


def render_text(step: ReplayStep, *, headers: bool = True) -> list[str]:
    """Plain text lines for one step: ``[conn] time direction what   states``."""
    head = _step_head(step)
    event = step.event
    if type(event).__name__ == "Data" and step.kind == "event" and not step.transitions:
        # the line most replays are made of: built in one go (bodies can be huge: escape only the
        # preview)
        data = event.data
        size = len(data)
        preview = escape(data[:_PREVIEW]) + ("..." if size > _PREVIEW else "")
        return [f"{head} {f'Data {size} bytes {preview}':<52} {_states(step.states)}"]
    lines: list[str] = []
    if step.kind == "open":
        client, server = step.peers
        lines.append(f"{head} open {client or '?'} -> {server or '?'}")
    elif step.kind == "event":
        event = step.event
        kind = type(event).__name__
        if kind == "Data":
            lines.append(f"{head} {describe_event(event):<52} {_states(step.states)}")
        else:
            items = _raw_headers(event.headers) if kind in _WITH_HEADERS else []
            lines.append(f"{head} {_describe_head(event, kind, items):<52} {_states(step.states)}")
            if headers and items:
                lines += _header_lines(items)
    elif step.kind == "error":
        exc = step.error
        # an engine that does not say where the error is: say how far parsing got
        where = f"at byte {step.offset}" if step.offset_exact else f"parsing stopped at byte {step.offset}"
        lines.append(f"{head} ERROR {type(exc).__name__}: {exc} ({where})   {_states(step.states)}")
        for name in ("rule", "section", "explanation"):
            value = getattr(exc, name, None)
            if value:
                lines.append(f"{'':24}{name}: {value}")
        offending = getattr(exc, "offending", None)
        if offending:
            lines.append(f"{'':24}offending bytes: {escape(offending)}")
        if step.text:
            lines.append(f"{'':24}{step.text}")
    elif step.kind == "end":
        text = f"{head} end   {_states(step.states)}"
        if step.tunnelled:
            text += f"   tunnelled c2s {step.tunnelled['c2s']} bytes, s2c {step.tunnelled['s2c']} bytes"
        lines.append(text)
        if step.text:
            lines.append(f"{'':24}{step.text}")
    else:
        lines.append(f"{head} {step.kind}: {step.text}   {_states(step.states)}".rstrip())
    for transition in step.transitions:
        explanation = transition.explanation
        if explanation:
            key = (transition.role, transition.old_state, transition.new_state, explanation)
            line = _TRANSITION_LINES.get(key)
            if line is None:
                line = f"{'':24}{key[0]} {key[1]} -> {key[2]}: {explanation}"
                if len(_TRANSITION_LINES) < 4096:  # a few dozen rules in practice; bounded regardless
                    _TRANSITION_LINES[key] = line
            lines.append(line)
    return lines


# (role, old state, new state, explanation) -> the rendered line; the same few repeat endlessly
_TRANSITION_LINES: dict[tuple[Any, Any, Any, str], str] = {}


def json_record(step: ReplayStep) -> dict[str, Any]:
    """One step in the shared JSON Lines schema (h11dbg.session.jsonl); non-event steps name their kind."""
    extra: dict[str, Any] = {"time": round(step.time, 6)}
    if step.kind == "event":
        record = jsonl.event_record(step.event, conn=step.conn, direction=step.direction or "",
                                    states=step.states, **extra)
    elif step.kind == "error":
        assert step.error is not None
        record = jsonl.error_record(step.error, conn=step.conn, direction=step.direction or "",
                                    states=step.states, **extra)
        record["offset"] = step.offset
        if not step.offset_exact:
            record["offset_exact"] = False
        if step.text:
            record["text"] = step.text
    else:
        record = {"conn": step.conn, "direction": step.direction, "event": step.kind, **extra}
        if step.kind == "open":
            record["client"], record["server"] = step.peers
        if step.text:
            record["text"] = step.text
        if step.tunnelled:
            record["tunnelled"] = step.tunnelled
        record["states"] = step.states
    if step.transitions:
        record["transitions"] = [_transition_fields(t) for t in step.transitions]
    return record


def json_line(step: ReplayStep) -> str:
    """``jsonl.dumps(json_record(step))``, the same text, built directly for Data events.

    Data events carry nearly all of a replay's bytes; building a dict for them and having the
    json encoder escape the escaped body again cost more than the rest of ``--json`` together.
    Escaped bytes are printable ASCII, so JSON needs only ``\\`` and ``"`` escaped in them.
    """
    event = step.event
    if type(step.conn) is not int or type(step.time) is not float:
        return jsonl.dumps(json_record(step))
    if step.kind != "event":
        if step.kind in ("open", "error") or step.text or step.tunnelled:
            return jsonl.dumps(json_record(step))
        direction = "null" if step.direction is None else _json_str(step.direction)
        line = (f'{{"conn":{step.conn},"direction":{direction},"event":"{step.kind}",'
                f'"time":{float.__repr__(round(step.time, 6))},"states":{_states_json(step.states)}')
        if step.transitions:
            line += ',"transitions":[' + ",".join(_transition_json(t) for t in step.transitions) + "]"
        return line + "}"
    kind = type(event).__name__
    if kind != "Data":
        fields = _event_json(event, kind)
        if fields is None:
            return jsonl.dumps(json_record(step))
        line = (f'{{"conn":{step.conn},"direction":{_json_str(step.direction or "")},{fields},'
                f'"states":{_states_json(step.states)},"time":{float.__repr__(round(step.time, 6))}')
        if step.transitions:
            line += ',"transitions":[' + ",".join(_transition_json(t) for t in step.transitions) + "]"
        return line + "}"
    data = event.data
    if getattr(event, "chunk_start", False) or getattr(event, "chunk_end", False):
        chunk = f',"chunk_start":{"true" if event.chunk_start else "false"}' \
                f',"chunk_end":{"true" if event.chunk_end else "false"}'
    else:
        chunk = ""
    text = bytes(data).decode("latin-1").encode("unicode_escape")
    if b"\\" in text:
        text = text.replace(b"\\", b"\\\\")
    if b'"' in text:
        text = text.replace(b'"', b'\\"')
    line = (f'{{"conn":{step.conn},"direction":{_json_str(step.direction or "")},"event":"Data",'
            f'"length":{len(data)},"data":"{text.decode("ascii")}"{chunk},'
            f'"states":{_states_json(step.states)},"time":{float.__repr__(round(step.time, 6))}')
    if step.transitions:
        line += ',"transitions":[' + ",".join(_transition_json(t) for t in step.transitions) + "]"
    return line + "}"


def _event_json(event: Any, kind: str) -> str | None:
    """jsonl.event_fields(event) as JSON object members, for the events with heads; None: others."""
    if kind == "Request":
        return (f'"event":"Request","method":{_json_bytes(event.method)},'
                f'"target":{_json_bytes(event.target)},"http_version":{_json_bytes(event.http_version)},'
                f'"headers":{_headers_json(event.headers)}')
    if kind in ("Response", "InformationalResponse"):
        return (f'"event":"{kind}","status_code":{int(event.status_code)},'
                f'"reason":{_json_bytes(event.reason)},"http_version":{_json_bytes(event.http_version)},'
                f'"headers":{_headers_json(event.headers)}')
    if kind == "EndOfMessage":
        return f'"event":"EndOfMessage","headers":{_headers_json(event.headers)}'
    return None


def _headers_json(headers: Any) -> str:
    raw = headers.raw_items() if hasattr(headers, "raw_items") else list(headers)
    return "[" + ",".join(f"[{_json_bytes(name)},{_json_bytes(value)}]" for name, value in raw) + "]"


_JSON_BYTES: dict[bytes, str] = {}


def _json_bytes(value: bytes) -> str:
    """A head's bytes as a JSON string of their escaped text (heads repeat: names, versions, values)."""
    value = bytes(value)
    text = _JSON_BYTES.get(value)
    if text is None:
        import json  # (here: a replay without --json never needs it)

        text = json.dumps(escape(value), ensure_ascii=False)
        if len(_JSON_BYTES) >= _REMEMBERED:
            _JSON_BYTES.clear()
        if len(value) <= 256:
            _JSON_BYTES[value] = text
    return text


_JSON_TEXT: dict[str, str] = {}


def _json_str(value: str) -> str:
    text = _JSON_TEXT.get(value)
    if text is None:
        import json

        text = json.dumps(value, ensure_ascii=False)
        if len(_JSON_TEXT) < 4096:
            _JSON_TEXT[value] = text
    return text


_STATES_JSON: dict[tuple[Any, ...], str] = {}


def _states_json(states: dict[str, str]) -> str:
    key = tuple(states.items())
    text = _STATES_JSON.get(key)
    if text is None:
        text = jsonl.dumps(states)
        if len(_STATES_JSON) < 4096:
            _STATES_JSON[key] = text
    return text


_TRANSITION_JSON: dict[tuple[Any, ...], str] = {}


def _transition_json(transition: Any) -> str:
    key = tuple(getattr(transition, name, None) for name in _TRANSITION_FIELDS)
    text = _TRANSITION_JSON.get(key)
    if text is None:
        text = jsonl.dumps(_transition_fields(transition))
        if len(_TRANSITION_JSON) < 4096:
            _TRANSITION_JSON[key] = text
    return text


_TRANSITION_FIELDS = ("role", "old_state", "new_state", "rule", "section", "explanation")
_TRANSITION_DICTS: dict[tuple[Any, ...], dict[str, str]] = {}


def _transition_fields(transition: Any) -> dict[str, str]:
    key = tuple(getattr(transition, name, None) for name in _TRANSITION_FIELDS)
    fields = _TRANSITION_DICTS.get(key)
    if fields is None:
        fields = {name: str(value) for name, value in zip(_TRANSITION_FIELDS, key, strict=True)
                  if value is not None}
        if len(_TRANSITION_DICTS) < 4096:  # a few dozen distinct ones in practice; bounded regardless
            _TRANSITION_DICTS[key] = fields
    return dict(fields)  # each record owns its dict


# -- stepping (the UI-free half of ``h11dbg replay --step``) ---------------------------------

STEP_HELP = (
    "next [N]        show the next step (or N steps)",
    "continue        run to the next breakpoint or to the end",
    "break NAME      stop at steps named NAME: an event (Request, Response, Data, EndOfMessage, ...),",
    "                error, open, close, reset, cycle, switch or end",
    "delete NAME     remove a breakpoint ('delete all' removes every one)",
    "breaks          list the breakpoints",
    "explain         why the machines are in their states, what may come next, and the last error",
    "quit            stop replaying",
)


class Stepper:
    """Walks a replay step by step; breakpoints are step names compared without case."""

    def __init__(self, steps: Iterable[ReplayStep], engine: ModuleType) -> None:
        self._steps = iter(steps)
        self.engine = engine
        self.breakpoints: set[str] = {"error"}
        self.current: ReplayStep | None = None
        self.last_error: ReplayStep | None = None
        self.finished = False

    def next(self) -> ReplayStep | None:
        step = next(self._steps, None)
        if step is None:
            self.finished = True
            return None
        self.current = step
        if step.kind == "error":
            self.last_error = step
        return step

    def run(self, *, ignore_breakpoints: bool = False) -> Iterator[ReplayStep]:
        """Steps up to and including the next one that hits a breakpoint."""
        while True:
            step = self.next()
            if step is None:
                return
            yield step
            if not ignore_breakpoints and step.event_name.lower() in self.breakpoints:
                return

    def explain(self) -> list[str]:
        from h11dbg.engines import is_explainable
        from h11dbg.session.explain import allowed_events, describe_state

        step = self.current
        if step is None:
            return ["nothing replayed yet: type next"]
        explainable = is_explainable(self.engine)
        lines = [f"connection {step.conn}, after: {render_text(step, headers=False)[0].strip()}"]
        for role in ("client", "server"):
            state = step.states.get(role)
            if state is None:
                continue
            lines.append(f"  {role} is {state}: {describe_state(role, state)}")
            allowed = allowed_events(role, state)
            if allowed:
                lines.append(f"    {role} may send next: {', '.join(allowed)}")
        for transition in step.transitions:
            rule = getattr(transition, "rule", None)
            section = getattr(transition, "section", None)
            explanation = getattr(transition, "explanation", None)
            lines.append(f"  {transition.role}: {transition.old_state} -> {transition.new_state}"
                         + (f" (rule {rule}" + (f", {section})" if section else ")") if rule else ""))
            if explanation:
                lines.append(f"    {explanation}")
        if self.last_error is not None and self.last_error.error is not None:
            exc = self.last_error.error
            lines.append(f"  last error (connection {self.last_error.conn}): {type(exc).__name__}: {exc}")
            for name in ("rule", "section", "explanation"):
                value = getattr(exc, name, None)
                if value:
                    lines.append(f"    {name}: {value}")
            if not explainable:
                lines.append("    (engine h11 gives no rule or offset; --engine h11dbg explains more)")
        return lines


# -- diff: the same transcript through two engines -------------------------------------------

_QUEUE_LIMIT = 10_000  # steps one engine may run ahead on a connection before it counts as a difference


def _step_key(step: ReplayStep) -> tuple[Any, ...]:
    """What must match between engines: the step, its event's fields, the states; not the wording
    of error messages, offsets or transitions (h11 has none of those)."""
    if step.kind == "event":
        event = step.event
        if type(event).__name__ == "Data":
            detail: Any = (bytes(event.data), bool(getattr(event, "chunk_start", False)),
                           bool(getattr(event, "chunk_end", False)))
        else:
            detail = jsonl.dumps(jsonl.event_fields(event))
        return ("event", step.direction, type(event).__name__, detail, tuple(step.states.items()))
    if step.kind == "error":
        return ("error", step.direction, tuple(step.states.items()))
    return (step.kind, step.direction, tuple(step.states.items()), tuple((step.tunnelled or {}).items()))


class Difference:
    """Where two engines first part ways on a connection."""

    __slots__ = ("conn", "index", "first", "second")

    def __init__(self, conn: int, index: int, first: ReplayStep | None, second: ReplayStep | None) -> None:
        self.conn = conn
        self.index = index  # the step number on that connection (0-based) where the engines part ways
        self.first = first  # None: this engine had no more steps
        self.second = second

    def __repr__(self) -> str:
        return f"Difference(conn={self.conn}, index={self.index}, first={self.first!r}, second={self.second!r})"


class _Pending:
    __slots__ = ("first", "second", "matched")

    def __init__(self) -> None:
        self.first: list[ReplayStep] = []
        self.second: list[ReplayStep] = []
        self.matched = 0


class EngineDiff:
    """Feeds the same records to two replays and reports, per connection, the first difference."""

    def __init__(self, first: ModuleType, second: ModuleType) -> None:
        self._replays = (Replayer(first), Replayer(second))
        self._pending: dict[int, _Pending] = {}
        self._settled: set[int] = set()
        self.identical: dict[int, int] = {}  # conn -> steps compared, for connections that ended equal
        self.differences: list[Difference] = []

    def feed(self, record: Record) -> list[Difference]:
        first = self._replays[0].feed(record)
        second = self._replays[1].feed(record)
        return self._compare(first, second)

    def finish(self) -> list[Difference]:
        found = self._compare(self._replays[0].finish(), self._replays[1].finish())
        for conn, pending in list(self._pending.items()):
            found += self._settle(conn, pending, final=True)
        return found

    def _compare(self, first: list[ReplayStep], second: list[ReplayStep]) -> list[Difference]:
        touched: set[int] = set()
        for steps, side in ((first, "first"), (second, "second")):
            for step in steps:
                if step.conn in self._settled:
                    continue
                getattr(self._pending.setdefault(step.conn, _Pending()), side).append(step)
                touched.add(step.conn)
        found: list[Difference] = []
        for conn in touched:
            found += self._settle(conn, self._pending[conn], final=False)
        return found

    def _settle(self, conn: int, pending: _Pending, *, final: bool) -> list[Difference]:
        a, b = pending.first, pending.second
        same = 0
        while same < len(a) and same < len(b) and _step_key(a[same]) == _step_key(b[same]):
            same += 1
        ended = same > 0 and a[same - 1].kind == "end"
        pending.matched += same
        del a[:same], b[:same]
        if a and b or final and (a or b) or len(a) > _QUEUE_LIMIT or len(b) > _QUEUE_LIMIT:
            difference = Difference(conn, pending.matched, a[0] if a else None, b[0] if b else None)
            self.differences.append(difference)
            self._forget(conn)
            return [difference]
        if ended and not a and not b:
            self.identical[conn] = pending.matched
            self._forget(conn)
        return []

    def _forget(self, conn: int) -> None:
        self._settled.add(conn)
        self._pending.pop(conn, None)
