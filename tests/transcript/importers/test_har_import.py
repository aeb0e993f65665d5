"""The HAR importer: tests/data/captures/http.har (written by hand after the HAR 1.2 spec, with
the same exchange as the captures) and small variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.captures import CAPTURES, CHUNKED_PIECES, expected_streams, normalise, streams

from h11dbg.transcript import formats
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.importers import read_har
from h11dbg.transcript.model import Chunk, Open


def test_har_rebuilds_the_exchange() -> None:
    transcript = read_har(CAPTURES / "http.har")
    records = list(transcript)
    got = {k: normalise(v) for k, v in streams(records).items()}
    expected = expected_streams(b"127.0.0.1")
    # HAR keeps the decoded chunked body: it comes back as a single chunk
    rechunked = b"19\r\nfirst\nsecond chunk\nthird\n\r\n0\r\n\r\n"
    expected[(1, "s2c")] = expected[(1, "s2c")].replace(b"".join(CHUNKED_PIECES), rechunked)
    assert {k: v for k, v in got.items() if k[0] < 3} == expected
    assert [(r.conn, r.server) for r in records if isinstance(r, Open)] == [
        (1, "127.0.0.1:8765"), (2, "127.0.0.1:8766"), (3, "example.com:443")]
    meta = transcript.meta
    assert meta.source_format == "har"
    assert meta.lossy is not None and meta.lossy.startswith("bytes reconstructed from HAR")
    assert "chunked bodies re-framed as one chunk" in meta.lossy
    assert meta.tool == "h11dbg test data (written by hand) 1"
    assert meta.recorded_at == "2026-11-25T08:48:08.211000+00:00"


def test_http2_entry_becomes_http11() -> None:
    records = list(read_har(CAPTURES / "http.har"))
    conn2 = streams(records)
    assert conn2[(3, "c2s")] == b"GET /data?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\naccept-encoding: gzip\r\n\r\n"
    # decoded body, Content-Encoding dropped, Content-Length fixed, reason phrase filled in
    assert conn2[(3, "s2c")] == (b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                                 b"content-length: 9\r\n\r\n\x00\x01binary\xff")


def test_times_follow_started_date_time_and_timings() -> None:
    records = list(read_har(CAPTURES / "http.har"))
    chunks = [r for r in records if isinstance(r, Chunk)]
    first_request, first_response = chunks[0], chunks[1]
    assert first_request.time == 0.0
    assert first_response.time == pytest.approx(0.00085)  # connect + send + wait, -1 ignored
    last = chunks[-1]
    # 09:48:09+01:00 is 0.789 s after the first entry; blocked+dns+connect+send+wait = 12.5 ms
    assert last.time == pytest.approx(0.789 + 0.0125)
    assert [r.time for r in records] == sorted(r.time for r in records)


def har(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "x.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t"}, "entries": entries}}))
    return path


def entry(method: str = "GET", url: str = "http://h/p", *, status: int = 200, **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": []},
        "response": {"status": status, "statusText": "X", "httpVersion": "HTTP/1.1", "headers": [],
                     "content": {"size": 0, "text": ""}},
    }
    e.update(extra)
    return e


def test_entries_without_connection_ids_get_one_connection_each(tmp_path: Path) -> None:
    records = list(read_har(har(tmp_path, [entry(), entry()])))
    assert [r.conn for r in records if isinstance(r, Open)] == [1, 2]
    assert streams(records)[(1, "c2s")] == b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n"


def test_form_params_and_bodyless_responses(tmp_path: Path) -> None:
    post = entry("POST", "http://h/f", status=204)
    post["request"]["postData"] = {"mimeType": "application/x-www-form-urlencoded",
                                   "params": [{"name": "a b", "value": "1&2"}]}
    post["response"]["content"] = {"size": 3, "text": "abc"}
    head = entry("HEAD", "http://h/")
    head["response"]["headers"] = [{"name": "Content-Length", "value": "500"}]
    got = streams(read_har(har(tmp_path, [post, head])))
    assert got[(1, "c2s")] == b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\na+b=1%262"
    assert got[(1, "s2c")] == b"HTTP/1.1 204 X\r\n\r\n"
    assert got[(2, "s2c")] == b"HTTP/1.1 200 X\r\nContent-Length: 500\r\n\r\n"


def test_a_response_that_never_came_is_left_out(tmp_path: Path) -> None:
    transcript = read_har(har(tmp_path, [entry(status=0)]))
    assert set(streams(transcript)) == {(1, "c2s")}
    assert transcript.meta.lossy is not None and "status 0" in transcript.meta.lossy


def test_har_is_recognised() -> None:
    import h11dbg.transcript.importers  # noqa: F401

    found = formats.detect((CAPTURES / "http.har").read_bytes()[: formats.SNIFF_BYTES])
    assert found is not None and found.name == "har"


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.har"
    path.write_text('{"log": {\n  "entries": [\n    {,}\n  ]}}\n')
    with pytest.raises(TranscriptError) as info:
        read_har(path)
    assert info.value.line == 3 and str(info.value).startswith(f"{path}:3: invalid JSON")


def test_a_missing_field_names_its_json_path(tmp_path: Path) -> None:
    bad = entry()
    del bad["request"]["url"]
    with pytest.raises(TranscriptError, match=r"x.har: log.entries\[0\].request.url: missing"):
        read_har(har(tmp_path, [bad]))
    bad = entry()
    bad["response"]["status"] = "200"
    with pytest.raises(TranscriptError, match=r"log.entries\[0\].response.status: expected int, got \"200\""):
        read_har(har(tmp_path, [bad]))
