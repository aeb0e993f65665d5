"""The state machine as data (``state_machine``) is exactly the moves the engine makes.

Two connections, a client and a server, are driven through every sequence of actions up to a depth
that reaches every state of both roles; every Transition either observes is collected.  The table the
state diagram is drawn from must hold each of them, and nothing the engine never does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from h11dbg import protocol as p

Move = tuple[str, str, str, str]  # role, old, new, rule

REQUESTS = {
    "GET": p.Request(method="GET", target="/", headers=[("Host", "x")]),
    "GET close": p.Request(method="GET", target="/", headers=[("Host", "x"), ("Connection", "close")]),
    "POST": p.Request(method="POST", target="/", headers=[("Host", "x"), ("Transfer-Encoding", "chunked")]),
    "Upgrade": p.Request(method="GET", target="/", headers=[("Host", "x"), ("Connection", "Upgrade"),
                                                              ("Upgrade", "websocket")]),
    "CONNECT": p.Request(method="CONNECT", target="x:443", headers=[("Host", "x:443")]),
}
RESPONSES = {
    "100": p.InformationalResponse(status_code=100, headers=[]),
    "101": p.InformationalResponse(status_code=101, headers=[("Connection", "Upgrade"), ("Upgrade", "websocket")]),
    "200": p.Response(status_code=200, headers=[("Transfer-Encoding", "chunked")]),
    "200 close": p.Response(status_code=200, headers=[("Transfer-Encoding", "chunked"), ("Connection", "close")]),
}


class Pair:
    """A client and a server connection, each side's sends delivered to the other at once."""

    def __init__(self, script: tuple[str, ...]) -> None:
        self.client = p.Connection(p.CLIENT)
        self.server = p.Connection(p.SERVER)
        self.moves: set[Move] = set()
        for conn in (self.client, self.server):
            conn.add_observer(self._seen)
        for action in script:
            ACTIONS[action](self)

    def _seen(self, transition: p.Transition) -> None:
        move = (str(transition.role), str(transition.old_state), str(transition.new_state), transition.rule)
        self.moves.add(move)

    def deliver(self, sender: p.Connection, data: bytes | None) -> None:
        receiver = self.server if sender is self.client else self.client
        receiver.receive_data(data if data is not None else b"")
        while True:
            event = receiver.next_event()
            if event is p.NEED_DATA or event is p.PAUSED or isinstance(event, p.ConnectionClosed):
                return

    def send(self, sender: p.Connection, event: p.Event) -> None:
        self.deliver(sender, sender.send(event))

    def key(self) -> tuple[object, ...]:
        """What decides the moves still possible: both views' states, keep-alive and pending switches
        (bodies are chunked, so no byte count matters)."""
        return tuple(
            (tuple(map(str, conn.states.values())), conn._cstate.keep_alive,
             tuple(sorted(map(str, conn._cstate.pending_switch_proposals))))
            for conn in (self.client, self.server)
        )


def _send(role: str, event: p.Event) -> Callable[[Pair], None]:
    return lambda pair: pair.send(pair.client if role == "client" else pair.server, event)


def _cycle(pair: Pair) -> None:
    pair.client.start_next_cycle()
    pair.server.start_next_cycle()


def _garbage(to: str) -> Callable[[Pair], None]:
    def deliver(pair: Pair) -> None:
        receiver = pair.server if to == "server" else pair.client
        receiver.receive_data(b"\x00 not http\r\n\r\n")
        with contextlib.suppress(p.RemoteProtocolError):  # the point: the sender's role is now ERROR
            receiver.next_event()
    return deliver


ACTIONS: dict[str, Callable[[Pair], None]] = {
    **{f"client {name}": _send("client", event) for name, event in REQUESTS.items()},
    **{f"server {name}": _send("server", event) for name, event in RESPONSES.items()},
    "client data": _send("client", p.Data(data=b"hi")),
    "server data": _send("server", p.Data(data=b"hi")),
    "client eom": _send("client", p.EndOfMessage()),
    "server eom": _send("server", p.EndOfMessage()),
    "client close": _send("client", p.ConnectionClosed()),
    "server close": _send("server", p.ConnectionClosed()),
    "cycle": _cycle,
    "garbage to server": _garbage("server"),
    "garbage to client": _garbage("client"),
}


def explore(depth: int) -> set[Move]:
    """Every move made by any action sequence up to ``depth`` that the engine accepts."""
    found: set[Move] = set()
    frontier: list[tuple[str, ...]] = [()]
    seen_states: set[tuple[object, ...]] = set()
    for _ in range(depth):
        following = []
        for script in frontier:
            for action in ACTIONS:
                try:
                    pair = Pair((*script, action))
                except (p.ProtocolError, RuntimeError):  # RuntimeError: data after the peer's close
                    continue
                found |= pair.moves
                if pair.key() not in seen_states:
                    seen_states.add(pair.key())
                    following.append((*script, action))
        frontier = following
    return found


def test_the_table_is_exactly_the_moves_the_engine_makes() -> None:
    observed = explore(depth=7)
    table = {
        (str(edge.role), str(edge.old_state), str(edge.new_state), edge.rule)
        for role in (p.CLIENT, p.SERVER) for edge in p.state_machine(role)
        if edge.old_state is not edge.new_state  # a self-loop (Data, 1xx) is no transition
    }
    observed_moves = {move for move in observed if move[3] != "protocol-error"}
    assert observed_moves - table == set(), "the engine makes moves the diagram does not show"
    assert table - observed_moves == set(), "the diagram shows moves the engine never makes"
    assert {move[2] for move in observed if move[3] == "protocol-error"} == {"ERROR"}


def test_every_edge_names_a_rule_with_an_explanation() -> None:
    for role in (p.CLIENT, p.SERVER):
        for edge in p.state_machine(role):
            assert edge.rule in p.RULES and edge.trigger
