"""The bad-file and bad-script campaign through the CLI: mutated, truncated, spliced and random files for
replay, diff, convert, export and desync, and mutated scripts for loopback, each run as a user runs it
(``python -m h11dbg ...`` in a child process).  Every run must exit 0, 1 or 2, print no "Traceback" and end
within :data:`RUN_SECONDS` (loopback may also exit 3, its documented answer to a command that waits for
bytes that never come: "network error: a read timed out"); anything else is a finding, saved under the
artifacts directory.

    python -m fuzz cli --seconds 600      # prints the runs, the exit codes seen and the findings
"""

from __future__ import annotations

import collections
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fuzz import children_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
RUN_SECONDS = 60
SEED_FILES = [*sorted((ROOT / "transcripts").glob("*.h11t")), *sorted((ROOT / "tests/data/captures").glob("*.*"))]
SEED_FILES = [p for p in SEED_FILES if p.suffix in (".h11t", ".pcap", ".pcapng", ".txt", ".har")
              and p.stat().st_size <= 256 * 1024]
SEED_SCRIPTS = [
    "request POST /submit Content-Length: 5\ndata hello\neom\nas server\nrecv\nnext\nnext\nnext\n"
    "response 200 Transfer-Encoding: chunked\ndata ok\neom X-Trailer: yes\nas client\nrun\nexplain\n",
    "request GET / Connection: Upgrade Upgrade: ws\neom\nas server\nrecv\nnext\nnext\n"
    "response 101 Upgrade: ws Connection: Upgrade\nas client\nrun\nstates\n",
    "request POST / Expect: 100-continue Content-Length: 3\nas server\nrecv\nnext\nresponse 100\nas client\n"
    "recv\nnext\ndata abc\neom\nas server\nrun\ndiagram\n",
    "request GET /a\neom\nrequest GET /b\nas server\nrecv 0.1\nnext\nnext\nnext\nraw HTTP/1.1 200 OK\\r\\n\\r\\n\n"
    "as client\nnext\ncycle\nclose\nhex\nexplain\n",
]
TOKENS = ["nan", "inf", "-1", "1e20", "0" * 5000 + "1", "\\x00", "\\r\\n", "Content-Length: 99999999999999999999",
          "Transfer-Encoding: chunked", "as server", "as client", "next", "run", "recv", "eom", "data", "raw",
          "cycle", "close", "help", "'", '"', "\\", "\x00", "é", "x" * 2000, "#", ";", "explain rule", "states"]
INTERESTING = [b"\x00", b"\xff", b"\r\n", b"\n", b"\"", b"{", b"}", b"[", b"]", b"0" * 30, b"99999999999999999999",
               b"\\x", b"%", b"# h11dbg-transcript 1\n", b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a", b"== Info:",
               b"=> Send header", b'"log":', b"-1", b"nan"]


def mutate_bytes(rng: random.Random, data: bytes, others: list[bytes]) -> tuple[str, bytes]:
    how = rng.choice(["flip", "insert", "delete", "truncate", "splice", "random", "lines", "repeat"])
    if how == "random" or not data:
        return "random", rng.randbytes(rng.choice([0, 1, 16, 200, 5000]))
    pos = rng.randrange(len(data) + 1)
    if how == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        return how, bytes(out)
    if how == "insert":
        return how, data[:pos] + rng.choice(INTERESTING) + data[pos:]
    if how == "delete":
        return how, data[:pos] + data[pos + rng.randint(1, 64):]
    if how == "truncate":
        return how, data[:pos]
    if how == "splice":
        other = rng.choice(others)
        return how, data[:pos] + other[rng.randrange(len(other) + 1):]
    if how == "lines":
        lines = data.split(b"\n")
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        if rng.random() < 0.5:
            lines.insert(i, lines[j])
        return how, b"\n".join(lines)
    return how, data[:pos] + data[pos:pos + 64] * rng.randint(2, 200) + data[pos:]


def mutate_script(rng: random.Random, script: str) -> str:
    lines = script.splitlines()
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines) + 1)
        op = rng.randrange(4)
        if op == 0 and lines:
            del lines[min(i, len(lines) - 1)]
        elif op == 1:
            lines.insert(i, rng.choice(TOKENS) + (" " + rng.choice(TOKENS) if rng.random() < 0.5 else ""))
        elif op == 2 and lines:
            line = lines[min(i, len(lines) - 1)]
            k = rng.randrange(len(line) + 1)
            lines[min(i, len(lines) - 1)] = line[:k] + rng.choice(TOKENS) + line[k:]
        elif lines:
            lines.insert(i, lines[rng.randrange(len(lines))])
    return "\n".join(lines) + "\n"


def campaign(seconds: float, artifacts: Path, seed: int | None = None,
             cpu_seconds: float | None = None) -> tuple[int, int]:
    """Run for ``seconds`` of wall time, or until the runs have used ``cpu_seconds`` of CPU; returns (runs,
    findings) and prints the tallies."""
    rng = random.Random(seed if seed is not None else int(os.environ.get("FUZZ_SEED", time.time_ns())))
    seeds = [p.read_bytes() for p in SEED_FILES]
    exits: collections.Counter[str] = collections.Counter()
    findings = runs = 0
    deadline = time.monotonic() + seconds
    cpu_before = children_cpu_seconds()

    def budget_left() -> bool:
        if cpu_seconds:
            return children_cpu_seconds() - cpu_before < cpu_seconds
        return time.monotonic() < deadline
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as scratch_dir:
        scratch = Path(scratch_dir)
        while budget_left():
            command = rng.choice(["replay", "replay", "diff", "convert", "export", "desync", "loopback"])
            stdin: bytes | None = None
            inputs: dict[str, bytes] = {}
            if command == "loopback":
                script = mutate_script(rng, rng.choice(SEED_SCRIPTS))
                inputs["script.h11"] = script.encode()
                argv = ["loopback", "--script", "script.h11"]
                how = "script"
            else:
                base = rng.randrange(len(seeds))
                how, data = mutate_bytes(rng, seeds[base], seeds)
                suffix = SEED_FILES[base].suffix if rng.random() < 0.8 else rng.choice([".h11t", ".pcap", ".bin"])
                name = "input" + suffix
                inputs[name] = data
                argv = {
                    "replay": ["replay", name, *rng.choice([[], ["--json"], ["--ladder"], ["--segments"],
                                                                ["--engine", "h11"]])],
                    "diff": ["diff", name, str(rng.choice(SEED_FILES))] if rng.random() < 0.5
                    else ["diff", "--engines", name],
                    "convert": ["convert", name, "out" + rng.choice([".h11t", ".pcap", ".pcapng", ".har"])],
                    "export": ["export", name, "-o", "out" + rng.choice([".txt", ".md", ".html", ".svg"])],
                    "desync": ["desync", name, *rng.choice([[], ["--json"]])],
                }[command]
                if rng.random() < 0.1:  # standard input instead of a file
                    argv = [("-" if a == name else a) for a in argv]
                    stdin = data
            for leftover in scratch.iterdir():
                leftover.unlink()
            for file_name, content in inputs.items():
                (scratch / file_name).write_bytes(content)
            started = time.monotonic()
            try:
                result = subprocess.run([sys.executable, "-m", "h11dbg", *argv], cwd=scratch, input=stdin,
                                        stdin=None if stdin is not None else subprocess.DEVNULL,
                                        capture_output=True, timeout=RUN_SECONDS,
                                        env={**os.environ, "COLUMNS": "100"})
                code, stderr = str(result.returncode), result.stderr
            except subprocess.TimeoutExpired:
                code, stderr = "hang", b""
            runs += 1
            exits[code] += 1
            # loopback: 3 is its documented answer to a read that waits in vain (docs/cli.md)
            allowed = ("0", "1", "2", "3") if command == "loopback" else ("0", "1", "2")
            if code not in allowed or b"Traceback" in stderr:
                findings += 1
                saved = artifacts / f"cli-{command}-{runs}"
                saved.mkdir(parents=True, exist_ok=True)
                for file_name, content in inputs.items():
                    (saved / file_name).write_bytes(content)
                (saved / "command").write_text(
                    f"cd {saved} && python -m h11dbg {' '.join(argv)}\n# {how}, exit {code},"
                    f" {time.monotonic() - started:.1f} s\n")
                (saved / "stderr").write_bytes(stderr)
                print(f"finding: {saved}/command (exit {code})", file=sys.stderr)
    print(f"cli: exit codes {dict(sorted(exits.items()))}", flush=True)
    return runs, findings
