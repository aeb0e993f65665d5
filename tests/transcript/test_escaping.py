"""The one escaping used for bytes shown to people, and its inverse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h11dbg.transcript.escaping import _TABLE, UnescapeError, escape, unescape


def test_every_byte_has_the_documented_escape() -> None:
    for byte in range(256):
        assert escape(bytes([byte])) == _TABLE[byte]
    assert escape(b"GET / HTTP/1.1\r\n\x00\\\xff\t") == "GET / HTTP/1.1\\r\\n\\x00\\\\\\xff\\t"


@given(st.binary(max_size=300))
def test_unescape_reverses_escape(data: bytes) -> None:
    assert unescape(escape(data)) == data


@pytest.mark.parametrize(("text", "position"), [("abc\\", 3), ("\\xZZ", 0), ("a\\q", 1)])
def test_bad_escapes_say_where(text: str, position: int) -> None:
    with pytest.raises(UnescapeError) as info:
        unescape(text)
    assert info.value.position == position
