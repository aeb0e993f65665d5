"""What the front ends' completers share: splitting the line at the cursor into whole words and
the word being typed, and offering the choices that start with it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prompt_toolkit.completion import Completion
from prompt_toolkit.document import Document


def words_at_cursor(document: Document) -> tuple[list[str], str]:
    """The complete words before the cursor, and the word being typed ("" right after a space)."""
    before = document.text_before_cursor
    words = before.split()
    current = "" if before.endswith((" ", "\t")) or not words else words[-1]
    return (words if not current else words[:-1]), current


def complete_from(
    choices: Iterable[str],
    current: str,
    *,
    match: str | None = None,
    suffix: str = "",
    meta: Mapping[str, str] | None = None,
) -> Iterator[Completion]:
    """The ``choices`` that start with ``match`` (``current`` unless told), each replacing ``current``;
    ``match`` lets a caller compare differently (upper-cased methods) from what it replaces."""
    wanted = current if match is None else match
    for choice in choices:
        if choice.startswith(wanted):
            yield Completion(choice + suffix, -len(current), display=choice,
                             display_meta=(meta or {}).get(choice))
