"""Counting the helper processes a command forks (h11dbg.replay.forked), with real forks."""

from __future__ import annotations

import os

import pytest


def count_forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on (until ``monkeypatch`` undoes it), the pids of the children ``os.fork`` makes."""
    forks: list[int] = []
    real_fork = os.fork

    def counting_fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counting_fork)
    return forks
