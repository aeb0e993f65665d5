"""``python -m fuzz NAME [--seconds N | --cpu-seconds N] [--grow]``: run one harness for a fixed time and print
its figures.

Atheris harnesses run libFuzzer in a child process over a scratch corpus directory first (where new inputs
go) and the kept corpus second (seeds, read only), unless ``--grow`` adds new inputs to the kept corpus
(then minimise it with ``--minimize``).  The last line is ``NAME: N executions in S s, F findings (C s of CPU,
...)``.

``--cpu-seconds`` budgets CPU time instead of wall time: on a shared machine a harness at ``nice -n 19``
gets what the others leave, and an hour of wall time can be ten minutes of fuzzing.  The harness's CPU
(its own and its children's, user and system) is read from ``/proc`` once a second; at the budget libFuzzer
gets SIGUSR1, its graceful stop: it prints its final stats and exits 0 (SIGINT would reach Python's
handler, which atheris turns into a KeyboardInterrupt with no stats)."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fuzz import children_cpu_seconds

HERE = Path(__file__).resolve().parent
ATHERIS = ["engine", "differential", "reader", "pcap", "pcapng", "curl-trace", "har"]
HARNESSES = [*ATHERIS, "cli"]
# The longest input libFuzzer makes: small messages for the engines, small files for the readers.
MAX_LEN = {"engine": 8192, "differential": 8192}
# libFuzzer's per-input time limit: an input that runs longer is a hang (a finding).
PER_INPUT_SECONDS = 20
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a running process and of the children it has waited for (/proc/PID/stat: utime, stime,
    cutime, cstime); 0 if it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS


class Budget:
    """A run's limit: wall seconds, or CPU seconds when ``cpu`` is set."""

    def __init__(self, seconds: int, cpu: int | None) -> None:
        self.seconds, self.cpu = seconds, cpu

    def libfuzzer_time(self) -> int:
        return 0 if self.cpu else self.seconds  # 0: no wall limit, the CPU watcher stops it


def run_libfuzzer(command: list[str], env: dict[str, str], budget: Budget) -> tuple[int, str]:
    """Run libFuzzer to its end, or to its graceful stop once its CPU reaches the budget; returns (code, log)."""
    with tempfile.TemporaryFile("w+", errors="replace") as log:
        child = subprocess.Popen(command, cwd=HERE.parent, stdout=log, stderr=subprocess.STDOUT, text=True,
                                 env=env)
        # past libFuzzer's own -max_total_time: a harness stuck outside its loop
        wall_limit = None if budget.cpu else time.monotonic() + budget.seconds + 300
        while True:
            try:
                code = child.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                pass
            if budget.cpu and process_cpu_seconds(child.pid) >= budget.cpu:
                child.send_signal(signal.SIGUSR1)
                code = child.wait()
                break
            if wall_limit is not None and time.monotonic() > wall_limit:
                child.kill()
                code = child.wait()
                break
        log.seek(0)
        return code, log.read()


def corpus(name: str) -> Path:
    return HERE / "corpus" / name


def findings_dir(name: str) -> Path:
    """The inputs that were findings, each kept under its hash: every run reads them as seeds (so a
    regression is found at once) and ``--minimize`` never drops them, as a merge would once they add no
    coverage; tests/fuzz/test_findings.py reproduces each."""
    return HERE / "findings" / name


def run_atheris(name: str, budget: Budget, grow: bool, minimize: bool, artifacts: Path) -> tuple[int, int]:
    module = "fuzz.files" if name not in ("engine", "differential") else f"fuzz.{name}"
    kept = corpus(name)
    kept.mkdir(parents=True, exist_ok=True)
    found = [str(findings_dir(name))] if findings_dir(name).is_dir() else []
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as scratch:
        env = dict(os.environ)
        if minimize:
            dirs = ["-merge=1", scratch, str(kept), *found]
            # libFuzzer's merge re-runs argv[0] as a program: give it one that starts this harness.
            wrapper = Path(scratch).parent / f"fuzz-{name}-{os.getpid()}.sh"
            wrapper.write_text(f'#!/bin/sh\ncd {HERE.parent} && exec {sys.executable} -m {module} '
                               + (f"--format={name} " if module == "fuzz.files" else "") + '"$@"\n')
            wrapper.chmod(0o755)
            env["FUZZ_SELF"] = str(wrapper)
        else:
            dirs = [str(kept), *found] if grow else [scratch, str(kept), *found]
        command = [sys.executable, "-m", module, *([f"--format={name}"] if module == "fuzz.files" else []),
                   f"-max_total_time={budget.libfuzzer_time()}", f"-timeout={PER_INPUT_SECONDS}",
                   f"-max_len={MAX_LEN.get(name, 65536)}", "-rss_limit_mb=4096",
                   f"-artifact_prefix={artifacts}/{name}-", "-print_final_stats=1", *dirs]
        code, log = run_libfuzzer(command, env, budget)
        if minimize and code == 0 and any(Path(scratch).iterdir()):
            for old in kept.iterdir():
                old.unlink()
            for new in Path(scratch).iterdir():
                if not (findings_dir(name) / new.name).exists():  # named by their hash: the same input
                    new.rename(kept / new.name)
    (artifacts / f"{name}.log").write_text(log)
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    executions = int(runs[-1]) if runs else 0
    findings = 0 if code == 0 else 1  # libFuzzer stops at the first finding
    if findings:
        print(log[-4000:], file=sys.stderr)
    return executions, findings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz")
    parser.add_argument("name", choices=[*HARNESSES, "all"])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "600")),
                        help="wall time per harness")
    parser.add_argument("--cpu-seconds", type=int, default=int(os.environ.get("FUZZ_CPU_SECONDS", "0")) or None,
                        help="CPU time per harness instead of wall time (its children's included)")
    parser.add_argument("--grow", action="store_true", help="add new inputs to the kept corpus")
    parser.add_argument("--minimize", action="store_true", help="replace the kept corpus by a minimal one")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "h11dbg-fuzz")
    args = parser.parse_args()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    total_findings = 0
    if args.cpu_seconds is not None and args.cpu_seconds <= 0:
        parser.error("--cpu-seconds must be a positive number of seconds")
    budget = Budget(args.seconds, args.cpu_seconds)
    for name in HARNESSES if args.name == "all" else [args.name]:
        started, cpu_before = time.monotonic(), children_cpu_seconds()
        if name == "cli":
            from fuzz.cli import campaign

            executions, findings = campaign(args.seconds, args.artifacts, cpu_seconds=args.cpu_seconds)
        else:
            executions, findings = run_atheris(name, budget, args.grow, args.minimize, args.artifacts)
        total_findings += findings
        cpu = children_cpu_seconds() - cpu_before
        print(f"{name}: {executions} executions in {time.monotonic() - started:.0f} s, {findings} findings"
              f" ({cpu:.0f} s of CPU; artifacts and log in {args.artifacts})", flush=True)
    return 1 if total_findings else 0


if __name__ == "__main__":
    sys.exit(main())
