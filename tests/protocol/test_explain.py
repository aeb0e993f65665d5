"""The explain API: observers get a Transition for every state change, errors say why."""

from __future__ import annotations

from support.engine import drain

import h11dbg.protocol as h


def _exchange(conn_client: h.Connection, conn_server: h.Connection, request: h.Request) -> None:
    data = conn_client.send(request)
    assert data is not None
    data += conn_client.send(h.EndOfMessage()) or b""
    drain(conn_server, data)


def test_observer_sees_every_transition_with_rule_and_section() -> None:
    client, server = h.Connection(h.CLIENT), h.Connection(h.SERVER)
    seen: list[h.Transition] = []
    server.add_observer(seen.append)
    _exchange(client, server, h.Request(method="GET", target="/", headers=[("Host", "a"), ("Connection", "close")]))
    moves = [(t.role, t.old_state, t.new_state, t.rule) for t in seen]
    assert moves == [
        (h.CLIENT, h.IDLE, h.SEND_BODY, "request-sent"),
        (h.SERVER, h.IDLE, h.SEND_RESPONSE, "request-received"),
        (h.CLIENT, h.SEND_BODY, h.DONE, "end-of-message"),
        (h.CLIENT, h.DONE, h.MUST_CLOSE, "keep-alive-disabled"),
    ]
    assert seen[0].cause == "Request" and type(seen[0].event) is h.Request
    assert seen[-1].section == "RFC 9112 §9.3"
    assert "Connection: close" in seen[-1].explanation
    assert str(seen[-1]).startswith("CLIENT: DONE -> MUST_CLOSE")


def test_observer_sees_protocol_switch_and_cycle_rules() -> None:
    client, server = h.Connection(h.CLIENT), h.Connection(h.SERVER)
    seen: list[h.Transition] = []
    client.add_observer(seen.append)
    _exchange(client, server, h.Request(method="GET", target="/", headers=[("Host", "a"), ("Upgrade", "x")]))
    assert seen[-1].rule == "switch-proposed" and seen[-1].new_state is h.MIGHT_SWITCH_PROTOCOL
    drain(client, server.send(h.Response(status_code=200, headers=[("Content-Length", "0")])) or b"")
    drain(client, server.send(h.EndOfMessage()) or b"")
    assert "switch-declined" in [t.rule for t in seen]
    client.start_next_cycle()
    assert [t.rule for t in seen[-2:]] == ["next-cycle", "next-cycle"]
    assert seen[-1].cause == "start_next_cycle"


def test_removed_observer_hears_nothing_and_errors_are_transitions() -> None:
    server = h.Connection(h.SERVER)
    seen: list[h.Transition] = []
    server.add_observer(seen.append)
    server.remove_observer(seen.append)
    drain(server, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert seen == []
    server.add_observer(seen.append)
    try:
        server.send(h.Data(b"too early"))
    except h.LocalProtocolError as exc:
        assert exc.rule == "event-not-allowed"
        assert exc.explanation is not None and "InformationalResponse" in exc.explanation
    assert [(t.role, t.new_state, t.rule) for t in seen[-2:]] == [
        (h.SERVER, h.ERROR, "protocol-error"),
        (h.CLIENT, h.MUST_CLOSE, "peer-error"),
    ]


def test_allowed_events_and_state_descriptions() -> None:
    assert h.allowed_events(h.CLIENT, h.IDLE) == ("Request", "ConnectionClosed")
    assert h.allowed_events(h.SERVER, h.SEND_RESPONSE) == ("InformationalResponse", "Response")
    assert h.allowed_events(h.SERVER, h.IDLE) == ("ConnectionClosed", "Response")
    assert h.allowed_events(h.CLIENT, h.ERROR) == ()
    assert "owes a response" in h.describe_state(h.SERVER, h.SEND_RESPONSE)
    assert set(h.RULES) >= {"keep-alive-disabled", "upgrade-accepted", "connect-accepted", "peer-closed"}


def test_remote_errors_carry_offset_rule_and_offending_bytes() -> None:
    server = h.Connection(h.SERVER)
    seen: list[h.Transition] = []
    server.add_observer(seen.append)
    data = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY"
    try:
        drain(server, data)
    except h.RemoteProtocolError as exc:
        # the ERROR transition names the error and cites the rule it broke
        assert (seen[-1].new_state, seen[-1].rule, seen[-1].section) == (h.ERROR, "protocol-error", "RFC 9112 §7.1")
        assert "chunk data not followed by CRLF" in seen[-1].explanation
        assert exc.offset == data.index(b"XY")
        assert exc.offending == b"XY"
        assert exc.rule == "chunk-data-crlf"
        assert exc.section == "RFC 9112 §7.1"
        assert exc.explanation and "smuggling" in exc.explanation
    else:
        raise AssertionError("expected a RemoteProtocolError")


def test_bytes_consumed_tracks_the_stream() -> None:
    server = h.Connection(h.SERVER)
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    server.receive_data(request + b"GET")
    server.next_event()
    assert server.bytes_consumed == len(request)
    assert server.trailing_data == (b"GET", False)


def test_body_without_framing_explains_how_to_send_one() -> None:
    client = h.Connection(h.CLIENT)
    client.send(h.Request(method="POST", target="/", headers=[("Host", "a")]))
    try:
        client.send(h.Data(b"hello"))
    except h.LocalProtocolError as exc:
        assert exc.rule == "content-length-exceeded"
        assert exc.explanation is not None and "neither Content-Length nor Transfer-Encoding" in exc.explanation
    else:
        raise AssertionError("expected a LocalProtocolError")


def _mirror_pair() -> tuple[h.Connection, h.Connection]:
    """A server that sends, and a server that only advances: the same traffic on both."""
    return h.Connection(h.SERVER), h.Connection(h.SERVER)


def test_advance_moves_states_as_send_does_without_bytes_or_observers() -> None:
    sender, mirror = _mirror_pair()
    heard: list[h.Transition] = []
    mirror.add_observer(heard.append)
    request = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"
    for conn in (sender, mirror):
        drain(conn, request)
    heard.clear()
    exchange = [(h.Response(status_code=200, headers=[("Content-Length", "5")]),
                 b"HTTP/1.1 200 \r\nContent-Length: 5\r\n\r\n"),
                (h.EndOfMessage(), b"")]  # a response to HEAD: no body, however long it says it is
    for event, wire in exchange:
        assert sender.send(event) == wire
        assert mirror.advance(event, observe=False) is None
        assert mirror.states == sender.states
    assert heard == []  # observe=False: not a word
    sender.start_next_cycle()
    mirror.start_next_cycle()
    for conn in (sender, mirror):  # the pipelined HTTP/1.0 request, buffered until now
        assert type(conn.next_event()) is h.Request
        assert type(conn.next_event()) is h.EndOfMessage  # the cycle was heard: only advance(observe=False) is silent
    heard.clear()
    # The HTTP/1.0 request: the same keep-alive decision, heard this time.
    events = [h.Response(status_code=200, headers=[]), h.Data(b"body"), h.EndOfMessage()]
    for event in events:
        sender.send(event)
        mirror.advance(event)
        assert mirror.states == sender.states
    assert mirror.our_state is h.MUST_CLOSE
    assert [(t.role, t.new_state) for t in heard] == [
        (h.SERVER, h.SEND_BODY), (h.SERVER, h.DONE), (h.SERVER, h.MUST_CLOSE)]


def test_advance_refuses_what_send_refuses() -> None:
    sender, mirror = _mirror_pair()
    for conn in (sender, mirror):
        drain(conn, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        conn.send(h.Response(status_code=200, headers=[("Content-Length", "2")]))
    errors = []
    for call in (sender.send, mirror.advance):
        try:
            call(h.Data(b"too much"))
        except h.LocalProtocolError as exc:
            errors.append(exc.rule)
    assert errors == ["content-length-exceeded", "content-length-exceeded"]
    assert mirror.states == sender.states and mirror.our_state is h.ERROR


def test_advance_closes_as_send_does() -> None:
    for role in (h.CLIENT, h.SERVER):
        sender, mirror = h.Connection(role), h.Connection(role)
        assert sender.send(h.ConnectionClosed()) is None
        mirror.advance(h.ConnectionClosed(), observe=False)
        assert mirror.states == sender.states and mirror.our_state is h.CLOSED
