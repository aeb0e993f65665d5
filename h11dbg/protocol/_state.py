"""The connection state machine, written as data, and the reasons for every move.

HTTP/1.1 has two parties.  Each role (CLIENT, SERVER) has a state; events a
role sends move *its* state (the event-triggered table), and some combinations
of both states move one of them (the state-triggered rules: keep-alive off,
a protocol switch proposed or accepted, the other side closed).

Every move is recorded as a :class:`Transition` that says why it happened and
where the RFC says so, so the debugger can explain any state it shows.  When
nobody listens, the only cost is appending a tuple to a short list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn

from ._events import ConnectionClosed, Data, EndOfMessage, Event, InformationalResponse, Request, Response
from ._util import LocalProtocolError, Sentinel

__all__ = [
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
    "ConnectionState",
    "Edge",
    "Transition",
    "allowed_events",
    "describe_state",
    "state_machine",
]


# fmt: off
class CLIENT(Sentinel, metaclass=Sentinel): pass                  # noqa: E701
class SERVER(Sentinel, metaclass=Sentinel): pass                  # noqa: E701

class IDLE(Sentinel, metaclass=Sentinel): pass                    # noqa: E701
class SEND_RESPONSE(Sentinel, metaclass=Sentinel): pass           # noqa: E701
class SEND_BODY(Sentinel, metaclass=Sentinel): pass               # noqa: E701
class DONE(Sentinel, metaclass=Sentinel): pass                    # noqa: E701
class MUST_CLOSE(Sentinel, metaclass=Sentinel): pass              # noqa: E701
class CLOSED(Sentinel, metaclass=Sentinel): pass                  # noqa: E701
class ERROR(Sentinel, metaclass=Sentinel): pass                   # noqa: E701
class MIGHT_SWITCH_PROTOCOL(Sentinel, metaclass=Sentinel): pass   # noqa: E701
class SWITCHED_PROTOCOL(Sentinel, metaclass=Sentinel): pass       # noqa: E701

# The two kinds of protocol switch a client can propose (RFC 9110 §7.8 Upgrade, §9.3.6 CONNECT).
class _SWITCH_UPGRADE(Sentinel, metaclass=Sentinel): pass         # noqa: E701
class _SWITCH_CONNECT(Sentinel, metaclass=Sentinel): pass         # noqa: E701
# fmt: on

Role = type[Sentinel]
State = type[Sentinel]
EventType = type[Event] | tuple[type[Event], Any]


@dataclass(frozen=True)
class Rule:
    id: str
    explanation: str
    section: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.id: rule for rule in rules}


RULES = _rules(
    Rule("request-sent", "the client sent a request head; its body (possibly empty) comes next",
         "RFC 9112 §3"),
    Rule("request-received", "a request arrived, so the server owes it a response", "RFC 9112 §3"),
    Rule("informational-response", "a 1xx interim response was sent; the final response is still due",
         "RFC 9110 §15.2"),
    Rule("final-response", "the final response head was sent; its body (possibly empty) comes next",
         "RFC 9112 §4"),
    Rule("body-data", "more of the message body was sent", "RFC 9112 §6"),
    Rule("end-of-message", "the message is complete as its framing says", "RFC 9112 §6.3"),
    Rule("connection-closed", "this side closed its half of the connection", "RFC 9112 §9.6"),
    Rule("upgrade-accepted",
         "the server answered the Upgrade proposal with 101 Switching Protocols: the connection now "
         "speaks another protocol", "RFC 9110 §15.2.2"),
    Rule("connect-accepted",
         "the server answered CONNECT with 2xx: the connection is now a tunnel", "RFC 9110 §9.3.6"),
    Rule("switch-proposed",
         "the client proposed a protocol switch (Upgrade or CONNECT) and must wait to see if the "
         "server accepts before sending anything more", "RFC 9110 §7.8"),
    Rule("switch-declined",
         "the server sent an ordinary final response, so the proposed protocol switch is off",
         "RFC 9110 §7.8"),
    Rule("switch-followed", "the server accepted the switch, so the client switches too",
         "RFC 9110 §7.8"),
    Rule("keep-alive-disabled",
         "a message said `Connection: close` or used HTTP/1.0, so no further request may use this "
         "connection", "RFC 9112 §9.3"),
    Rule("peer-closed",
         "the other side has closed, so nothing more can be exchanged on this connection",
         "RFC 9112 §9.6"),
    Rule("peer-error",
         "the other side broke the protocol, so this connection cannot be reused", "RFC 9112 §9.6"),
    Rule("protocol-error", "a protocol error happened on this side", "RFC 9112 §2.2"),
    Rule("next-cycle",
         "both sides finished their messages on a persistent connection, so a new request may start",
         "RFC 9112 §9.3"),
)

# (role, state) -> {event type: (new state, rule id)}.  The server's IDLE state also reacts to the
# client's Request (it must now respond): that entry is keyed (Request, CLIENT).
_EVENT_TRANSITIONS: dict[Role, dict[State, dict[EventType, tuple[State, str]]]] = {
    CLIENT: {
        IDLE: {Request: (SEND_BODY, "request-sent"), ConnectionClosed: (CLOSED, "connection-closed")},
        SEND_BODY: {Data: (SEND_BODY, "body-data"), EndOfMessage: (DONE, "end-of-message")},
        DONE: {ConnectionClosed: (CLOSED, "connection-closed")},
        MUST_CLOSE: {ConnectionClosed: (CLOSED, "connection-closed")},
        CLOSED: {ConnectionClosed: (CLOSED, "connection-closed")},
        MIGHT_SWITCH_PROTOCOL: {},
        SWITCHED_PROTOCOL: {},
        ERROR: {},
    },
    SERVER: {
        IDLE: {
            ConnectionClosed: (CLOSED, "connection-closed"),
            Response: (SEND_BODY, "final-response"),
            (Request, CLIENT): (SEND_RESPONSE, "request-received"),
        },
        SEND_RESPONSE: {
            InformationalResponse: (SEND_RESPONSE, "informational-response"),
            Response: (SEND_BODY, "final-response"),
            (InformationalResponse, _SWITCH_UPGRADE): (SWITCHED_PROTOCOL, "upgrade-accepted"),
            (Response, _SWITCH_CONNECT): (SWITCHED_PROTOCOL, "connect-accepted"),
        },
        SEND_BODY: {Data: (SEND_BODY, "body-data"), EndOfMessage: (DONE, "end-of-message")},
        DONE: {ConnectionClosed: (CLOSED, "connection-closed")},
        MUST_CLOSE: {ConnectionClosed: (CLOSED, "connection-closed")},
        CLOSED: {ConnectionClosed: (CLOSED, "connection-closed")},
        SWITCHED_PROTOCOL: {},
        ERROR: {},
    },
}

# (client state, server state) -> (role that moves, its new state, rule id)
_JOINT_TRANSITIONS: dict[tuple[State, State], tuple[Role, State, str]] = {
    (MIGHT_SWITCH_PROTOCOL, SWITCHED_PROTOCOL): (CLIENT, SWITCHED_PROTOCOL, "switch-followed"),
    (CLOSED, DONE): (SERVER, MUST_CLOSE, "peer-closed"),
    (CLOSED, IDLE): (SERVER, MUST_CLOSE, "peer-closed"),
    (ERROR, DONE): (SERVER, MUST_CLOSE, "peer-error"),
    (DONE, CLOSED): (CLIENT, MUST_CLOSE, "peer-closed"),
    (IDLE, CLOSED): (CLIENT, MUST_CLOSE, "peer-closed"),
    (DONE, ERROR): (CLIENT, MUST_CLOSE, "peer-error"),
}

_STATE_TEXT: dict[State, str] = {
    IDLE: "nothing sent yet in this request/response cycle",
    SEND_RESPONSE: "a request has arrived and the server owes a response (1xx interim ones allowed first)",
    SEND_BODY: "sending a message body, until the framing says it is complete",
    DONE: "this side's message is complete; waiting for the other side before the next cycle",
    MUST_CLOSE: "this side's message is complete but the connection cannot be reused: close it",
    CLOSED: "this side has closed the connection",
    ERROR: "a protocol error happened; the connection is unusable",
    MIGHT_SWITCH_PROTOCOL: "the client proposed a protocol switch and waits for the server's answer",
    SWITCHED_PROTOCOL: "the connection now speaks another protocol; HTTP/1.1 is over",
}


# The moves ConnectionState._settle and start_next_cycle make in code, written out for the state
# diagram: (role, old, new, rule id, what triggers it).  tests/protocol/test_state_table.py drives the
# engine through every reachable state and holds this list (with the two tables above) to exactly the
# moves it makes.
_CODED_MOVES: tuple[tuple[Role, State, State, str, str], ...] = (
    (CLIENT, DONE, MIGHT_SWITCH_PROTOCOL, "switch-proposed", "Upgrade/CONNECT sent"),
    (CLIENT, MIGHT_SWITCH_PROTOCOL, DONE, "switch-declined", "server's final response"),
    (CLIENT, DONE, MUST_CLOSE, "keep-alive-disabled", "keep-alive off"),
    (SERVER, DONE, MUST_CLOSE, "keep-alive-disabled", "keep-alive off"),
    (CLIENT, DONE, IDLE, "next-cycle", "start_next_cycle()"),
    (SERVER, DONE, IDLE, "next-cycle", "start_next_cycle()"),
)


class Edge(NamedTuple):
    """One move of a role's state machine: from ``old_state`` to ``new_state`` on ``trigger`` (an
    event the role sends, or what the other side or the connection did), by rule ``rule``."""

    role: Role
    old_state: State
    new_state: State
    trigger: str
    rule: str


def state_machine(role: Role) -> tuple[Edge, ...]:
    """Every move ``role``'s state can make, from the tables the engine runs on (self-loops such as
    Data in SEND_BODY included).  Any state also moves to ERROR on a protocol error (rule
    ``protocol-error``), which is not listed per state."""
    edges: list[Edge] = []
    for old, moves in _EVENT_TRANSITIONS[role].items():
        for key, (new, rule) in moves.items():
            if isinstance(key, tuple):
                event, why = key
                trigger = ("client's Request" if why is CLIENT else "101 accepting Upgrade" if why is _SWITCH_UPGRADE
                           else "2xx accepting CONNECT")
            else:
                trigger = key.__name__
            edges.append(Edge(role, old, new, trigger, rule))
    other = SERVER if role is CLIENT else CLIENT
    for (client, server), (mover, new, rule) in _JOINT_TRANSITIONS.items():
        if mover is role:
            old, theirs = (client, server) if role is CLIENT else (server, client)
            edges.append(Edge(role, old, new, f"{str(other).lower()} {theirs}", rule))
    edges += [Edge(mover, old, new, trigger, rule) for mover, old, new, rule, trigger in _CODED_MOVES if mover is role]
    return tuple(edges)


def describe_state(role: Role, state: State) -> str:
    """One sentence on what ``state`` means for ``role``."""
    return f"{role}: {_STATE_TEXT.get(state, 'unknown state')}"


def allowed_events(role: Role, state: State) -> tuple[str, ...]:
    """The names of the events ``role`` may send next from ``state``."""
    names: list[str] = []
    for key in _EVENT_TRANSITIONS.get(role, {}).get(state, {}):
        if isinstance(key, tuple):
            if key[1] is CLIENT:  # the server's view of the client's request, not a server event
                continue
            key = key[0]
        if key.__name__ not in names:
            names.append(key.__name__)
    return tuple(names)


class Transition(NamedTuple):
    """One state change: who moved, from where to where, and why.

    An immutable record (a named tuple: cheap to build, since a replay builds one per state change).
    """

    role: Role
    old_state: State
    new_state: State
    cause: str  # the event class name, or what the connection did ("start_next_cycle", ...)
    rule: str
    explanation: str
    section: str
    event: Event | None = None

    def __str__(self) -> str:
        return (
            f"{self.role}: {self.old_state} -> {self.new_state} ({self.cause}): "
            f"{self.explanation} [{self.section}]"
        )

    @classmethod
    def build(cls, role: Role, old: State, new: State, rule_id: str, cause: str,
              event: Event | None, error: BaseException | None = None) -> Transition:
        rule = RULES[rule_id]
        if rule_id == "protocol-error" and error is not None:
            # say which error, and cite the rule it broke rather than a generic section
            section = getattr(error, "section", None) or rule.section
            return cls(role, old, new, cause, rule.id, f"{rule.explanation}: {error}", section, event)
        # tuple.__new__ directly: the named tuple's own __new__ is a Python-level call, and a
        # replay builds one Transition per state change of two machines
        return _new_tuple(cls, (role, old, new, cause, rule.id, rule.explanation, rule.section, event))


_new_tuple = tuple.__new__


class ConnectionState:
    """Both roles' states plus the two facts that drive the joint rules.

    ``changes`` collects ``(role, old, new, rule id)`` for every move since the
    caller last cleared it; the connection turns them into Transitions only when
    someone observes.
    """

    __slots__ = ("keep_alive", "pending_switch_proposals", "states", "changes")

    def __init__(self) -> None:
        self.keep_alive = True
        self.pending_switch_proposals: set[type[Sentinel]] = set()
        self.states: dict[Role, State] = {CLIENT: IDLE, SERVER: IDLE}
        self.changes: list[tuple[Role, State, State, str]] = []

    def _move(self, role: Role, new: State, rule: str) -> None:
        old = self.states[role]
        if old is not new:
            self.states[role] = new
            self.changes.append((role, old, new, rule))

    def process_error(self, role: Role) -> None:
        self._move(role, ERROR, "protocol-error")
        self._settle()

    def process_keep_alive_disabled(self) -> None:
        self.keep_alive = False
        self._settle()

    def process_client_switch_proposal(self, switch_event: type[Sentinel]) -> None:
        self.pending_switch_proposals.add(switch_event)
        self._settle()

    def process_event(self, role: Role, event_type: type[Event],
                      server_switch_event: type[Sentinel] | None = None) -> None:
        key: EventType = event_type
        if server_switch_event is not None:
            if server_switch_event not in self.pending_switch_proposals:
                raise LocalProtocolError(
                    f"Received server {server_switch_event} event without a pending proposal",
                    rule="switch-unproposed", section="RFC 9110 §7.8",
                    explanation="a server may only switch protocols when the client proposed it",
                )
            key = (event_type, server_switch_event)
        elif event_type is Response:
            # an ordinary final response declines every pending proposal
            self.pending_switch_proposals = set()
        self._fire(role, key)
        if event_type is Request:
            self._fire(SERVER, (Request, CLIENT))
        self._settle()

    def _fire(self, role: Role, key: EventType) -> None:
        states = self.states
        state = states[role]
        entry = _EVENT_TRANSITIONS[role][state].get(key)
        if entry is None:
            self._refuse(role, state, key)
        new, rule = entry
        if new is not state:  # self-loops (Data, 1xx) change nothing and are not recorded
            states[role] = new
            self.changes.append((role, state, new, rule))

    def _refuse(self, role: Role, state: State, key: EventType) -> NoReturn:
        name = key[0].__name__ if isinstance(key, tuple) else key.__name__
        allowed = ", ".join(allowed_events(role, state)) or "nothing"
        raise LocalProtocolError(
            f"can't handle event type {name} when role={role} and state={state}",
            rule="event-not-allowed", section="RFC 9112 §2",
            explanation=f"in state {state} the {str(role).lower()} may send: {allowed}",
        )

    def _settle(self) -> None:
        """Apply the state-triggered rules until nothing moves (each rule moves a state forward)."""
        states = self.states
        while True:
            client = states[CLIENT]
            if self.pending_switch_proposals:
                if client is DONE:
                    self._move(CLIENT, MIGHT_SWITCH_PROTOCOL, "switch-proposed")
                    continue
            elif client is MIGHT_SWITCH_PROTOCOL:
                self._move(CLIENT, DONE, "switch-declined")
                continue
            if not self.keep_alive:
                if client is DONE:
                    self._move(CLIENT, MUST_CLOSE, "keep-alive-disabled")
                    continue
                if states[SERVER] is DONE:
                    self._move(SERVER, MUST_CLOSE, "keep-alive-disabled")
                    continue
            joint = _JOINT_TRANSITIONS.get((client, states[SERVER]))
            if joint is None:
                return
            self._move(*joint)

    def start_next_cycle(self) -> None:
        if self.states[CLIENT] is not DONE or self.states[SERVER] is not DONE:
            raise LocalProtocolError(
                f"not in a reusable state. self.states={self.states}", rule="next-cycle-not-ready",
                section="RFC 9112 §9.3",
                explanation="a new cycle can start only when both client and server are DONE",
            )
        self._move(CLIENT, IDLE, "next-cycle")
        self._move(SERVER, IDLE, "next-cycle")
