"""Session core over real loopback socket pairs: every step is a real send/recv through the engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from h11dbg.output.text import explanation_lines
from h11dbg.session.commands import execute
from h11dbg.session.core import Session, SessionError


@pytest.fixture
def session(each_engine: str) -> Iterator[Session]:
    s = Session.loopback(each_engine, timeout=0.3)
    yield s
    s.close()


def kinds(entries: list) -> list[str]:
    return [e.kind if e.kind != "event" else type(e.event).__name__ for e in entries]


def test_full_exchange_logs_events_bytes_and_states(session: Session) -> None:
    req = session.engine.Request(method="GET", target="/x", headers=[("Host", "example.com")])
    [sent] = session.send_event(req)
    assert sent.direction == "c2s" and sent.actor == "client"
    assert sent.data == b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert sent.states_before == {"client": "IDLE", "server": "IDLE"}
    assert sent.states_after == {"client": "SEND_BODY", "server": "SEND_RESPONSE"}
    session.send_event(session.engine.EndOfMessage())

    entries = session.run(actor="server")
    assert kinds(entries) == ["received", "Request", "EndOfMessage"]
    assert entries[0].data == sent.data  # exactly the bytes the client wrote
    assert entries[1].data == sent.data  # the Request consumed all of them
    assert entries[2].states_after == {"client": "DONE", "server": "SEND_RESPONSE"}

    session.actor = "server"
    session.send_event(session.engine.Response(status_code=200, headers=[("Content-Length", "2")]))
    session.send_event(session.engine.Data(data=b"ok"))
    session.send_event(session.engine.EndOfMessage())
    entries = session.run(actor="client")
    assert kinds(entries) == ["received", "Response", "Data", "EndOfMessage"]
    assert entries[2].event.data == b"ok" and entries[2].data == b"ok"
    assert session.states("client") == {"client": "DONE", "server": "DONE"}
    assert [e.seq for e in session.log] == list(range(1, len(session.log) + 1))
    times = [e.time for e in session.log]
    assert times == sorted(times)


def test_local_protocol_error_is_an_entry_and_the_session_continues(session: Session) -> None:
    entries = session.send_event(session.engine.Data(data=b"too early"))
    [error] = entries
    assert error.kind == "error" and type(error.error).__name__ == "LocalProtocolError"
    assert error.states_before["client"] == "IDLE" and error.states_after["client"] == "ERROR"
    assert str(error.error) == "can't handle event type Data when role=CLIENT and state=IDLE"
    # our engine's explanation says what may be sent instead; h11's entry repeats its message
    assert error.text == {"h11dbg": "in state IDLE the client may send: Request, ConnectionClosed",
                          "h11": str(error.error)}[session.engine_name]
    # the server side is untouched and still usable
    assert session.states("server") == {"client": "IDLE", "server": "IDLE"}
    assert explanation_lines(session.explain())[0].startswith("(as seen by the client's connection)")


def test_step_by_step_recv_then_next_shows_need_data(session: Session) -> None:
    session.send_raw(b"GET / HTTP/1.1\r\nHo")
    [need] = session.next(actor="server")
    assert need.kind == "note" and need.event is session.engine.NEED_DATA
    [got] = session.recv(actor="server")
    assert got.kind == "received" and got.data == b"GET / HTTP/1.1\r\nHo"
    session.actor = "server"
    assert session.buffered() == len(got.data)
    [still] = session.next()
    assert still.event is session.engine.NEED_DATA
    session.send_raw(b"st: a\r\n\r\n", actor="client")
    session.recv()
    [request] = session.next()
    assert type(request.event).__name__ == "Request"
    assert request.states_before["server"] == "IDLE" and request.states_after["server"] == "SEND_RESPONSE"
    assert session.buffered() == 0


def test_remote_protocol_error_from_garbage(session: Session) -> None:
    session.send_raw(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    entries = session.run(actor="server")
    assert entries[-1].kind == "error"
    assert type(entries[-1].error).__name__ == "RemoteProtocolError"
    assert entries[-1].direction == "c2s"
    assert entries[-1].states_after["client"] == "ERROR"


def test_run_times_out_with_a_note(session: Session) -> None:
    entries = session.run(timeout=0.2, actor="server")
    assert entries[-1].kind == "note" and "timeout" in (entries[-1].text or "")
    assert session.timeouts == 1


def test_close_and_eof_reach_connection_closed(session: Session) -> None:
    [closed] = session.send_close()
    assert type(closed.event).__name__ == "ConnectionClosed"
    assert closed.states_after["client"] == "CLOSED"
    entries = session.run(actor="server")
    assert kinds(entries) == ["eof", "ConnectionClosed"]
    assert entries[-1].states_after["client"] == "CLOSED"


def test_cycle_needs_both_done_then_resets_both_connections(session: Session) -> None:
    [error] = session.cycle()[:1]
    assert error.kind == "error"
    for line in ["request GET /", "eom", "as server", "run", "response 204", "eom", "as client", "run"]:
        assert execute(session, line).error is None
    entries = session.cycle()
    assert [e.kind for e in entries] == ["state", "state"]
    assert session.states("client") == session.states("server") == {"client": "IDLE", "server": "IDLE"}


def test_explain_and_toolbar(session: Session) -> None:
    execute(session, "request POST /up Content-Length: 3")
    lines = explanation_lines(session.explain())
    text = "\n".join(lines)
    assert "client (we) is SEND_BODY" in text
    assert "client may send next: Data, EndOfMessage" in text
    assert "last rule applied:" in text and "IDLE -> SEND_BODY" in text
    bar = session.toolbar()
    assert set(bar) == {"role", "peer", "our_state", "their_state", "buffered", "engine", "elapsed"}
    assert (bar["role"], bar["our_state"], bar["their_state"]) == ("client", "SEND_BODY", "SEND_RESPONSE")


def test_listen_mode_refuses_commands_before_a_client(request: pytest.FixtureRequest) -> None:
    s = Session.listen("h11", "127.0.0.1", 0, timeout=1)
    try:
        with pytest.raises(SessionError):
            s.recv()
        result = execute(s, "response 200")
        assert result.error_kind == "usage" and "no connection" in (result.error or "")
        assert s.log[0].text and s.log[0].text.startswith("listening on 127.0.0.1:")
    finally:
        s.close()


def test_sending_after_close_is_a_user_error_and_moves_nothing(session: Session) -> None:
    session.send_close()
    before = session.states()
    result = execute(session, "request GET /")
    assert result.error_kind == "usage" and "closed its sending half" in (result.error or "")
    assert session.states() == before
    assert execute(session, "raw x").error_kind == "usage"


def test_explain_names_the_rule_an_error_broke() -> None:
    s = Session.loopback("h11dbg", timeout=0.3)
    try:
        execute(s, "request POST / Content-Length: 1")
        execute(s, "data ab")
        last = explanation_lines(s.explain())[-1]
        assert last.startswith("last rule applied: LocalProtocolError:")
        assert "rule content-length-exceeded" in last and "RFC 9112" in last
    finally:
        s.close()


def test_upgrade_then_bytes_that_are_not_http(session: Session) -> None:
    for line in ["request GET /chat Connection: upgrade Upgrade: websocket", "eom", "as server", "run",
                 "info 101 Connection: upgrade Upgrade: websocket", r"raw \x81\x02hi", "as client", "run"]:
        assert execute(session, line).error is None, line
    assert session.states() == {"client": "SWITCHED_PROTOCOL", "server": "SWITCHED_PROTOCOL"}
    [paused] = session.next()
    assert paused.event is session.engine.PAUSED and "4 bytes after the switch" in (paused.text or "")
    assert session.side().machine.trailing_data == (b"\x81\x02hi", False)
    assert any("after the protocol switch" in line for line in explanation_lines(session.explain()))
