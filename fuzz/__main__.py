"""``python -m fuzz NAME [--seconds N] [--grow]``: run one harness for a fixed time and print its figures.

Atheris harnesses run libFuzzer in a child process over a scratch corpus directory first (where new inputs
go) and the kept corpus second (seeds, read only), unless ``--grow`` adds new inputs to the kept corpus
(then minimise it with ``--minimize``).  The last line is ``NAME: N executions in S s, F findings``."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ATHERIS = ["engine", "differential", "reader", "pcap", "pcapng", "curl-trace", "har"]
HARNESSES = [*ATHERIS, "cli"]
# The longest input libFuzzer makes: small messages for the engines, small files for the readers.
MAX_LEN = {"engine": 8192, "differential": 8192}
# libFuzzer's per-input time limit: an input that runs longer is a hang (a finding).
PER_INPUT_SECONDS = 20


def corpus(name: str) -> Path:
    return HERE / "corpus" / name


def run_atheris(name: str, seconds: int, grow: bool, minimize: bool, artifacts: Path) -> tuple[int, int]:
    module = "fuzz.files" if name not in ("engine", "differential") else f"fuzz.{name}"
    kept = corpus(name)
    kept.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as scratch:
        env = dict(os.environ)
        if minimize:
            dirs = ["-merge=1", scratch, str(kept)]
            # libFuzzer's merge re-runs argv[0] as a program: give it one that starts this harness.
            wrapper = Path(scratch).parent / f"fuzz-{name}-{os.getpid()}.sh"
            wrapper.write_text(f'#!/bin/sh\ncd {HERE.parent} && exec {sys.executable} -m {module} '
                               + (f"--format={name} " if module == "fuzz.files" else "") + '"$@"\n')
            wrapper.chmod(0o755)
            env["FUZZ_SELF"] = str(wrapper)
        else:
            dirs = [str(kept)] if grow else [scratch, str(kept)]
        command = [sys.executable, "-m", module, *([f"--format={name}"] if module == "fuzz.files" else []),
                   f"-max_total_time={seconds}", f"-timeout={PER_INPUT_SECONDS}",
                   f"-max_len={MAX_LEN.get(name, 65536)}", "-rss_limit_mb=4096",
                   f"-artifact_prefix={artifacts}/{name}-", "-print_final_stats=1", *dirs]
        result = subprocess.run(command, cwd=HERE.parent, capture_output=True, text=True, errors="replace",
                                timeout=seconds + 300, env=env)
        if minimize and result.returncode == 0 and any(Path(scratch).iterdir()):
            for old in kept.iterdir():
                old.unlink()
            for new in Path(scratch).iterdir():
                new.rename(kept / new.name)
    log = result.stdout + result.stderr
    (artifacts / f"{name}.log").write_text(log)
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    executions = int(runs[-1]) if runs else 0
    findings = 0 if result.returncode == 0 else 1  # libFuzzer stops at the first finding
    if findings:
        print(log[-4000:], file=sys.stderr)
    return executions, findings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz")
    parser.add_argument("name", choices=[*HARNESSES, "all"])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "600")))
    parser.add_argument("--grow", action="store_true", help="add new inputs to the kept corpus")
    parser.add_argument("--minimize", action="store_true", help="replace the kept corpus by a minimal one")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "h11dbg-fuzz")
    args = parser.parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    total_findings = 0
    for name in HARNESSES if args.name == "all" else [args.name]:
        started = time.monotonic()
        if name == "cli":
            from fuzz.cli import campaign

            executions, findings = campaign(args.seconds, args.artifacts)
        else:
            executions, findings = run_atheris(name, args.seconds, args.grow, args.minimize, args.artifacts)
        total_findings += findings
        print(f"{name}: {executions} executions in {time.monotonic() - started:.0f} s, {findings} findings"
              f" (artifacts and log in {args.artifacts})", flush=True)
    return 1 if total_findings else 0


if __name__ == "__main__":
    sys.exit(main())
