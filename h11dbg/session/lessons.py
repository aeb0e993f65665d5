"""Lessons: a task, the learner's own commands, and a check on what actually happened.

A lesson is a data file (TOML, docs/teaching.md): a title, where it runs (``loopback`` or against the
``demo`` server), and steps.  A step has a few sentences of text, a task, a check, a reference
solution (the commands that pass it) and a plausible mistake (commands that do not; the test suite runs
both).  The check reads the session as the learner left it: the log entries of this step (events sent
and received, errors, bytes) and the state each engine holds now.  When it does not pass, every
condition that failed says what the machines saw instead: that is the hint a learner gets.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from h11dbg.transcript.escaping import UnescapeError, escape, quote, unescape
from h11dbg.transcript.model import sender

if TYPE_CHECKING:
    from h11dbg.session.core import Session
    from h11dbg.session.log import LogEntry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover  (Python 3.10: the same parser, as the package it came from)
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

#: the lessons that come with h11dbg, in the order they build
LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"

CHECKS = {
    "states": "each side's own state now, as its engine holds it: {client = \"DONE\", server = \"IDLE\"}",
    "sent": "event kinds sent during the step: [\"Request\", \"EndOfMessage\"]",
    "received": "event kinds received during the step",
    "sent_headers": "a head sent during the step has these fields (a value: contained, any case)",
    "received_headers": "a head received during the step has these fields",
    "status": "a response with this status code was sent or received during the step",
    "error_rule": "a protocol error with this rule happened during the step",
    "error": "true: some protocol error happened during the step",
    "cycle": "true: start_next_cycle() ran during the step",
    "saw": "what next_event() said during the step besides events: [\"PAUSED\"]",
    "wire": "the bytes sent or received during the step contain this (escapes as in data)",
    "answer": "the accepted answers to the step's question (`answer TEXT`; any case)",
}


class LessonError(Exception):
    """A lesson file that cannot be used: one line with the file and what is wrong."""


@dataclass
class Step:
    title: str
    text: str
    task: str
    check: dict[str, Any]
    solution: list[str]
    mistake: list[str]
    hint: str = ""
    question: str = ""
    fresh: bool = False  # the step starts on a new connection (after one a machine refused)


@dataclass
class Lesson:
    name: str
    title: str
    setup: str  # "loopback" or "demo"
    intro: str
    steps: list[Step]
    path: Path
    files: dict[str, Path] = field(default_factory=dict)  # what `show-file NAME` prints (a capture)


def load(path: Path) -> Lesson:
    """The lesson in ``path``; raises :class:`LessonError` naming the file (and the line TOML gave)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LessonError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LessonError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LessonError(f"{path}: not a lesson file: {exc}") from None
    where = f"{path}"
    unknown_keys = set(data) - {"name", "title", "setup", "intro", "files", "step"}
    if unknown_keys:
        raise LessonError(f"{where}: unknown key {sorted(unknown_keys)[0]!r}")
    try:
        setup = data.get("setup", "loopback")
        if setup not in ("loopback", "demo"):
            raise LessonError(f"{where}: setup must be loopback or demo, not {setup!r}")
        steps = []
        raw_steps = data.get("step")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise LessonError(f"{where}: a lesson needs [[step]] tables")
        for number, raw in enumerate(raw_steps, start=1):
            at = f"{where}: step {number}"
            unknown = set(raw) - {"title", "text", "task", "check", "solution", "mistake", "hint", "question",
                                  "fresh"}
            if unknown:
                raise LessonError(f"{at}: unknown key {sorted(unknown)[0]!r}")
            check = raw.get("check")
            if not isinstance(check, dict) or not check:
                raise LessonError(f"{at}: a step needs a [step.check] with at least one condition")
            bad = set(check) - set(CHECKS)
            if bad:
                raise LessonError(f"{at}: unknown check {sorted(bad)[0]!r} (known: {', '.join(CHECKS)})")
            for key in ("title", "task"):
                if not isinstance(raw.get(key), str):
                    raise LessonError(f"{at}: {key} must be text")
            if "answer" in check and not raw.get("question"):
                raise LessonError(f"{at}: a check with answer needs a question")
            steps.append(Step(raw["title"], raw.get("text", ""), raw["task"], check, list(raw.get("solution", [])),
                              list(raw.get("mistake", [])), raw.get("hint", ""), raw.get("question", ""),
                              bool(raw.get("fresh", False))))
        files = {name: (path.parent / value).resolve() for name, value in data.get("files", {}).items()}
        return Lesson(data.get("name", path.stem), data.get("title", path.stem), setup, data.get("intro", ""), steps,
                      path, files)
    except (KeyError, TypeError, AttributeError) as exc:
        raise LessonError(f"{where}: malformed lesson ({exc})") from None


def builtin() -> list[Lesson]:
    """The lessons that come with h11dbg, in order (their files are named NN-name.toml)."""
    return [load(path) for path in sorted(LESSONS_DIR.glob("*.toml"))]


# -- checks -------------------------------------------------------------------------------------


def own_states(session: Session) -> dict[str, str]:
    """Each side's state as its own engine holds it (in loopback each side has one); a side this
    session does not play is read from the other's machine."""
    states: dict[str, str] = {}
    for role, side in session.sides.items():
        states[role] = str(side.machine.our_state)
        other = "server" if role == "client" else "client"
        states.setdefault(other, str(side.machine.their_state))
    return states


def _verb(entry: LogEntry) -> str:
    return "sent" if entry.direction and entry.actor == sender(entry.direction) else "received"


def _kinds(entries: list[LogEntry], verb: str) -> list[str]:
    return [type(e.event).__name__ for e in entries if e.kind == "event" and _verb(e) == verb]


def _heads(entries: list[LogEntry], verb: str) -> list[Any]:
    return [e.event for e in entries if e.kind == "event" and hasattr(e.event, "headers") and _verb(e) == verb]


def unmet(step: Step, session: Session, entries: list[LogEntry], answer: str | None = None) -> list[str]:
    """What of ``step``'s check does not hold, each said with what the machines saw; empty: passed.
    ``entries``: the log entries of this step; ``answer``: what the learner answered, if anything."""
    check = step.check
    said: list[str] = []
    states = own_states(session)
    for role, wanted in check.get("states", {}).items():
        if states.get(role) != wanted:
            said.append(f"the {role} is in {states.get(role)}, not {wanted}")
    for verb in ("sent", "received"):
        kinds = _kinds(entries, verb)
        for kind in check.get(verb, []):
            if kind not in kinds:
                seen = ", ".join(kinds) or "nothing"
                said.append(f"no {kind} was {verb} in this step ({verb}: {seen})")
        for name, value in check.get(f"{verb}_headers", {}).items():
            heads = _heads(entries, verb)
            fields = [(bytes(n).decode("latin-1"), bytes(v).decode("latin-1")) for head in heads
                      for n, v in head.headers]
            if not any(n.lower() == name.lower() and str(value).lower() in v.lower() for n, v in fields):
                seen = ", ".join(f"{n}: {v}" for n, v in fields) or "none"
                said.append(f"no head {verb} in this step has {name}: {value} (its fields: {seen})")
    if "status" in check:
        statuses = [int(e.event.status_code) for e in entries if e.kind == "event" and hasattr(e.event, "status_code")]
        if check["status"] not in statuses:
            said.append(f"no {check['status']} response in this step (statuses: "
                        f"{', '.join(map(str, statuses)) or 'none'})")
    errors = [e for e in entries if e.kind == "error"]
    if check.get("error") and not errors:
        said.append(f"no protocol error yet: both machines are fine (client {states.get('client')}, server "
                    f"{states.get('server')})")
    if "error_rule" in check:
        rules = [str(getattr(e.error, "rule", None)) for e in errors]
        if check["error_rule"] not in rules:
            said.append(f"no error with rule {check['error_rule']} in this step (errors: {', '.join(rules) or 'none'})")
    if check.get("cycle") and not any(e.kind == "state" and (e.text or "").startswith("start_next_cycle")
                                      for e in entries):
        said.append(f"start_next_cycle() has not run in this step (client {states.get('client')}, server "
                    f"{states.get('server')}: `cycle` works once both are DONE)")
    for name in check.get("saw", []):
        if not any(e.kind == "note" and (e.text or "").startswith(name) for e in entries):
            said.append(f"next_event() has not said {name} in this step")
    if "wire" in check:
        try:
            wanted_bytes = unescape(check["wire"])
        except UnescapeError:
            wanted_bytes = check["wire"].encode()
        wire = b"".join(e.data for e in entries if e.kind in ("event", "sent", "received") and e.data)
        if wanted_bytes not in wire:
            said.append(f"the bytes of this step do not contain {escape(wanted_bytes)}")
    if "answer" in check:
        accepted = [str(a).lower() for a in check["answer"]]
        if answer is None:
            said.append("no answer yet: type answer TEXT")
        elif answer.strip().lower() not in accepted:
            said.append(f"{quote(answer.strip())} is not it")
    return said
