"""h11dbg convert writes pcap, pcapng and HAR (by OUT's suffix, or --to; - is standard output), and
replay, convert and diff read standard input (-).  tshark reads what we write; our importers read it back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from h11dbg.cli import main
from h11dbg.transcript import Chunk, Close, Meta, Open, open_transcript, write_transcript
from h11dbg.transcript.exporters.pcap import epoch

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = sorted((ROOT / "transcripts").glob("*.h11t"))
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (.ci/run installs it)")
PCAP_MAGIC = b"\xd4\xc3\xb2\xa1"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def _convert(*args: str) -> str:
    result = CliRunner().invoke(main, ["convert", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _h11dbg(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], input=stdin, capture_output=True, timeout=timeout)


def _streams(path: Path) -> list[dict[str, object]]:
    """Per connection, in the order they opened: each direction's chunks, and how each side ended."""
    conns: dict[int, dict[str, object]] = {}
    for record in open_transcript(path):
        conn = conns.setdefault(record.conn, {"c2s": [], "s2c": [], "ends": []})
        if isinstance(record, Chunk) and record.data:
            conn[record.direction].append(record.data)  # type: ignore[attr-defined]
        elif isinstance(record, Close):
            conn["ends"].append((record.direction, record.reset))  # type: ignore[attr-defined]
    return list(conns.values())


def _times(path: Path) -> list[float]:
    times = [record.time for record in open_transcript(path) if isinstance(record, Chunk) and record.data]
    return [round(t - times[0], 6) for t in times]


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_every_transcript_round_trips_through_a_capture(tmp_path: Path, kind: str) -> None:
    for source in TRANSCRIPTS:
        target = tmp_path / f"{source.stem}.{kind}"
        said = _convert(str(source), str(target))
        assert f"wrote {target} ({kind} format, from h11dbg)" in said
        assert f"note: {kind} does not keep" in said  # what the format loses, said on stderr
        assert target.read_bytes()[:4] == (PCAP_MAGIC if kind == "pcap" else PCAPNG_MAGIC)
        # every byte, each write (chunk), each half-close and reset, the times between them
        assert _streams(target) == _streams(source), source.name
        assert _times(target) == _times(source), source.name


def _tshark(*args: str) -> str:
    assert TSHARK is not None
    done = subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _followed(path: Path, streams: int) -> list[dict[str, bytes]]:
    """What ``tshark -q -z follow,tcp,raw,N`` shows of each TCP stream: the bytes each way."""
    args = [arg for n in range(streams) for arg in ("-z", f"follow,tcp,raw,{n}")]
    out = _tshark("-r", str(path), "-q", *args)
    found: dict[int, dict[str, bytes]] = {}
    for block in out.split("Follow: tcp,raw")[1:]:
        sides = {"c2s": b"", "s2c": b""}
        for line in block.splitlines():
            if line.startswith("Filter: tcp.stream eq "):
                found[int(line.rsplit(" ", 1)[1])] = sides
            if not line.strip() or line.startswith(("=", "Filter:", "Node ")):
                continue
            direction = "s2c" if line.startswith("\t") else "c2s"  # the second node's data is indented
            sides[direction] += bytes.fromhex(line.strip())
    return [found[n] for n in sorted(found)]


def _all_transcripts(path: Path) -> Path:
    """Every transcript in transcripts/ as one, a connection each on its own client port, 10 s apart:
    tshark starts slowly, so it reads them all at once."""
    records: list[Open | Chunk | Close] = []
    for number, source in enumerate(TRANSCRIPTS):
        conns: dict[int, int] = {}
        for record in open_transcript(source):
            conn = conns.setdefault(record.conn, len(records) and max(r.conn for r in records) + 1)
            fields = {**record.__dict__, "conn": conn, "time": 10.0 * number + record.time}
            if isinstance(record, Open):
                fields["client"] = f"127.0.0.1:{20000 + conn}"
            records.append(type(record)(**fields))
    write_transcript(records, path, Meta(tool="test", recorded_at="2026-12-01T10:00:00+00:00"))
    return path


@needs_tshark
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_tshark_reads_every_converted_transcript(tmp_path: Path, kind: str) -> None:
    source = _all_transcripts(tmp_path / "all.h11t")
    target = tmp_path / f"all.{kind}"
    _convert(str(source), str(target))
    streams = _streams(source)
    expected = [{"c2s": b"".join(s["c2s"]), "s2c": b"".join(s["s2c"])} for s in streams]  # type: ignore[arg-type]
    assert _followed(target, len(expected)) == expected
    # sequence numbers, handshakes and ACKs that tshark finds nothing wrong with
    assert _tshark("-r", str(target), "-Y", "tcp.analysis.flags && !tcp.analysis.window_update") == ""
    rows = _tshark("-r", str(target), "-Y", "tcp.flags.syn == 1 || tcp.flags.fin == 1 || tcp.flags.reset == 1",
                   "-T", "fields", "-E", "separator=|", "-e", "tcp.stream", "-e", "tcp.flags.syn", "-e",
                   "tcp.flags.ack", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset", "-e", "frame.time_epoch",
                   ).replace("True", "1").replace("False", "0").splitlines()
    flags: dict[int, list[str]] = {}
    for row in rows:
        stream, syn, ack, fin, reset, _ = row.split("|")
        flags.setdefault(int(stream), []).append("S" if syn == "1" else "F" if fin == "1" else "R")
    for number, stream in enumerate(streams):
        ends = stream["ends"]
        assert flags[number][:2] == ["S", "S"]  # SYN, SYN+ACK
        assert flags[number][2:] == ["R" if reset else "F" for _, reset in ends]  # type: ignore[union-attr]
    opened = min(record.time for record in open_transcript(source) if isinstance(record, Open))
    first = float(rows[0].split("|")[-1])
    assert first == pytest.approx(epoch("2026-12-01T10:00:00+00:00") + opened, abs=2e-6)


@needs_tshark
def test_tshark_sees_fins_and_resets(tmp_path: Path) -> None:
    source = tmp_path / "ends.h11t"
    write_transcript([
        Open(1, 0.0, "10.1.1.1:40000", "10.1.1.2:80"),
        Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.1),
        Close(1, "c2s", 0.2),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + b"x" * 3000, 0.3),
        Close(1, "s2c", 0.4),
        Open(2, 0.5, "[::1]:40001", "[::1]:8080"),
        Chunk(2, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.6),
        Close(2, "s2c", 0.7, reset=True),
    ], source, Meta(tool="test", recorded_at="2026-12-01T10:00:00+00:00"))
    target = tmp_path / "ends.pcapng"
    _convert(str(source), str(target))
    rows = _tshark("-r", str(target), "-T", "fields", "-E", "separator=|", "-e", "tcp.stream", "-e", "tcp.flags.fin",
                   "-e", "tcp.flags.reset", "-e", "tcp.seq", "-e", "tcp.len", "-e", "ipv6.src").splitlines()
    fins = [row for row in rows if row.split("|")[1] in ("1", "True")]
    resets = [row for row in rows if row.split("|")[2] in ("1", "True")]
    assert len(fins) == 2 and all(row.startswith("0|") for row in fins)
    assert len(resets) == 1 and resets[0].startswith("1|") and resets[0].endswith("|::1")
    # relative sequence numbers: the response's 3041 bytes in three segments, then its FIN after them
    server_fin = fins[1].split("|")
    assert server_fin[3] == str(1 + len(b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n") + 3000)
    assert _streams(target) == _streams(source)


def test_har_of_every_transcript_reads_back_and_replays(tmp_path: Path) -> None:
    for source in TRANSCRIPTS:
        target = tmp_path / f"{source.stem}.har"
        said = _convert(str(source), str(target))
        assert "note: har does not keep" in said
        document = json.loads(target.read_text(encoding="utf-8"))
        log = document["log"]
        assert log["version"] == "1.2" and log["creator"]["name"] == "h11dbg"
        for entry in log["entries"]:
            assert set(entry) >= {"startedDateTime", "time", "request", "response", "cache", "timings"}
            assert all(entry["timings"][name] >= 0 for name in ("send", "wait", "receive"))
            assert entry["request"]["url"].startswith("http://")
            assert entry["pageref"] == log["pages"][0]["id"]
        replayed = CliRunner().invoke(main, ["replay", str(target)])
        assert replayed.exit_code in (0, 1), replayed.output
        original = CliRunner().invoke(main, ["replay", str(source)])
        if original.exit_code == 0:
            assert replayed.exit_code == 0, (source.name, replayed.output[-2000:])
            # read back by our importer: the same requests and responses, in the same order
            assert _heads(replayed.output.encode()) == _heads(original.output.encode()), source.name
            # every request of a clean recording has its response (a 101 too)
            assert all(entry["response"]["status"] for entry in log["entries"]), source.name


def _heads(replay_output: bytes) -> list[str]:
    """The request and response lines of a replay, in order."""
    return [line.split(maxsplit=3)[3].split("  ")[0] for line in replay_output.decode().splitlines()
            if " c2s Request " in line or " s2c Response " in line]


def test_har_keeps_messages_bodies_and_timings(tmp_path: Path) -> None:
    source = tmp_path / "t.h11t"
    binary = bytes(range(256))
    write_transcript([
        Open(1, 0.0, "127.0.0.1:40000", "127.0.0.1:8000"),
        Chunk(1, "c2s", b"POST /up?a=1&b= HTTP/1.1\r\nHost: example.test\r\nContent-Length: 256\r\n\r\n", 0.010),
        Chunk(1, "c2s", binary, 0.020),
        Chunk(1, "s2c", b"HTTP/1.1 100 Continue\r\n\r\n", 0.015),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
                        b"5\r\nhello\r\n", 0.050),
        Chunk(1, "s2c", b"6\r\n world\r\n0\r\n\r\n", 0.080),
        Chunk(1, "c2s", b"GET /bin HTTP/1.1\r\nHost: example.test\r\nCookie: a=1; b=two\r\n\r\n", 0.100),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nSet-Cookie: sid=x9; Path=/; HttpOnly\r\n\r\n"
                        b"\xff\x00\xfe\x01", 0.130),
    ], source, Meta(tool="test", recorded_at="2026-12-01T10:00:00+00:00"))
    target = tmp_path / "t.har"
    _convert(str(source), str(target))
    first, second = json.loads(target.read_text())["log"]["entries"]
    assert first["startedDateTime"] == "2026-12-01T10:00:00.010Z"
    assert first["request"]["url"] == "http://example.test/up?a=1&b="
    assert first["request"]["queryString"] == [{"name": "a", "value": "1"}, {"name": "b", "value": ""}]
    assert first["request"]["postData"]["encoding"] == "base64"
    assert first["response"]["content"]["text"] == "hello world"  # chunks joined
    # to the final response's head (at 50 ms: the 100, at 15 ms, is no part of HAR's response), then to its
    # last byte; the phases add up to the exchange's time
    assert (first["timings"]["send"], first["timings"]["wait"], first["timings"]["receive"]) == (10.0, 30.0, 30.0)
    assert first["time"] == 70.0
    # the bytes on the wire: the request head; the 100, the final head and the chunked body with its framing
    assert first["request"]["headersSize"] == 69 and first["request"]["bodySize"] == 256
    assert first["response"]["headersSize"] == 73 and first["response"]["bodySize"] == 11
    assert first["response"]["_transferSize"] == 25 + 73 + len(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert first["serverIPAddress"] == "127.0.0.1" and first["connection"] == "8000" and first["_connectionId"] == "1"
    assert second["request"]["cookies"] == [{"name": "a", "value": "1"}, {"name": "b", "value": "two"}]
    assert second["response"]["cookies"] == [{"name": "sid", "value": "x9", "path": "/", "httpOnly": True}]
    assert second["response"]["content"] == {"size": 4, "mimeType": "", "text": "/wD+AQ==", "encoding": "base64"}
    back = list(open_transcript(target))
    c2s = b"".join(r.data for r in back if isinstance(r, Chunk) and r.direction == "c2s")
    assert binary in c2s  # the binary request body survives (postData.encoding)
    assert _heads(_h11dbg("replay", str(target)).stdout) == [
        "Request POST /up?a=1&b= HTTP/1.1", "Response HTTP/1.1 200 OK", "Request GET /bin HTTP/1.1",
        "Response HTTP/1.1 200 OK"]


def test_the_suffix_chooses_the_format_and_to_overrides_it(tmp_path: Path) -> None:
    source = TRANSCRIPTS[0]
    _convert(str(source), str(tmp_path / "a.pcap"))
    assert (tmp_path / "a.pcap").read_bytes()[:4] == PCAP_MAGIC  # it used to be our text format
    _convert(str(source), str(tmp_path / "b.pcap"), "--to", "h11dbg")
    assert (tmp_path / "b.pcap").read_bytes().startswith(b"h11dbg-transcript 1\n")
    _convert(str(source), str(tmp_path / "c.out"), "--to", "pcapng")
    assert (tmp_path / "c.out").read_bytes()[:4] == PCAPNG_MAGIC
    _convert(str(source), str(tmp_path / "d.txt"))
    assert (tmp_path / "d.txt").read_bytes().startswith(b"h11dbg-transcript 1\n")
    wrong = CliRunner().invoke(main, ["convert", str(source), str(tmp_path / "e"), "--to", "wav"])
    assert wrong.exit_code == 2
    assert wrong.output == "h11dbg: --to wav: choose one of h11dbg, pcap, pcapng, har\n"


def test_an_existing_capture_is_kept_unless_forced_and_then_replaced_whole(tmp_path: Path) -> None:
    source = TRANSCRIPTS[0]
    target = tmp_path / "keep.pcap"
    target.write_bytes(b"mine")
    refused = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert refused.exit_code == 2 and "exists already" in refused.output
    assert target.read_bytes() == b"mine"
    broken = tmp_path / "broken.h11t"
    broken.write_bytes(source.read_bytes() + b"c2s 9 at 1.0 len 5\n| abc\nclose 9 c2s at 1.1\n")
    failed = CliRunner().invoke(main, ["convert", str(broken), str(target), "--force"])
    assert failed.exit_code == 2
    assert target.read_bytes() == b"mine"  # a failed conversion leaves the old file as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.h11t", "keep.pcap"]
    _convert(str(source), str(target), "--force")
    assert target.read_bytes()[:4] == PCAP_MAGIC


def _piped_into_replay(writer_command: list[str]) -> tuple[int, subprocess.CompletedProcess[bytes]]:
    """``writer_command | h11dbg replay -``, a real pipe between two processes: (the writer's status, the replay)."""
    writer = subprocess.Popen(writer_command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        reader = subprocess.run([sys.executable, "-m", "h11dbg", "replay", "-"], stdin=writer.stdout,
                                capture_output=True, timeout=60)
    finally:
        assert writer.stdout is not None
        writer.stdout.close()
        writer.wait(timeout=30)
    return writer.returncode, reader


def test_standard_output_and_input_through_real_pipes(tmp_path: Path) -> None:
    source = ROOT / "transcripts" / "chunked-request-curl-uvicorn.h11t"
    expected = _h11dbg("replay", str(source))
    written, reader = _piped_into_replay([sys.executable, "-m", "h11dbg", "convert", str(source), "-", "--to",
                                          "pcapng"])
    assert written == 0 and reader.returncode == 0, reader.stderr
    assert _heads(reader.stdout) == _heads(expected.stdout)
    # every readable format from standard input, as from the file
    for name in ("http-lo.pcap", "http-lo.pcapng", "http-trace.txt", "http-trace-ascii.txt", "http.har"):
        path = ROOT / "tests" / "data" / "captures" / name
        piped = _h11dbg("replay", "-", stdin=path.read_bytes())
        assert piped.returncode == 0 and piped.stdout == _h11dbg("replay", str(path)).stdout, name
    # convert and diff read standard input too
    capture = (ROOT / "tests" / "data" / "captures" / "http-lo.pcap").read_bytes()
    converted = _h11dbg("convert", "-", str(tmp_path / "from-stdin.h11t"), stdin=capture)
    assert converted.returncode == 0, converted.stderr
    assert _streams(tmp_path / "from-stdin.h11t") == _streams(ROOT / "tests" / "data" / "captures" / "http-lo.pcap")
    compared = _h11dbg("diff", "--engines", "h11dbg,h11dbg", "-", stdin=capture)
    assert compared.returncode == 0, compared.stderr
    recordings = _h11dbg("diff", str(tmp_path / "from-stdin.h11t"), "-", stdin=capture)
    assert recordings.returncode == 0, recordings.stdout + recordings.stderr
    twice = _h11dbg("diff", "-", "-", stdin=capture)
    assert twice.returncode == 2 and twice.stderr.startswith(b"h11dbg: diff - -: ")
    cut = _h11dbg("replay", "-", stdin=capture[:1000])
    assert cut.returncode == 2
    assert cut.stderr.decode().splitlines()[-1].startswith("h11dbg: <stdin>: byte ")
    stepping = _h11dbg("replay", "-", "--step", stdin=capture)
    assert stepping.returncode == 2 and b"--step" in stepping.stderr
    closed = subprocess.run(["sh", "-c", f'"{sys.executable}" -m h11dbg replay - 0<&-'], capture_output=True,
                            timeout=30)
    assert closed.returncode == 2 and closed.stderr == b"h11dbg: <stdin>: there is no standard input to read\n"


@needs_tshark
def test_tshark_writing_to_a_pipe_replays(tmp_path: Path) -> None:
    capture = ROOT / "tests" / "data" / "captures" / "http-lo.pcap"
    written, replay = _piped_into_replay([str(TSHARK), "-r", str(capture), "-w", "-"])
    assert written == 0 and replay.returncode == 0, replay.stderr
    assert replay.stdout == _h11dbg("replay", str(capture)).stdout


def test_a_capture_on_standard_input_is_replayed_as_it_arrives() -> None:
    import os
    import select

    capture = (ROOT / "tests" / "data" / "captures" / "http-lo.pcap").read_bytes()
    replay = subprocess.Popen([sys.executable, "-m", "h11dbg", "replay", "-"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert replay.stdin is not None and replay.stdout is not None
    try:
        replay.stdin.write(capture[:len(capture) // 2])  # the first connection's request and more
        replay.stdin.flush()
        seen = b""
        while b"Request GET /hello" not in seen:  # shown while the rest of the capture has not come
            ready, _, _ = select.select([replay.stdout], [], [], 20)
            assert ready, f"nothing replayed before the capture ended: {seen!r}"
            seen += os.read(replay.stdout.fileno(), 65536)
        rest, _ = replay.communicate(capture[len(capture) // 2:], timeout=30)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.wait()
    assert replay.returncode == 0
    assert seen + rest == _h11dbg("replay", str(ROOT / "tests" / "data" / "captures" / "http-lo.pcap")).stdout


def test_a_terminal_is_neither_read_as_a_capture_nor_written_one() -> None:
    import os
    import pty

    main_fd, child_fd = pty.openpty()
    try:
        written = subprocess.run([sys.executable, "-m", "h11dbg", "convert", str(TRANSCRIPTS[0]), "-", "--to",
                                  "pcap"], stdout=child_fd, stderr=subprocess.PIPE, timeout=30)
        read = subprocess.run([sys.executable, "-m", "h11dbg", "replay", "-"], stdin=child_fd,
                              capture_output=True, timeout=30)
    finally:
        os.close(child_fd)
        os.close(main_fd)
    assert written.returncode == 2
    assert written.stderr.decode().startswith("h11dbg: refusing to write pcap to a terminal")
    assert read.returncode == 2
    assert read.stderr.decode().startswith("h11dbg: -: standard input is a terminal; pipe")


def test_docs_say_what_each_output_format_loses() -> None:
    from h11dbg.transcript.formats import OUTPUTS

    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, (suffix, losses) in OUTPUTS.items():
        assert f"| `{name}` | `{suffix}` | {losses or 'nothing'}" in docs, name
