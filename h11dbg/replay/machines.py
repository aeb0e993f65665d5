"""Replay a transcript through two state machines per connection.

For each connection the client→server bytes go into a SERVER-role Connection and the
server→client bytes into a CLIENT-role Connection, exactly as each chunk was read.  Every event one
side parses is sent on the other side's machine, so both advance together: the client machine
learns the request (and so its method: HEAD, CONNECT) before it parses the response, and the server
machine learns the response before it parses the next pipelined request.

Replay is a lazy stream of :class:`ReplayStep` records, one record of the transcript at a time, so
a multi-gigabyte transcript replays in bounded memory; connections are forgotten once both sides
closed.  UI-free: h11dbg.output renders the steps.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

from h11dbg.replay.steps import ReplayStep
from h11dbg.transcript.model import DIRECTIONS, Chunk, Close, Direction, Open, Record, other_direction, sender

if TYPE_CHECKING:
    from h11dbg import engines
    from h11dbg.engines import Counting, Engine, Machine, Sentinel
    from h11dbg.protocol import Transition

    #: How a mirror machine is sent an event (see _mirror_send); Any: the engine's own event classes
    MirrorSend = Callable[[Any], object]


def make_connection(engine: Engine, role: Sentinel) -> tuple[Machine, bool]:
    """A Connection that keeps HTTP/1.0 keep-alive connections open when the engine can, and
    whether it can."""
    try:
        return engine.Connection(role, keep_alive_http10=True), True
    except TypeError:  # h11 has no such option: HTTP/1.0 connections always end after one cycle
        return engine.Connection(role), False


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b","))
    return tokens


def as_sendable(event: object, http10_keep_alive: bool) -> object:
    """The event to send on the mirror machine.

    Engines only send HTTP/1.1, but a mirror must learn what an HTTP/1.0 message means for the
    connection: it ends after this cycle unless the peer asked for keep-alive and the engine honours
    that.  So a 1.0 message is mirrored as 1.1 with ``Connection: close`` added when it must close.
    """
    version = getattr(event, "http_version", None)
    if version is None or version == b"1.1":
        return event
    # only heads carry a version: a Request, a Response or an InformationalResponse
    headers = list(cast("engines.Request | engines.Response", event).headers.raw_items())
    tokens = _connection_tokens(headers)
    if b"close" not in tokens and not (http10_keep_alive and b"keep-alive" in tokens):
        headers.append((b"Connection", b"close"))
    if type(event).__name__ == "Request":
        request = cast("engines.Request", event)
        if not any(name.lower() == b"host" for name, _ in headers):
            headers.append((b"Host", b""))  # HTTP/1.1 requires one; its value changes no state
        return type(request)(method=request.method, target=request.target, headers=headers, http_version=b"1.1")
    response = cast("engines.Response", event)
    return type(response)(status_code=response.status_code, reason=response.reason, headers=headers,
                          http_version=b"1.1")


def _how_closed(head: Any, http10_keep_alive: bool) -> str:
    """How a request or response head ends keep-alive, in words ("" when it does not)."""
    tokens = _connection_tokens(head.headers.raw_items())
    if b"close" in tokens:
        return f"its {type(head).__name__.lower()} said Connection: close"
    if head.http_version == b"1.0" and not (http10_keep_alive and b"keep-alive" in tokens):
        return f"an HTTP/1.0 {type(head).__name__.lower()} without keep-alive"
    return ""


# a request line at the start of a buffer or of a line: how many pipelined requests wait (compiled
# by re on first use: a replay without pipelining does not pay for it)
_REQUEST_LINE = rb"(?:\A|\n)[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ \r\n]+ HTTP/\d\.\d\r?\n"

# (client state, server state) -> their names; state objects are module-level sentinels
_STATE_NAMES: dict[tuple[Sentinel, Sentinel], dict[str, str]] = {}


#: How many of the slowest exchanges a replay remembers for its summary
SLOWEST = 3

#: An exchange's timing: (total, conn, "METHOD target", first byte), seconds from its request
ExchangeTiming = tuple[float, int, str, float]


class _ConnectionReplay:
    def __init__(self, engine: Engine, conn: int, slowest: list[ExchangeTiming] | None = None) -> None:
        self.engine = engine
        self.conn = conn
        # requests not answered yet (when their bytes arrived, the Request), when the response
        # in progress arrived, and the slowest exchanges so far (shared by the replay)
        self.unanswered: deque[tuple[float, Any]] = deque()
        self.response_at: float | None = None
        self.slowest: list[ExchangeTiming] = [] if slowest is None else slowest
        self.server, self.http10_keep_alive = make_connection(engine, engine.SERVER)  # parses c2s bytes
        self.client, _ = make_connection(engine, engine.CLIENT)  # parses s2c bytes
        server, client = self.server, self.client
        self.fed: dict[Direction, int] = {"c2s": 0, "s2c": 0}
        self.closed: set[Direction] = set()
        # directions whose parser gives no more events: it reported ConnectionClosed, or an error
        self.finished: set[Direction] = set()
        self.failed = False  # an error on either side: the connection counts as one with an error
        # per direction that stopped at an error: where (byte offset), and how many bytes from there
        # on were not parsed; the other direction is read on to its own end
        self.stopped_at: dict[Direction, int] = {}
        self.unparsed: dict[Direction, int] = {}
        # the last request and response heads parsed, for an error's plain note
        self.last_request: Any = None
        self.last_response: Any = None
        self.reset = False
        self.switched = False
        self.tunnelled: dict[Direction, int] = {"c2s": 0, "s2c": 0}
        # per direction: (bytes fed up to the end of a chunk, the time it arrived), the last few
        # chunks; events parsed from bytes that waited in a buffer are stamped with their arrival
        self.arrivals: dict[Direction, list[tuple[int, float]]] = {"c2s": [], "s2c": []}
        self.paused: dict[Direction, float] = {}  # a direction whose parser said PAUSED, since when
        # pauses not said yet: where in the pump's steps they go, said only if they outlast the pump
        # (bytes of the next response that wait only for the keep-alive cycle due at once are no news)
        self._unsaid: dict[Direction, tuple[int, ReplayStep]] = {}
        # Each machine reports its own transitions; a step shows the parsing machine's (the mirror
        # repeats them).
        self._server_moves: list[Transition] = []
        self._client_moves: list[Transition] = []
        self._roles = (engine.CLIENT, engine.SERVER)
        self.last_states: dict[str, str] = self.states(client)
        if hasattr(server, "add_observer") and hasattr(client, "add_observer"):
            server.add_observer(self._server_moves.append)
            client.add_observer(self._client_moves.append)
        self._consumed = hasattr(server, "bytes_consumed")  # h11dbg's engine counts them; h11 does not
        # the same machines, typed for reading that count (only read when _consumed)
        self._server_counts, self._client_counts = cast("Counting", server), cast("Counting", client)
        self._mirror_server = _mirror_send(server)
        self._mirror_client = _mirror_send(client)

    def _take_transitions(self, machine: Machine) -> tuple[Transition, ...]:
        server, client = self._server_moves, self._client_moves
        if not server and not client:  # most events (Data) move no state
            return ()
        taken = tuple(server if machine is self.server else client)
        server.clear()
        client.clear()
        return taken

    def _unread(self, direction: Direction) -> int:
        """How many bytes of ``direction`` its parser has not made events of yet."""
        if self._consumed:
            counts = self._server_counts if direction == "c2s" else self._client_counts
            return self.fed[direction] - counts.bytes_consumed
        return len((self.server if direction == "c2s" else self.client).trailing_data[0])

    def _sides(self, direction: Direction) -> tuple[Machine, Machine]:
        """(the machine that parses ``direction``, its mirror)."""
        return (self.server, self.client) if direction == "c2s" else (self.client, self.server)

    def states(self, machine: Machine) -> dict[str, str]:
        """The state names as ``machine`` sees them.  Steps share these dicts: read them only."""
        states = machine.states
        client, server = self._roles
        key = (states[client], states[server])
        names = _STATE_NAMES.get(key)
        if names is None:
            names = {"client": str(key[0]), "server": str(key[1])}
            if len(_STATE_NAMES) < 1024:  # engines have a dozen states; this bounds an odd one
                _STATE_NAMES[key] = names
        self.last_states = names
        return names

    # -- input -------------------------------------------------------------------------------

    def data(self, direction: Direction, data: bytes, time: float) -> list[ReplayStep]:
        if self.switched:
            self.tunnelled[direction] += len(data)
            return []
        if self.reset:
            return []
        if direction in self.unparsed:
            self.unparsed[direction] += len(data)
            return []
        parser = self.server if direction == "c2s" else self.client
        fed = self.fed[direction] = self.fed[direction] + len(data)
        arrivals = self.arrivals[direction]
        arrivals.append((fed, time))
        if len(arrivals) > 64:  # more chunks than that waiting unparsed is rare: keep it bounded
            del arrivals[:32]
        try:
            parser.receive_data(data)
        except RuntimeError as exc:  # bytes after that side's close
            return [self._fail(direction, time, exc, parser)]
        return self._pump(time, direction)

    def eof(self, direction: Direction, time: float) -> list[ReplayStep]:
        self.closed.add(direction)
        steps = [ReplayStep("close", self.conn, time, direction, text=f"the {sender(direction)} stopped sending",
                            states=self.last_states)]
        if not (self.switched or self.reset or direction in self.unparsed):
            parser, _ = self._sides(direction)
            try:
                parser.receive_data(b"")
            except RuntimeError as exc:  # a second close from the same side
                steps.append(self._fail(direction, time, exc, parser))
                return steps
            steps += self._pump(time)
        return steps

    def abort(self, direction: Direction, time: float) -> list[ReplayStep]:
        text = f"the {sender(direction)} reset the connection"
        steps = [ReplayStep("reset", self.conn, time, direction, text=text, states=self.last_states)]
        if not self.switched:
            for open_direction in DIRECTIONS:
                if open_direction not in self.closed and open_direction not in self.finished:
                    steps += self._cut_short(open_direction, time)
        self.reset = True
        self.closed.update(DIRECTIONS)
        return steps

    def _cut_short(self, direction: Direction, time: float) -> list[ReplayStep]:
        """An error if the reset came in the middle of ``direction``'s message (a head begun, a body
        short of its length or its last chunk): the engine is told that the bytes end here, as at a
        close, and what it refuses is reported as cut short by the reset.  Between messages, and in
        a body read until the close, a reset cuts nothing that can be told."""
        parser, _ = self._sides(direction)
        engine = self.engine
        state = parser.their_state
        begun = state in (engine.IDLE, engine.SEND_RESPONSE) and self._unread(direction)  # a head
        if not (state is engine.SEND_BODY or begun):
            return []
        parser.receive_data(b"")
        try:
            parser.next_event()
        except engine.RemoteProtocolError as exc:
            import re

            step = self._fail(direction, time, exc, parser)
            what = "request" if direction == "c2s" else "response"
            count = re.search(r"received (\d+) bytes, expected (\d+)", str(exc))
            step.text = (f"the {what} was cut short by the reset: "
                         + (f"{count[1]} of its {count[2]} body bytes arrived" if count else
                            "its body's last chunk never came" if state is engine.SEND_BODY else
                            f"its head is incomplete ({self._unread(direction)} bytes)"))
            return [step]
        return []

    # -- the two machines --------------------------------------------------------------------

    def _pump(self, time: float, fresh: Direction | None = None) -> list[ReplayStep]:
        steps = self._run(time, fresh)
        if self._unsaid:
            for index, step in sorted(self._unsaid.values(), key=lambda said: said[0], reverse=True):
                steps.insert(index, step)
            self._unsaid.clear()
        return steps

    def _run(self, time: float, fresh: Direction | None) -> list[ReplayStep]:
        """Run both machines until neither can move; ``fresh``: the direction that just got bytes.

        Between two pumps both parsers wait (NEED_DATA or PAUSED) and no keep-alive cycle is due.
        A parser runs until it waits again; it is asked once more only when something it does not
        know of moved since: the other parser's events (mirrored into its machine) or a keep-alive
        cycle.  And only when it has something to read: unread bytes, or the close of its side
        (events come from nothing else).  So a chunk in the middle of a body costs its Data events
        and one NEED_DATA, nothing more.

        The directions are compared with their constants here rather than through the helpers of
        h11dbg.transcript.model: a call per event is what this loop must not spend.
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
            for direction in DIRECTIONS:
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
                if (fresh is not None and direction != fresh) or direction in self.paused:
                    # bytes that waited in the buffer (pipelined, or ahead of what they answer)
                    outcome = self._parse_waiting(direction, parser, mirror_send, time, steps,
                                                  late=fresh is not None and direction != fresh)
                    if outcome == "stop":
                        return steps
                    moved = outcome == "moved"
                    if moved:
                        moved_any = True
                        if direction == "c2s":
                            ask_s2c = True
                        else:
                            ask_c2s = True
                    continue
                moved = False
                next_event = parser.next_event
                while True:
                    try:
                        event = next_event()
                    except Exception as exc:
                        # this direction stops here; the other is read on to its own end
                        steps.append(self._parse_failed(direction, time, exc, parser))
                        break
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
                    if event is need_data:
                        break
                    if event is paused:
                        pause = self._pause(direction, parser, time)
                        if pause is not None:
                            self._unsaid[direction] = (len(steps), pause)
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
            cycled = None
            for machine in (self.server, self.client):
                if machine.our_state is engine.DONE and machine.their_state is engine.DONE:
                    machine.start_next_cycle()
                    ask_c2s = ask_s2c = True
                    cycled = machine
            if cycled is not None:  # both machines agree (or one stopped at an error): one note
                steps.append(
                    ReplayStep("cycle", conn, time, None, states=self.states(cycled),
                               text="both sides DONE: start_next_cycle (keep-alive)",
                               transitions=self._take_transitions(cycled))
                )
        return steps

    def _parse_waiting(self, direction: Direction, parser: Machine, mirror_send: MirrorSend, time: float,
                       steps: list[ReplayStep], *, late: bool) -> str:
        """_pump's reading of one direction when its bytes waited (``late``: they arrived before this
        pump, so each event is stamped with the time its bytes arrived) or its parser was PAUSED (it
        says when it reads on).  "moved", "stop" or "" (nothing moved)."""
        engine = self.engine
        moved = False
        while True:
            try:
                event = parser.next_event()
            except Exception as exc:
                steps.append(self._parse_failed(direction, time, exc, parser))
                break
            if event is engine.NEED_DATA:
                break
            if event is engine.PAUSED:
                pause = None if direction in self.paused else self._pause(direction, parser, time)
                if pause is not None:
                    self._unsaid[direction] = (len(steps), pause)
                break
            since = self.paused.pop(direction, None)
            if since is not None and self._unsaid.pop(direction, None) is None:
                steps.append(self._resume(direction, since, time))
            stamp = self._arrived(direction) if late else time
            if type(event) is engine.Data:
                try:
                    mirror_send(event)
                except Exception as exc:
                    steps.append(self._mirror_failed(direction, stamp, exc, parser))
                    return "stop"
                steps.append(ReplayStep("event", self.conn, stamp, direction, event, self.last_states))
                continue
            outcome = self._take_event(direction, parser, mirror_send, event, stamp, steps)
            if outcome == "stop":
                return "stop"
            moved = True
            if outcome == "closed":
                break
        return "moved" if moved else ""

    def _arrived(self, direction: Direction) -> float:
        """When the bytes of the event just parsed from ``direction`` arrived: the time of the chunk
        that held its last byte (the oldest chunk known, if it held more than the last 32)."""
        consumed = self.fed[direction] - self._unread(direction)
        arrivals = self.arrivals[direction]
        while len(arrivals) > 1 and arrivals[0][0] < consumed:
            del arrivals[0]  # chunks wholly parsed already
        return arrivals[0][1]

    def _pause(self, direction: Direction, parser: Machine, time: float) -> ReplayStep | None:
        """A parser said PAUSED: what waits in its buffer, and for what (None when nothing waits:
        h11 also pauses a machine that might switch protocols, bytes or not)."""
        waiting = bytes(parser.trailing_data[0])
        if not waiting:
            return None
        self.paused[direction] = time
        machine = "server" if direction == "c2s" else "client"
        if parser.their_state is not self.engine.DONE:
            why = "until the protocol switch is settled"
        elif direction == "c2s":
            requests = len(re.findall(_REQUEST_LINE, waiting))
            what = (f"{requests} more pipelined request{'s' if requests != 1 else ''}" if requests
                    else "the next request")
            why = f"({what}) until the response in progress is done"
        else:
            why = "until the client's next request is known"
        return ReplayStep("paused", self.conn, time, direction, states=self.states(parser),
                          text=f"{len(waiting)} byte{'s' if len(waiting) != 1 else ''} wait in the {machine} "
                               f"machine's buffer {why}")

    def _resume(self, direction: Direction, since: float, time: float) -> ReplayStep:
        machine = "server" if direction == "c2s" else "client"
        return ReplayStep("resumed", self.conn, time, direction, states=self.last_states,
                          text=f"the {machine} machine reads its buffer again (PAUSED since {since:.6f}); the "
                               "events below are stamped with the time their bytes arrived")

    def _take_event(self, direction: Direction, parser: Machine, mirror_send: MirrorSend, event: object,
                    time: float, steps: list[ReplayStep]) -> str:
        """Mirror one parsed event other than Data and record its step: "moved", "closed" or "stop"."""
        engine = self.engine
        try:
            mirror_send(as_sendable(event, self.http10_keep_alive))
        except Exception as exc:
            steps.append(self._mirror_failed(direction, time, exc, parser))
            return "stop"
        states = self.states(parser)
        step = ReplayStep("event", self.conn, time, direction, event, states,
                          transitions=self._take_transitions(parser))
        steps.append(step)
        if type(event) is engine.ConnectionClosed:
            self.finished.add(direction)
            return "closed"
        if type(event) is engine.Request:
            self.last_request = event
            self.unanswered.append((time, event))
        elif type(event) is engine.Response:
            self.last_response = event
            self.response_at = time
        elif type(event) is engine.EndOfMessage and direction == "s2c" and self.response_at is not None:
            self._time_exchange(step)
        if "SWITCHED_PROTOCOL" in (states["client"], states["server"]) and (
                engine.SWITCHED_PROTOCOL in (parser.our_state, parser.their_state)):
            steps.append(self._switch(time))
            return "stop"
        return "moved"

    def _time_exchange(self, step: ReplayStep) -> None:
        """A response is complete (``step`` is its EndOfMessage): how long after its request its
        first and last bytes arrived, as curl's time_starttransfer and time_total count from the
        request, kept on ``step`` (none when the transcript has no times).  On the step, not a step
        of its own: one more step per exchange cost a replay 1% of its instructions."""
        first_at, self.response_at = self.response_at, None
        if not self.unanswered or first_at is None:
            return
        sent, request = self.unanswered.popleft()
        time = step.time
        if sent == first_at == time == 0.0:  # an input without times (curl --trace without --trace-time)
            return
        # in whole microseconds, as a transcript writes times (a converted capture says the same), and
        # without round(x, 6): its decimal rounding costs as much as the rest of the exchange's steps
        sent_us = round(sent * 1_000_000)
        first_byte = (round(first_at * 1_000_000) - sent_us) / 1_000_000
        total = (round(time * 1_000_000) - sent_us) / 1_000_000
        label = (request.method + b" " + request.target).decode("ascii", "replace")
        slowest = self.slowest
        exchange = (total, self.conn, label, first_byte)
        # (most exchanges are quicker than the last one kept: one comparison says so)
        if len(slowest) < SLOWEST or total >= slowest[-1][0] and _by_total(exchange) < _by_total(slowest[-1]):
            slowest.append(exchange)
            slowest.sort(key=_by_total)  # (a few items; heapq would cost the replay's start-up a C module)
            del slowest[SLOWEST:]
        step.text = label
        step.timing = {"dns": None, "connect": None, "tls": None, "first_byte": first_byte, "total": total}

    def _parse_failed(self, direction: Direction, time: float, exc: Exception, parser: Machine) -> ReplayStep:
        # anything but RemoteProtocolError is an engine bug, and must not end the replay (h11 has a few)
        crashed = not isinstance(exc, self.engine.RemoteProtocolError)
        return self._fail(direction, time, exc, parser, crashed=crashed)

    def _mirror_failed(self, direction: Direction, time: float, exc: Exception, parser: Machine) -> ReplayStep:
        crashed = not isinstance(exc, self.engine.LocalProtocolError)
        step = self._fail(direction, time, exc, parser, mirrored=True, crashed=crashed)
        # the two machines disagree: neither can be trusted further
        other = other_direction(direction)
        self._stop(other, self.fed[other] - self._unread(other))
        return step

    def _switch(self, time: float) -> ReplayStep:
        self.switched = True
        self.tunnelled["c2s"] = len(self.server.trailing_data[0])
        self.tunnelled["s2c"] = len(self.client.trailing_data[0])
        return ReplayStep("switch", self.conn, time, None, states=self.states(self.client),
                          text="protocol switched: the bytes that follow are tunnelled, not HTTP/1.1",
                          transitions=self._take_transitions(self.client))

    def _fail(
        self, direction: Direction, time: float, exc: BaseException, parser: Machine, *, mirrored: bool = False,
        crashed: bool = False,
    ) -> ReplayStep:
        offset = getattr(exc, "offset", None)
        exact = offset is not None
        if offset is None:
            # Without the engine's help: parsing stopped somewhere in the bytes it had not consumed.
            offset = self.fed[direction] - len(parser.trailing_data[0])
        self._stop(direction, offset)
        text = None
        if mirrored:
            text = (f"the {sender(direction)} machine refused the event the "
                    "other machine parsed (the two machines disagree)")
        if crashed:
            text = (text + "; " if text else "") + (
                f"the engine itself failed with {type(exc).__name__} (an engine bug, met on bytes it "
                "should have refused)")
        elif not mirrored and direction == "c2s" and self._keep_alive_ended_by_server():
            text = (f"note: the server ended keep-alive ({self._how_response_closed()}) with the client's "
                    f"pipelined requests still unanswered ({self.fed[direction] - offset} bytes from byte {offset})")
        step = ReplayStep("error", self.conn, time, direction, error=exc, states=self.states(parser),
                          offset=offset, offset_exact=exact, text=text,
                          transitions=self._take_transitions(parser))
        # the steps of the other direction, read on, show its machine's states
        self.states(self.client if direction == "c2s" else self.server)
        return step

    def _stop(self, direction: Direction, offset: int) -> None:
        """Parsing of ``direction`` ends at ``offset``; the other direction goes on.  Its machine is no
        mirror any more: it is sent nothing (it may refuse anything after its error)."""
        self.failed = True
        if direction in self.unparsed:
            return
        self.finished.add(direction)
        self.stopped_at[direction] = offset
        self.unparsed[direction] = self.fed[direction] - offset
        if direction == "c2s":
            self._mirror_server = _ignore
        else:
            self._mirror_client = _ignore

    def _keep_alive_ended_by_server(self) -> bool:
        """Whether the client's bytes came after a response that closed the connection although the
        client's request had not asked for that: the server's doing, not the client's."""
        return (self.client.our_state is self.engine.MUST_CLOSE and self.last_request is not None
                and not _how_closed(self.last_request, self.http10_keep_alive)
                and bool(self._how_response_closed()))

    def _how_response_closed(self) -> str:
        return "" if self.last_response is None else _how_closed(self.last_response, self.http10_keep_alive)

    def end(self, time: float) -> ReplayStep:
        notes: list[str] = []
        for direction in DIRECTIONS:
            unparsed = self.unparsed.get(direction)
            if unparsed is not None:
                notes.append(f"{direction}: stopped at its error (byte {self.stopped_at[direction]})"
                             + (f", {unparsed} bytes from there not parsed" if unparsed else ""))
            elif not (self.switched or self.reset):
                parser, _ = self._sides(direction)
                left = len(parser.trailing_data[0])
                if left and self.unparsed:
                    notes.append(f"{direction}: {left} bytes not parsed: its machine waits on the "
                                 f"{other_direction(direction)} side, which stopped at its error")
                elif left:
                    notes.append(f"{left} {direction} bytes never completed a message")
                elif self.unparsed:
                    notes.append(f"{direction}: read to its end")
        return ReplayStep("end", self.conn, time, None, states=self.last_states,
                          text="; ".join(notes) or None,
                          tunnelled=dict(self.tunnelled) if self.switched else None)


def _ignore(event: object) -> None:
    """The mirror of a machine that stopped at an error: nothing is sent to it any more."""


def _mirror_send(machine: Machine) -> MirrorSend:
    """How to send on ``machine`` as a mirror: only its states matter, not the wire bytes nor its
    own account of the moves (a step shows the parsing machine's), and h11dbg's engine can skip
    both; h11 sends."""
    advance = getattr(machine, "advance", None)
    if advance is None:
        return machine.send_with_data_passthrough
    return functools.partial(advance, observe=False)


class Replayer:
    """Feeds records one at a time; :attr:`errors` counts connections that hit a protocol error."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._replays: dict[int, _ConnectionReplay] = {}
        self._last_time = 0.0
        self.errors = 0
        self.connections = 0
        self._reset: set[int] = set()  # connections that ended with a reset
        self.slowest: list[ExchangeTiming] = []  # the SLOWEST slowest exchanges, slowest first

    def _replay(self, conn: int) -> _ConnectionReplay:
        replay = self._replays.get(conn)
        if replay is None:
            replay = self._replays[conn] = _ConnectionReplay(self.engine, conn, self.slowest)
            self.connections += 1
        return replay

    def feed(self, record: Record) -> list[ReplayStep]:
        time = record.time
        if time > self._last_time:
            self._last_time = time
        if type(record) is Chunk:  # nearly every record: the short way (a chunk ends no connection)
            replay = self._replays.get(record.conn) or self._replay(record.conn)
            if replay.failed:
                return replay.data(record.direction, record.data, time)
            steps = replay.data(record.direction, record.data, time)
            if replay.failed:
                self.errors += 1
            return steps
        if isinstance(record, Open):
            fresh = record.conn not in self._replays
            replay = self._replay(record.conn)
            if not fresh:
                return []
            return [ReplayStep("open", record.conn, record.time, None, states=replay.states(replay.client),
                               peers=(record.client, record.server))]
        if record.conn in self._reset and record.conn not in self._replays:
            # nothing follows a reset; older recordings (h11dbg's own before it recorded one end per
            # direction) wrote their close of the socket after it: no second connection
            return []
        replay = self._replay(record.conn)
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
            del self._replays[record.conn]
            if replay.reset:
                self._reset.add(record.conn)
            else:
                self._reset.discard(record.conn)
        return steps

    def finish(self, last_time: float | None = None) -> list[ReplayStep]:
        """End steps for connections the transcript left open, at the transcript's last time
        (``last_time`` when records were seen elsewhere too: a replay split across processes)."""
        time = self._last_time if last_time is None else max(last_time, self._last_time)
        steps = [replay.end(time) for replay in self._replays.values()]
        self._replays.clear()
        return steps


def _by_total(exchange: ExchangeTiming) -> tuple[float, int, str, float]:
    """Slowest first; of equally slow ones, the first connection first, then by request (an order of
    its own, so the same exchanges are named however the replay was split across processes)."""
    return -exchange[0], exchange[1], exchange[2], exchange[3]


def slowest_exchanges(*found: Iterable[ExchangeTiming]) -> list[ExchangeTiming]:
    """The SLOWEST slowest exchanges among ``found`` (replayers' :attr:`Replayer.slowest`), slowest first."""
    return sorted((exchange for some in found for exchange in some), key=_by_total)[:SLOWEST]


def replay(records: Iterable[Record], engine: Engine) -> Iterator[ReplayStep]:
    replayer = Replayer(engine)
    for record in records:
        yield from replayer.feed(record)
    yield from replayer.finish()


