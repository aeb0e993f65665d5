"""`h11dbg export`: the stepper in a real headless Chromium, the terminal rendering, Mermaid and text."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from support.browser import page

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"


def h11dbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True, timeout=120,
                          check=False)


def replayed(path: Path) -> list[dict]:
    return [record for record in map(json.loads, h11dbg("replay", "--json", str(path)).stdout.splitlines())
            if "states" in record]


@pytest.mark.parametrize("name", ["keepalive-curl-uvicorn.h11t", "chunked-trailers-curl-node.h11t",
                                  "smuggle-cl-te-raw-node.h11t", "websocket-upgrade-raw-node.h11t",
                                  "expect-100-continue-curl-node.h11t"])
def test_the_stepper_steps_through_every_event_in_a_real_browser(tmp_path: Path, name: str) -> None:
    out = tmp_path / "stepper.html"
    done = h11dbg("export", str(TRANSCRIPTS / name), "-o", str(out))
    assert done.returncode == 0, done.stderr
    expected = replayed(TRANSCRIPTS / name)
    with page() as (tab, errors):
        tab.goto(out.as_uri())
        for number, record in enumerate(expected):
            if number:
                tab.keyboard.press("ArrowRight")
            states = record["states"]
            assert tab.text_content("#states") == f"client {states['client']} · server {states['server']}"
            assert tab.text_content("#counter") == f"step {number + 1} of {len(expected)}"
            if record["event"] in ("Request", "Response"):
                marked = tab.text_content("mark")
                start = (f"{record['method']} {record['target']} HTTP/" if record["event"] == "Request"
                         else f"HTTP/{record['http_version']} {record['status_code']}")
                assert marked.startswith(start), (number, marked)
            if record["event"] == "Data":  # (both say the bytes in the one escaped notation)
                assert record["data"][:20] in tab.text_content("mark").replace("\n", "")
        tab.keyboard.press("ArrowRight")  # past the end: stays on the last step
        assert tab.text_content("#counter") == f"step {len(expected)} of {len(expected)}"
        tab.keyboard.press("ArrowLeft")
        assert tab.text_content("#counter") == f"step {len(expected) - 1} of {len(expected)}"
        # the state machines mark where each side is: exactly one state per role
        assert tab.locator("#machine-client .now").count() == 1
        assert tab.locator("#machine-server .now").count() == 1
    assert errors == []


def test_svg_and_static_html_are_the_terminal_rendering(tmp_path: Path) -> None:
    source = str(TRANSCRIPTS / "chunked-trailers-curl-node.h11t")
    assert h11dbg("export", source, "-o", str(tmp_path / "a.svg")).returncode == 0
    svg = ElementTree.parse(tmp_path / "a.svg").getroot()
    words = " ".join(" ".join(svg.itertext()).split())
    assert "GET /chunked-trailers" in words and "start_next_cycle()" in words.replace("\u00a0", " ")
    assert h11dbg("export", source, "-o", str(tmp_path / "b.html"), "--static").returncode == 0
    static = (tmp_path / "b.html").read_text()
    assert "<script" not in static and "GET /chunked-trailers" in static


def test_mermaid_draws_the_ladder(tmp_path: Path) -> None:
    source = str(TRANSCRIPTS / "chunked-trailers-curl-node.h11t")
    assert h11dbg("export", source, "-o", str(tmp_path / "a.md")).returncode == 0
    lines = (tmp_path / "a.md").read_text().splitlines()
    assert lines[:2] == ["```mermaid", "sequenceDiagram"] and lines[-1] == "```"
    arrows = [line.strip() for line in lines if "->>" in line]
    assert arrows == ["C->>S: GET /chunked-trailers", "C->>S: EndOfMessage", "S->>C: 200 OK",
                      "S->>C: Data ×2 25 B", "S->>C: EndOfMessage + trailers", "C->>S: close", "S->>C: close"]
    assert "    Note over C,S: client DONE · server DONE" in lines


def test_txt_is_the_ladder_and_the_replay(tmp_path: Path) -> None:
    source = str(TRANSCRIPTS / "keepalive-curl-uvicorn.h11t")
    assert h11dbg("export", source, "-o", str(tmp_path / "a.txt")).returncode == 0
    text = (tmp_path / "a.txt").read_text()
    ladder_text = h11dbg("replay", "--ladder", source).stdout
    replay_text = h11dbg("replay", source).stdout
    assert text == ladder_text + "\n" + replay_text


def test_mistakes_are_one_line_and_nothing_is_overwritten(tmp_path: Path) -> None:
    source = str(TRANSCRIPTS / "keepalive-curl-uvicorn.h11t")
    existing = tmp_path / "mine.html"
    existing.write_text("keep me")
    done = h11dbg("export", source, "-o", str(existing))
    assert done.returncode == 2 and "exists already" in done.stderr and existing.read_text() == "keep me"
    done = h11dbg("export", source, "-o", str(tmp_path / "x.pdf"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and ".html" in done.stderr
    garbage = tmp_path / "garbage.h11t"
    garbage.write_bytes(b"\x00\x01 not a transcript")
    done = h11dbg("export", str(garbage), "-o", str(tmp_path / "g.html"))
    assert done.returncode == 2 and "Traceback" not in done.stderr and not (tmp_path / "g.html").exists()


def test_export_in_a_session_is_the_same_stepper(tmp_path: Path) -> None:
    script = (
        "request POST /x Transfer-Encoding: chunked\ndata hello\neom\nas server\nrun\n"
        "response 200 Content-Length: 2\ndata hi\neom\nas client\nrun\ncycle\n"
        f"save {tmp_path / 's.h11t'}\nexport {tmp_path / 's.html'}\nexport {tmp_path / 's.html'}\n"
    )
    done = subprocess.run([sys.executable, "-m", "h11dbg", "loopback"], input=script, capture_output=True,
                          text=True, timeout=60, check=False)
    assert f"exported the session so far to {tmp_path / 's.html'} (stepper, " in done.stdout
    # the second export would overwrite the first: refused, with the command that would not
    assert done.returncode == 2
    assert done.stderr == (f"<stdin>:14: {tmp_path / 's.html'}: exists already; refusing to overwrite it "
                           f"(use export --force {tmp_path / 's.html'})\n")
    expected = replayed(tmp_path / "s.h11t")
    with page() as (tab, errors):
        tab.goto((tmp_path / "s.html").as_uri())
        seen = [tab.text_content("#states")]
        for _ in expected[1:]:
            tab.keyboard.press("ArrowRight")
            seen.append(tab.text_content("#states"))
    assert seen == [f"client {r['states']['client']} · server {r['states']['server']}" for r in expected]
    assert errors == []
