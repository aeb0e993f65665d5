"""The command language shared by the REPL and scripts: ``execute(session, line)``.

Headers are typed as ``Name: value`` pairs after the command's fixed arguments::

    request GET / Accept: */* X-A: b c          -> Accept: */*   and   X-A: b c
    request GET /path host:example.com          -> Host: example.com
    response 302 Location: http://example.com/  -> one header (a ``scheme://`` word never starts one)
    request GET / X-Q: "a: b"  'X-R: literal'   -> quotes keep text together and never start a header

A new header starts at every unquoted word that begins with an HTTP token followed by ``:``;
the words up to the next such word (joined by single spaces) are its value.  Names and values
accept the escapes of :func:`h11dbg.transcript.escaping.unescape` (``\\r \\n \\t \\xHH``).  ``data`` and ``raw``
take the rest of the line literally (only escapes are processed); ``data @FILE`` sends a file.

:func:`execute` never raises for a user mistake: bad syntax comes back as ``CommandResult.error``
(``error_kind="usage"``), a protocol error as an ``"error"`` log entry, and a network failure as
``error_kind="network"`` with one line of text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from h11dbg.session.core import ConnectionGone, Session, SessionError
from h11dbg.session.explain import Explanation
from h11dbg.session.log import LogEntry
from h11dbg.transcript.escaping import UnescapeError, quote, unescape
from h11dbg.transcript.model import ROLES
from h11dbg.transport import NetworkError, SecondsError, parse_seconds


@dataclass
class CommandResult:
    entries: list[LogEntry] = field(default_factory=list)
    output: list[str] = field(default_factory=list)  # plain text for states/explain/help
    recap: list[LogEntry] = field(default_factory=list)  # `log`: entries to show again (the front end renders)
    explanation: Explanation | None = None  # `explain`: the facts (the front end words them)
    ladder: list[LogEntry] | None = None  # `ladder`: the entries to draw as one (the front end draws it)
    diagram: list[LogEntry] | None = None  # `diagram`: the entries whose states to draw on the state machines
    hexdump: str | None = None  # `hex`: "on", "off" or "toggle" (the front end keeps the setting)
    help: list[CommandInfo] | None = None  # `help`: the commands to describe (the front end lays them out)
    export: tuple[str, bool] | None = None  # `export`: (file, force), written by the front end (h11dbg.ui.exporting)
    quit: bool = False
    error: str | None = None  # one line, for a user mistake or a network failure
    error_kind: str | None = None  # "usage" | "network" | "interrupted" (Ctrl-C)

    def hexdump_after(self, current: bool) -> bool:
        """Whether hex dumps are on after this command, if they were ``current`` before it."""
        if self.hexdump is None:
            return current
        return not current if self.hexdump == "toggle" else self.hexdump == "on"


def moves_a_state(result: CommandResult) -> bool:
    """Whether a command's entries moved either side's state (``--diagram`` redraws after those)."""
    return any(entry.states_before != entry.states_after for entry in result.entries)


@dataclass(frozen=True)
class CommandInfo:
    name: str
    syntax: str
    help: str
    modes: tuple[str, ...] = ("connect", "listen", "loopback")


COMMANDS: dict[str, CommandInfo] = {
    info.name: info
    for info in (
        CommandInfo("request", "request [--http 1.0] [--no-host] METHOD TARGET [Name: value ...]",
                    "send a Request (Host is filled in from the address unless given or --no-host)"),
        CommandInfo("response", "response [--http 1.0] [--reason TEXT] STATUS [Name: value ...]",
                    "send a Response (the reason defaults to the standard phrase)"),
        CommandInfo("info", "info [--reason TEXT] STATUS [Name: value ...]",
                    "send an InformationalResponse (1xx), e.g. info 100"),
        CommandInfo("data", "data TEXT | data @FILE",
                    "send a Data event (escapes \\r \\n \\t \\xHH; @FILE sends a file's bytes)"),
        CommandInfo("eom", "eom [Name: value ...]", "send EndOfMessage, optionally with trailers"),
        CommandInfo("close", "close", "send ConnectionClosed (half-closes the socket)"),
        CommandInfo("raw", "raw TEXT | raw @FILE",
                    "write bytes that bypass the state machine (escapes as in data; @FILE sends a file's bytes)"),
        CommandInfo("recv", "recv [SECONDS]", "one socket read; the bytes are shown exactly, escaped"),
        CommandInfo("next", "next", "one next_event(): the event and the states before -> after"),
        CommandInfo("run", "run [SECONDS]",
                    "receive and process until the peer's message is complete, it closes, or timeout"),
        CommandInfo("states", "states", "both roles' states"),
        CommandInfo("explain", "explain", "why each side is where it is and what may come next"),
        CommandInfo("log", "log", "everything that happened so far"),
        CommandInfo("ladder", "ladder",
                    "the exchange so far as a ladder: one arrow per message between the client and server "
                    "lanes, each side's state after it"),
        CommandInfo("diagram", "diagram",
                    "both state machines, from the engine's own table: where each side is now and its last move"),
        CommandInfo("cycle", "cycle", "start_next_cycle(): reuse the connection once both sides are DONE"),
        CommandInfo("export", "export [--force] FILE",
                    "the session so far as the stepper page (.html), a picture (.svg), a Mermaid diagram (.md) "
                    "or text (.txt), as `h11dbg export` writes a transcript"),
        CommandInfo("save", "save [--force] FILE",
                    "write every byte sent and received so far to FILE as a transcript (for h11dbg replay)"),
        CommandInfo("accept", "accept", "finish this connection, then wait for the next client (listen mode)",
                    ("listen",)),
        CommandInfo("reconnect", "reconnect",
                    "a new connection to the same peer (after it closed this one), in the same log and recording",
                    ("connect",)),
        CommandInfo("timing", "timing",
                    "each completed exchange's times, as curl -w gives them: dns, connect, tls, first byte, total"),
        CommandInfo("as", "as client|server", "act as the client or the server (loopback mode)",
                    ("loopback",)),
        CommandInfo("hex", "hex [on|off]",
                    "show the bytes of each entry as a hex dump from here on (toggles without an argument)"),
        CommandInfo("help", "help [COMMAND]", "list the commands, or explain one"),
        CommandInfo("quit", "quit", "end the session"),
    )
}
ALIASES = {"exit": "quit", "?": "help", "send": "data"}


class CommandError(Exception):
    """A user mistake in a command line (reported as a one-line usage error)."""


# ------------------------------------------------------------------------- parsing
_HEADER_START = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):")
_NON_ASCII_NAME = re.compile(r"([^\s:\"']*[^\x00-\x7f][^\s:\"']*):")


@dataclass
class Word:
    text: str
    plain_prefix: int  # how many leading characters were outside quotes


def split_words(text: str) -> list[Word]:
    """Split on whitespace; '...' and "..." keep text together (no other quoting rules)."""
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        chars: list[str] = []
        plain_prefix: int | None = None
        while i < n and not text[i].isspace():
            ch = text[i]
            if ch in "'\"":
                if plain_prefix is None:
                    plain_prefix = len(chars)
                end = text.find(ch, i + 1)
                if end < 0:
                    raise CommandError(f"unclosed {ch} quote at column {i + 1}")
                chars.append(text[i + 1 : end])
                i = end + 1
            else:
                chars.append(ch)
                i += 1
        word = "".join(chars)
        words.append(Word(word, len(word) if plain_prefix is None else plain_prefix))
    return words


def _header_start(word: Word) -> tuple[str, str] | None:
    m = _HEADER_START.match(word.text)
    if not m or m.end() > word.plain_prefix:
        return None
    rest = word.text[m.end() :]
    if rest.startswith("//") and m.end() + 2 <= word.plain_prefix:
        return None  # "http://..." is a value, not a header called "http"
    return m.group(1), rest


def _unescape(text: str, what: str) -> bytes:
    try:
        return unescape(text)
    except UnescapeError as exc:
        raise CommandError(f"{what}: {exc} (at character {exc.position + 1})") from None


def _payload(rest: str, what: str) -> bytes:
    """``@FILE``: the file's bytes, exactly; anything else: the text with its escapes (a leading @ of
    the text itself is written ``\\x40``)."""
    if not rest.startswith("@"):
        return _unescape(rest, what)
    path = os.path.expanduser(rest[1:].strip())
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None


def parse_headers(words: list[Word]) -> list[tuple[bytes, bytes]]:
    pending: list[tuple[str, list[str]]] = []
    for word in words:
        start = _header_start(word)
        if start is not None:
            name, value = start
            pending.append((name, [value] if value else []))
        elif (bad := _NON_ASCII_NAME.match(word.text)) and bad.end() <= word.plain_prefix:
            # it reads as a header, not as more of the value before it: say so rather than join it
            raise CommandError(f"header name {quote(bad.group(1))} is not ASCII: a field name is a token "
                               "(RFC 9110 §5.1); `raw` sends any bytes")
        elif not pending:
            hint = " (quote values, not whole headers: X-A: \"b c\")" if ":" in word.text else ""
            raise CommandError(f"expected a header like 'Name: value', got {quote(word.text)}{hint}")
        else:
            pending[-1][1].append(word.text)
    return [(_unescape(name, "header name"), _unescape(" ".join(parts), f"header {name}"))
            for name, parts in pending]


def _take_options(words: list[Word], allowed: dict[str, bool], npositional: int
                  ) -> tuple[dict[str, str | bool], list[str], list[Word]]:
    """Options (``--name [value]``) mixed with ``npositional`` arguments; the rest are headers."""
    options: dict[str, str | bool] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        text = words[i].text
        if text.startswith("--") and words[i].plain_prefix > 2:
            if text not in allowed:
                raise CommandError(f"unknown option {text} (allowed: {', '.join(allowed) or 'none'})")
            if allowed[text]:
                if i + 1 >= len(words):
                    raise CommandError(f"{text} needs a value")
                options[text] = words[i + 1].text
                i += 2
            else:
                options[text] = True
                i += 1
            continue
        if len(positional) < npositional:
            positional.append(text)
            i += 1
            continue
        break
    return options, positional, words[i:]


def _http_version(options: dict[str, str | bool]) -> str:
    version = str(options.get("--http", "1.1"))
    if version not in ("1.0", "1.1"):
        raise CommandError(f"--http must be 1.0 or 1.1, not {quote(version)}")
    return version


def _status(text: str) -> int:
    if not text.isdigit() or len(text) != 3:
        raise CommandError(f"STATUS must be a three-digit number, not {quote(text)}")
    return int(text)


def _reason(status: int, options: dict[str, str | bool]) -> bytes:
    if "--reason" in options:
        return _unescape(str(options["--reason"]), "reason")
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


# ------------------------------------------------------------------------- commands
def _build(session: Session, factory: Callable[..., object], **kwargs: object
           ) -> tuple[object, list[LogEntry] | None]:
    """Build an engine event; a LocalProtocolError here is the user's and becomes an error entry."""
    try:
        return factory(**kwargs), None
    except session.engine.LocalProtocolError as exc:
        return None, [session.error_entry(exc)]


def _cmd_request(session: Session, rest: str) -> CommandResult:
    options, positional, header_words = _take_options(
        split_words(rest), {"--http": True, "--no-host": False}, 2)
    if len(positional) < 2:
        raise CommandError("usage: " + COMMANDS["request"].syntax)
    headers = parse_headers(header_words)
    if not options.get("--no-host") and not any(name.lower() == b"host" for name, _ in headers):
        headers.insert(0, (b"Host", session.host.encode("ascii", "replace")))
    event, errors = _build(session, session.engine.Request, method=_unescape(positional[0], "method"),
                           target=_unescape(positional[1], "target"), headers=headers,
                           http_version=_http_version(options))
    return CommandResult(entries=errors or session.send_event(event))


def _cmd_response(session: Session, rest: str, informational: bool = False) -> CommandResult:
    allowed = {"--reason": True} if informational else {"--http": True, "--reason": True}
    options, positional, header_words = _take_options(split_words(rest), allowed, 1)
    if not positional:
        raise CommandError("usage: " + COMMANDS["info" if informational else "response"].syntax)
    status = _status(positional[0])
    factory = session.engine.InformationalResponse if informational else session.engine.Response
    event, errors = _build(session, factory, status_code=status, headers=parse_headers(header_words),
                           reason=_reason(status, options), http_version=_http_version(options))
    return CommandResult(entries=errors or session.send_event(event))


def _cmd_data(session: Session, rest: str) -> CommandResult:
    if not rest:
        raise CommandError("usage: " + COMMANDS["data"].syntax)
    event, errors = _build(session, session.engine.Data, data=_payload(rest, "data"))
    return CommandResult(entries=errors or session.send_event(event))


def _cmd_eom(session: Session, rest: str) -> CommandResult:
    event, errors = _build(session, session.engine.EndOfMessage, headers=parse_headers(split_words(rest)))
    return CommandResult(entries=errors or session.send_event(event))


def _seconds(rest: str) -> float | None:
    if not rest.strip():
        return None
    try:
        return parse_seconds(rest)
    except SecondsError as exc:
        raise CommandError(str(exc)) from None


def _no_args(name: str, rest: str) -> None:
    if rest.strip():
        raise CommandError(f"{name} takes no arguments (usage: {COMMANDS[name].syntax})")


def _states_output(session: Session) -> list[str]:
    roles = ROLES if session.mode == "loopback" else (session.actor,)
    lines = []
    for role in roles:
        states = session.states(role)
        view = f"{role}'s connection: " if session.mode == "loopback" else ""
        marker = {r: " (us)" if r == role else "" for r in ROLES}
        lines.append(f"{view}client{marker['client']} {states['client']}, "
                     f"server{marker['server']} {states['server']}")
    return lines


def _cmd_save(session: Session, rest: str) -> CommandResult:
    options, positional, extra = _take_options(split_words(rest), {"--force": False}, 1)
    if not positional or extra:
        raise CommandError("usage: " + COMMANDS["save"].syntax + " (quote a name with spaces)")
    # the REPL completes ~/ paths, so `save` must understand them too
    path = os.path.expanduser(positional[0])
    return CommandResult(output=[session.save(path, force=bool(options.get("--force")))])


def _cmd_export(rest: str) -> CommandResult:
    options, positional, extra = _take_options(split_words(rest), {"--force": False}, 1)
    if not positional or extra:
        raise CommandError("usage: " + COMMANDS["export"].syntax + " (quote a name with spaces)")
    return CommandResult(export=(os.path.expanduser(positional[0]), bool(options.get("--force"))))


def help_for(name: str | None = None) -> list[CommandInfo]:
    """``help``: every command, or the one called ``name`` (an alias counts)."""
    if not name:
        return list(COMMANDS.values())
    info = COMMANDS.get(ALIASES.get(name, name))
    if info is None:
        raise CommandError(f"no command {quote(name)}; `help` lists them")
    return [info]


def _dispatch(session: Session, name: str, rest: str) -> CommandResult:
    info = COMMANDS[name]
    if session.mode not in info.modes:
        raise CommandError(f"{name} only works in {' / '.join(info.modes)} mode")
    if name == "request":
        return _cmd_request(session, rest)
    if name == "response":
        return _cmd_response(session, rest)
    if name == "info":
        return _cmd_response(session, rest, informational=True)
    if name == "data":
        return _cmd_data(session, rest)
    if name == "eom":
        return _cmd_eom(session, rest)
    if name == "raw":
        if not rest:
            raise CommandError("usage: " + info.syntax)
        return CommandResult(entries=session.send_raw(_payload(rest, "raw")))
    if name == "recv":
        return CommandResult(entries=session.recv(timeout=_seconds(rest)))
    if name == "run":
        return CommandResult(entries=session.run(timeout=_seconds(rest)))
    if name == "help":
        return CommandResult(help=help_for(rest.strip() or None))
    if name == "save":
        return _cmd_save(session, rest)
    if name == "export":
        return _cmd_export(rest)
    if name == "hex":
        setting = rest.strip().lower()
        if setting not in ("", "on", "off"):
            raise CommandError("usage: " + info.syntax)
        return CommandResult(hexdump=setting or "toggle")
    if name == "as":
        role = rest.strip()
        if role not in ROLES:
            raise CommandError("usage: as client|server")
        session.actor = role
        return CommandResult(output=[f"acting as the {role}"])
    _no_args(name, rest)
    if name == "close":
        return CommandResult(entries=session.send_close())
    if name == "next":
        return CommandResult(entries=session.next())
    if name == "states":
        return CommandResult(output=_states_output(session))
    if name == "explain":
        try:
            return CommandResult(explanation=session.explain())
        except SessionError as exc:  # nothing to explain yet (listen before a client): said, not an error
            return CommandResult(output=[str(exc)])
    if name == "log":
        return CommandResult(recap=list(session.log))
    if name == "ladder":
        return CommandResult(ladder=list(session.log))
    if name == "diagram":
        return CommandResult(diagram=list(session.log))
    if name == "cycle":
        return CommandResult(entries=session.cycle())
    if name == "accept":
        return CommandResult(entries=session.accept())
    if name == "reconnect":
        return CommandResult(entries=session.reconnect())
    if name == "timing":
        timings = [entry for entry in session.log if entry.kind == "timing"]
        return CommandResult(recap=timings, output=[] if timings else ["no response has completed yet"])
    assert name == "quit"
    return CommandResult(quit=True)


def _without_comment(text: str) -> str:
    """``text`` up to a ``#`` that follows white space outside double quotes (an end-of-line comment).
    Not for ``data`` and ``raw``, whose text is sent as it is, ``#`` included."""
    quoted = False
    for index, char in enumerate(text):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif char == "#" and not quoted and (index == 0 or text[index - 1].isspace()):
            return text[:index]
    return text


def execute(session: Session, line: str) -> CommandResult:
    """Run one command line.  Blank lines and ``# comments`` do nothing; so does the end of a line
    from a ``#`` after white space, except in ``data`` and ``raw`` (their text is sent as it is)."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return CommandResult()
    name, _, rest = stripped.partition(" ")
    # data/raw keep their text exactly: only the one separating space is dropped
    verbatim = name in ("data", "raw", "send")
    rest = line.lstrip().partition(" ")[2].rstrip("\r\n") if verbatim else _without_comment(rest).strip()
    name = ALIASES.get(name, name)
    if name not in COMMANDS:
        return CommandResult(error=f"unknown command {quote(name)} (`help` lists the commands)",
                             error_kind="usage")
    try:
        return _dispatch(session, name, rest)
    except CommandError as exc:
        return CommandResult(error=str(exc), error_kind="usage")
    except ConnectionGone as exc:  # not the script's mistake: the peer went away
        return CommandResult(error=str(exc), error_kind="network")
    except SessionError as exc:
        return CommandResult(error=str(exc), error_kind="usage")
    except NetworkError as exc:
        return CommandResult(error=f"network error: {exc}", error_kind="network")
    except UnicodeEncodeError:
        return CommandResult(error="the line holds characters that are not valid text (use \\xHH for bytes)",
                             error_kind="usage")
    except KeyboardInterrupt:
        # Ctrl-C during a blocking accept/recv/run: what was read so far is already in the log
        return CommandResult(error=f"{name} interrupted", error_kind="interrupted")
