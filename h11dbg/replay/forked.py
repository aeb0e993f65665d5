"""A forked helper process that streams Python objects back: the plumbing behind reading (and
replaying) a large transcript on two CPUs.

:func:`from_child` forks; the child runs ``produce(send)``, where each ``send(obj)`` pickles one
object down a pipe, and ends with ``os._exit`` (no atexit handlers, no flush of stdio buffers it
inherited).  The parent iterates the objects as they come.  Memory stays flat: the child blocks
once a pipe's worth is unread.  When the parent stops early (an error, ``| head``, Ctrl-C), the
child is terminated and waited for, so no process outlives the command.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import signal
import struct
import threading
from collections.abc import Callable, Generator
from typing import Any

_PIPE_BYTES = 1 << 20  # asked of the kernel; the default (64 KiB) would stall on every batch
# One read from the pipe: os.read allocates this much before it knows how much came, and with glibc a
# freed large block raises the size below which blocks come from the (fragmenting) heap: keep it modest.
_READ_BYTES = 256 << 10
_HEADER = struct.Struct("!I")

Send = Callable[[object], None]  # pickles one object down the pipe


class ChildDied(Exception):
    """The child ended without finishing its stream (it crashed or was killed)."""


class CannotFork(Exception):
    """No child could be started (process or memory limits): do the work in this process instead.

    Raised by the first step of :func:`from_child`'s iteration, before anything was received.
    """


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available() -> bool:
    """Whether a helper process can run beside this one (fork exists, and a second CPU)."""
    return hasattr(os, "fork") and cpus() >= 2


def from_child(produce: Callable[[Send], None]) -> Generator[Any, None, None]:
    """Fork; the child calls ``produce(send)``; yield what it sends, in order.

    Raises :class:`CannotFork` (at the first step) when no child can be started, and
    :class:`ChildDied` if the child exits before ``produce`` returned.
    """
    try:
        read_fd, write_fd = os.pipe()
    except OSError as exc:
        raise CannotFork(str(exc)) from exc
    with contextlib.suppress(AttributeError, OSError):  # Linux only; elsewhere the default size
        import fcntl

        # (typeshed has F_SETPIPE_SZ on Linux only)
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[attr-defined, unused-ignore]
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        raise CannotFork(str(exc)) from exc
    if pid == 0:
        os.close(read_fd)
        _child(produce, write_fd)  # never returns
    os.close(write_fd)
    drain = _Drain(read_fd, AHEAD_BYTES)
    drain.start()
    try:
        while True:
            header = drain.take(_HEADER.size)
            if len(header) < _HEADER.size:
                raise ChildDied("the helper process ended unexpectedly")
            (size,) = _HEADER.unpack(header)
            if size == 0:  # the end of the stream
                return
            blob = drain.take(size)
            if len(blob) < size:
                raise ChildDied("the helper process ended unexpectedly")
            yield pickle.loads(blob)
    finally:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)  # a child still writing stops; the pipe reaches its end
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        drain.stop()
        os.close(read_fd)


#: How far the parent reads ahead of what it has used: the child never waits for a busy parent
#: until this much is waiting (memory stays bounded by it).
AHEAD_BYTES = 4 << 20


class _Drain(threading.Thread):
    """Empties the pipe into memory as fast as the child fills it.

    ``os.read`` runs without the GIL, so the parent's work and the child's never wait on each other
    until ``limit`` bytes are buffered: with only the pipe's own buffer between them, each side
    stalled whenever the other was briefly slower.
    """

    def __init__(self, fd: int, limit: int) -> None:
        super().__init__(name="h11dbg-drain", daemon=True)
        self.fd = fd
        self.limit = limit
        self.parts: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.first = 0  # bytes of parts[0] already taken
        self.ended = False
        self.stopped = False
        self.ready = threading.Condition()

    def run(self) -> None:
        ready = self.ready
        while True:
            with ready:
                while self.buffered >= self.limit and not self.stopped:
                    ready.wait()
                if self.stopped:
                    return
            try:
                data = os.read(self.fd, _READ_BYTES)
            except OSError:
                data = b""
            with ready:
                if data:
                    self.parts.append(data)
                    self.buffered += len(data)
                else:
                    self.ended = True
                ready.notify_all()
            if not data:
                return

    def take(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer only when the stream ended first)."""
        out: list[bytes] = []
        wanted = size
        ready = self.ready
        with ready:
            while wanted:
                while not self.parts and not self.ended:
                    ready.wait()
                if not self.parts:
                    break
                part = self.parts[0]
                start = self.first
                end = min(len(part), start + wanted)
                out.append(part[start:end] if start or end < len(part) else part)
                wanted -= end - start
                if end == len(part):
                    self.parts.popleft()
                    self.first = 0
                else:
                    self.first = end
                self.buffered -= end - start
            ready.notify_all()
        return out[0] if len(out) == 1 else b"".join(out)

    def stop(self) -> None:
        with self.ready:
            self.stopped = True
            self.ready.notify_all()
        self.join(timeout=5)


def _child(produce: Callable[[Send], None], fd: int) -> None:
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

        def send(obj: object) -> None:
            blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(fd, _HEADER.pack(len(blob)), blob)

        produce(send)
        _write_all(fd, _HEADER.pack(0))
        code = 0
    except BrokenPipeError:  # the parent stopped reading: nothing left to do
        code = 0
    finally:
        os._exit(code)


def _write_all(fd: int, *parts: bytes) -> None:
    """Write ``parts`` in order: straight from them (no copy into a buffer first)."""
    written = os.writev(fd, parts)
    if written < sum(len(part) for part in parts):  # cut short (a signal): write the rest
        rest = memoryview(b"".join(parts))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]
