"""Header lists: validation, normalisation and the comma-list helpers.

:class:`Headers` looks like h11's: a read-only sequence of ``(name, value)``
pairs with lower-cased names, plus :meth:`Headers.raw_items` for the names in
the case they were given or received.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, SupportsIndex, Union, overload

from ._abnf import content_length_re, field_value_re, token_re
from ._util import LocalProtocolError, quoted

__all__ = [
    "Headers",
    "HeaderInput",
    "bytesify",
    "get_comma_header",
    "has_expect_100_continue",
    "normalize_and_validate",
    "set_comma_header",
]

# A Content-Length must fit in 64 bits, the bound a chunk size has too (16 hex digits): past it,
# parsers with 64-bit lengths overflow or refuse, and two parsers that disagree on where a body ends
# are how requests are smuggled (RFC 9110 §8.6 asks recipients to prevent overflows).  Leading zeros
# are part of 1*DIGIT and change nothing, so only the significant digits count.
MAX_CONTENT_LENGTH = 2**64 - 1
# Up to this many characters a value cannot exceed MAX_CONTENT_LENGTH: the parser's fast path.
_SHORT_LENGTH_CHARS = 19

class Facts(NamedTuple):
    chunked: bool  # Transfer-Encoding: chunked (the only coding accepted)
    content_length: int | None
    connection: list[bytes]  # the Connection tokens, lower-cased
    upgrade: bool  # an Upgrade field with at least one protocol
    expect_continue: bool  # Expect: 100-continue


_FRAMING_FIELDS = frozenset((b"content-length", b"transfer-encoding"))

BytesLike = bytes | bytearray | memoryview | str
HeaderInput = Union["Headers", Iterable[tuple[BytesLike, BytesLike]]]  # noqa: UP007 (forward ref)


def bytesify(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str or isinstance(value, str):
        return value.encode("ascii")
    if isinstance(value, int):
        raise TypeError("expected a bytes-like object, not int")
    return bytes(value)


class Headers(Sequence[tuple[bytes, bytes]]):
    """``(lower-cased name, value)`` pairs in order; ``raw_items()`` keeps the original case."""

    __slots__ = ("_items", "_names", "_facts")

    def __init__(self, items: list[tuple[bytes, bytes, bytes]], names: list[bytes] | None = None) -> None:
        # (raw name, lower-cased name, value)
        self._items = items
        self._names = names
        self._facts: Facts | None = None

    def facts(self) -> Facts:
        """What the connection needs to know about these fields, computed once (they never change)."""
        facts = self._facts
        if facts is None:
            names = self._lower_names()
            length = None
            if b"content-length" in names:
                # normalisation left exactly one field with one digits-only value of at most 20
                # significant digits; the zeros go first, so int() never sees more digits than that
                # (it refuses strings past 4300 digits)
                length = int(self._items[names.index(b"content-length")][2].lstrip(b"0") or b"0")
            facts = self._facts = Facts(
                b"transfer-encoding" in names,
                length,
                get_comma_header(self, b"connection"),
                bool(get_comma_header(self, b"upgrade")),
                b"100-continue" in get_comma_header(self, b"expect"),
            )
        return facts

    def _lower_names(self) -> list[bytes]:
        """The lower-cased names in order (cached: lookups by name are the hot path)."""
        names = self._names
        if names is None:
            names = self._names = [item[1] for item in self._items]
        return names

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: SupportsIndex) -> tuple[bytes, bytes]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[bytes, bytes]]: ...
    def __getitem__(
        self, index: SupportsIndex | slice
    ) -> tuple[bytes, bytes] | list[tuple[bytes, bytes]]:
        if isinstance(index, slice):
            return [(name, value) for _, name, value in self._items[index]]
        _, name, value = self._items[index]
        return (name, value)

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        for _, name, value in self._items:
            yield (name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Iterable):
            return NotImplemented
        try:
            return list(self) == list(other)
        except TypeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Headers({list(self)!r})>"

    def raw_items(self) -> list[tuple[bytes, bytes]]:
        return [(raw, value) for raw, _, value in self._items]


def _refuse(msg: str, rule: str, section: str, offending: bytes | None = None, hint: int = 400) -> LocalProtocolError:
    return LocalProtocolError(msg, hint, rule=rule, section=section, offending=offending)


def normalize_and_validate(headers: HeaderInput, _parsed: bool = False) -> Headers:
    """Check every field and apply the framing-field rules (RFC 9112 §6).

    ``_parsed`` means the bytes already passed the receive-side grammar, so the
    per-field regex checks are skipped (they are the expensive part).
    """
    if _parsed and type(headers) is list:
        # Straight from the parser: names and values already match the grammar.  Only the
        # framing fields need the rules below; most messages have at most one of them.
        parsed = [(name, name.lower(), value) for name, value in headers]
        names = [item[1] for item in parsed]
        if b"transfer-encoding" not in names:
            length_fields = names.count(b"content-length")
            if length_fields == 0:
                return Headers(parsed, names)
            if length_fields == 1:
                # one plain length (bytes.isdigit() is ASCII digits only): nothing to normalise
                value = parsed[names.index(b"content-length")][2]
                if value.isdigit() and len(value) <= _SHORT_LENGTH_CHARS:
                    return Headers(parsed, names)
    items: list[tuple[bytes, bytes, bytes]] = []
    seen_content_length: bytes | None = None
    seen_transfer_encoding = False
    name_ok = token_re.fullmatch
    value_ok = field_value_re.fullmatch
    for raw_name, raw_value in headers.raw_items() if type(headers) is Headers else headers:
        name = raw_name if type(raw_name) is bytes else bytesify(raw_name)
        value = raw_value if type(raw_value) is bytes else bytesify(raw_value)
        if not _parsed:
            if name_ok(name) is None:
                raise _refuse(
                    f"illegal header name {quoted(name)}", "field-name-token", "RFC 9110 §5.1", name
                )
            if value_ok(value) is None:
                raise _refuse(
                    f"illegal header value {quoted(value)}", "field-value-chars", "RFC 9110 §5.5", value
                )
        lower = name.lower()
        if lower not in _FRAMING_FIELDS:
            items.append((name, lower, value))
        elif lower == b"content-length":
            # A list of identical values ("5, 5") is one length (RFC 9110 §8.6).
            lengths = {length.strip(b" \t") for length in value.split(b",")}
            if len(lengths) != 1:
                raise _refuse(
                    "conflicting Content-Length headers", "content-length-conflict", "RFC 9112 §6.3",
                    value,
                )
            value = lengths.pop()
            if content_length_re.fullmatch(value) is None:
                raise _refuse(
                    f"bad Content-Length {quoted(value)}: only digits are allowed", "content-length-digits",
                    "RFC 9110 §8.6", value,
                )
            digits = value.lstrip(b"0")
            if len(digits) > len(str(MAX_CONTENT_LENGTH)) or int(digits or b"0") > MAX_CONTENT_LENGTH:
                raise _refuse(
                    "Content-Length too large: more than 2**64 - 1", "content-length-overflow",
                    "RFC 9110 §8.6", value,
                )
            if seen_content_length is None:
                seen_content_length = value
                items.append((name, lower, value))
            elif seen_content_length != value:
                raise _refuse(
                    "conflicting Content-Length headers", "content-length-conflict", "RFC 9112 §6.3",
                    value,
                )
            # an identical repeat carries no information: keep only the first
        elif lower == b"transfer-encoding":
            # Only "chunked" is implemented; anything else would leave us unable to find the
            # end of the body, which RFC 9112 §6.1 says must be answered with 501.
            if seen_transfer_encoding:
                raise _refuse(
                    "multiple Transfer-Encoding headers", "transfer-encoding-unsupported",
                    "RFC 9112 §6.1", value, 501,
                )
            value = value.lower()
            if value != b"chunked":
                raise _refuse(
                    f"only Transfer-Encoding: chunked is supported, got {quoted(value)}",
                    "transfer-encoding-unsupported", "RFC 9112 §6.1", value, 501,
                )
            seen_transfer_encoding = True
            items.append((name, lower, value))
    return Headers(items)


def get_comma_header(headers: Headers, name: bytes) -> list[bytes]:
    """All comma-separated, lower-cased tokens of every ``name`` field, in order."""
    if name not in headers._lower_names():
        return []
    out: list[bytes] = []
    for _, found, value in headers._items:
        if found == name:
            for part in value.lower().split(b","):
                part = part.strip(b" \t")
                if part:
                    out.append(part)
    return out


def set_comma_header(headers: Headers, name: bytes, new_values: list[bytes]) -> Headers:
    """Drop every ``name`` field, then append one ``Name: value`` field per new value."""
    kept = [(raw, value) for raw, found, value in headers._items if found != name]
    title = name.title()
    kept.extend((title, value) for value in new_values)
    # every field here was validated when its event was built
    return normalize_and_validate(kept, _parsed=True)


def has_expect_100_continue(http_version: bytes, headers: Headers) -> bool:
    # RFC 9110 §10.1.1: a server that receives 100-continue in an HTTP/1.0 request MUST ignore it.
    return http_version >= b"1.1" and (headers._facts or headers.facts()).expect_continue
