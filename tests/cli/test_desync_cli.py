"""`h11dbg desync`: the client bytes of real recordings as a front end, a back end and the strict
engine read them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def desync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", "desync", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def readings(path: Path, *args: str) -> dict[str, dict]:
    done = desync("--json", *args, str(path))
    [record] = [json.loads(line) for line in done.stdout.splitlines()]
    return {reading["reader"].split(" (")[0]: reading for reading in record["readings"]}


def test_a_smuggled_get_admin_is_the_request_only_the_back_end_sees() -> None:
    path = TRANSCRIPTS / "smuggle-cl-te-get-admin-raw-node.h11t"
    done = desync(str(path))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    marked = [line for line in lines if "◀ only this reader sees this request" in line]
    assert len(marked) == 1 and "[95, 135)" in marked[0] and "GET /admin" in marked[0]
    assert lines[-1] == ("  disagree: bytes [95, 135) (GET /admin HTTP/1.1\\r\\nH) are a request only the back end "
                         "sees; h11dbg refuses the bytes instead of guessing")
    seen = readings(path)
    assert [(r["start"], r["end"], r["target"]) for r in seen["front end"]["requests"]] == [(0, 135, "/search")]
    assert [(r["start"], r["end"], r["target"], r["only_here"]) for r in seen["back end"]["requests"]] == [
        (0, 95, "/search", False), (95, 135, "/admin", True)]
    assert seen["h11dbg"]["requests"] == []
    assert "[content-length-and-transfer-encoding, RFC 9112 §6.3]" in seen["h11dbg"]["error"]


def test_h11_reads_cl_te_as_the_back_end_does() -> None:
    path = TRANSCRIPTS / "smuggle-cl-te-get-admin-raw-node.h11t"
    done = desync("--engine", "h11", str(path))
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].endswith("; h11 reads them as the back end does")
    seen = readings(path, "--engine", "h11")
    assert [(r["start"], r["end"]) for r in seen["h11"]["requests"]] == [(0, 95), (95, 135)]


def test_duplicate_content_length_leaves_a_byte_only_the_front_end_takes_for_a_request() -> None:
    seen = readings(TRANSCRIPTS / "smuggle-duplicate-content-length-raw-node.h11t")
    assert [(r["start"], r["end"], r["method"], r["only_here"]) for r in seen["front end"]["requests"]] == [
        (0, 85, "POST", False), (85, None, "!", True)]
    assert [(r["start"], r["end"]) for r in seen["back end"]["requests"]] == [(0, 86)]
    assert seen["h11dbg"]["error_offset"] == 75 and "content-length-conflict" in seen["h11dbg"]["error"]


def test_bare_lf_the_lenient_readers_agree_and_the_strict_engine_refuses() -> None:
    path = TRANSCRIPTS / "smuggle-bare-lf-chunked-raw-uvicorn.h11t"
    done = desync(str(path))
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "  disagree: h11dbg refuses the bytes instead of guessing"
    seen = readings(path)
    assert seen["front end"]["requests"] == seen["back end"]["requests"]


def test_ordinary_traffic_agrees_in_any_format() -> None:
    done = desync(str(TRANSCRIPTS / "keepalive-curl-uvicorn.h11t"))
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == "  agree: all three read 3 request(s) in the same places"
    pcap = desync(str(CAPTURES / "http-lo.pcap"))
    assert pcap.returncode == 0 and "agree: all three read" in pcap.stdout


def test_unreadable_input_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "x.h11t"
    garbage.write_bytes(b"\x00\x01\x02")
    done = desync(str(garbage))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
