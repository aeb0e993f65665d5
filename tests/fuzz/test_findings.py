"""What the fuzz harnesses found, each reproduced the way it was found (docs/robustness.md, "Findings")."""

from __future__ import annotations

from pathlib import Path

from support.engine import client_after_request, drain

import h11dbg.protocol as h

FINDINGS = Path(__file__).resolve().parents[2] / "fuzz" / "findings"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_differential_finding_split_crlf_after_chunk_data() -> None:
    """differential, 75 726 executions in: a chunked body whose chunk data is followed by only the CR of
    its CRLF.  h11 consumes the CR at once (trailing_data b''); we kept it buffered (trailing_data b'\\r')."""
    from fuzz import differential

    artifact = (FINDINGS / "differential" / "f3b13c410484c8eefc198c41de932e8f328a21a9").read_bytes()
    differential.check(artifact)  # raised Finding("unexplained difference from h11 ...")
    conn = client_after_request()
    drain(conn, CHUNKED_HEAD + b"2\r\nok\r")
    assert conn.trailing_data == (b"", False)
    drain(conn, b"\n0\r\n\r\n")
    assert conn.their_state is h.DONE


def test_a_bad_byte_after_a_split_cr_is_the_same_error_as_whole() -> None:
    errors = []
    for pieces in ([CHUNKED_HEAD + b"2\r\nok\rX"], [CHUNKED_HEAD + b"2\r\nok\r", b"X"]):
        conn = client_after_request()
        try:
            for piece in pieces:
                drain(conn, piece)
        except h.RemoteProtocolError as exc:
            errors.append((exc.rule, exc.offset, exc.offending, str(exc)))
    assert len(errors) == 2 and errors[0] == errors[1]
    assert errors[0][:3] == ("chunk-data-crlf", len(CHUNKED_HEAD) + 5, b"\rX")


def test_har_finding_url_that_urlsplit_refuses() -> None:
    """har, 4 680 executions in: a request URL with a '[' that opens no IPv6 address made read_har raise
    ValueError (replay said "cannot read as har: ValueError: Invalid IPv6 URL", with no location)."""
    import subprocess
    import sys

    from fuzz import files

    artifact = FINDINGS / "har" / "dea79e63bd4a178519589683c1ddafac8278c7d5"
    files.reader_check("har")(artifact.read_bytes() + b"\n")  # even last byte: read from the file
    result = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(artifact)], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f'h11dbg: {artifact}: log.entries[0].request.url: not a URL (Invalid IPv6 URL): '
        '"http://127.0.0.1:876[/hello"']


def test_differential_finding_zero_padded_chunk_size() -> None:
    """differential, 87 294 executions in: a chunk-size of 23 characters, 14 of them leading zeros.  h11
    refuses more than 20 characters (400); we read the value, as for Content-Length.  Kept and documented
    (`chunk-size-leading-zeros` in docs/differences-from-h11.md); the harness now classifies it."""
    from fuzz import differential

    artifact = (FINDINGS / "differential" / "5fc1851c537aaec54bc96e2eb2fb05863d6db922").read_bytes()
    differential.check(artifact)  # raised Finding("unexplained difference from h11 ...")
    pieces = [b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 22 + b"5\r\nhello\r\n"]
    assert differential.compare("server", b"GET", False, pieces) == \
        differential.DOCUMENTED["chunk-size-leading-zeros"]


def test_differential_finding_trailer_section_backtracking() -> None:
    """differential, 110 900 executions in (a libFuzzer timeout): a 3.8 KB trailer section of 145 lines,
    some of them "Pragma: " (an empty value whose whitespace either OWS could take), the last one bad,
    took our engine over 60 s (the trailer regex backtracked exponentially); h11 refuses it at once.  A
    remote denial of service for listen.  Linear now: 16 KiB of such lines is refused in milliseconds."""
    import time

    from fuzz import differential

    artifact = (FINDINGS / "differential" / "82f2fac001d4c8137c6a3cdfecac87c1c7b12ab3").read_bytes()
    started = time.monotonic()
    differential.check(artifact)
    body = b"0\r\n" + b"Pragma: \r\n" * 1600 + b"bad line\r\n\r\n"
    conn = h.Connection(h.SERVER)
    try:
        drain(conn, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    except h.RemoteProtocolError as exc:
        assert exc.rule == "field-name-whitespace"
    else:
        raise AssertionError("the bad trailer line was accepted")
    assert time.monotonic() - started < 5


def test_har_finding_a_time_without_a_zone() -> None:
    """har, 20 858 executions in: one entry's startedDateTime without a zone among zoned ones made read_har
    raise TypeError (naive and aware datetimes compared); replay said "cannot read as har: TypeError ..."."""
    import subprocess
    import sys

    from fuzz import files

    artifact = FINDINGS / "har" / "911fd19c4840f39bd39f035f25d5916b02b7e36b"
    files.reader_check("har")(artifact.read_bytes() + b"\n")
    result = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(artifact)], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "TypeError" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode in (0, 1), result.stderr


def test_differential_finding_many_informational_heads() -> None:
    """differential, after the fixes above (373 546 executions): 12 interim 100 heads, then a line that
    cannot begin a status line.  Ours refuses it at once (the documented early-start-line-rejection), h11
    waits; the classifier looked at 8 heads at most, so it could not name it."""
    from fuzz import differential

    differential.check((FINDINGS / "differential" / "57fe45e00df11061c7ec94eecff949186cd12f0d").read_bytes())
