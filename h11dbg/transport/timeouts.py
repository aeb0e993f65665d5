"""Durations as a person types them: ``--timeout``, ``--accept-timeout``, ``--idle-timeout`` and the
session commands' ``SECONDS`` (``run 2.5``, ``recv 1``) go through this one parser.

Sockets and waits take a float of seconds but fail on NaN (ValueError) and on anything past what a
C ``time_t`` of nanoseconds holds, about 9.2e9 s, infinity included (OverflowError); a NaN that slipped
through would also compare false with every deadline.  So a duration must be a finite number,
positive (or 0 where 0 means "never"), and at most :data:`MAX_SECONDS`.
"""

from __future__ import annotations

import math

from h11dbg.transcript.escaping import quote

# about 11.6 days: longer than anyone waits at a prompt, far below where sockets overflow
MAX_SECONDS = 1_000_000


class SecondsError(ValueError):
    """A duration that is not a usable number of seconds (the message is one line, naming it)."""


def parse_seconds(text: str, name: str = "SECONDS", *, zero: bool = False) -> float:
    """``text`` as seconds: finite, more than 0 (or 0 too, with ``zero``), at most MAX_SECONDS."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_SECONDS or (zero and value == 0)):  # NaN fails every comparison
        least = "0 or more" if zero else "more than 0"
        raise SecondsError(
            f"{name} must be a number of seconds, {least} and at most {MAX_SECONDS}, not {quote(text.strip())}")
    return value
