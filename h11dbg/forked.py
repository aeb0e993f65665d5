"""A forked helper process that streams Python objects back: the plumbing behind reading (and
replaying) a large transcript on two CPUs.

:func:`from_child` forks; the child runs ``produce(send)``, where each ``send(obj)`` pickles one
object down a pipe, and ends with ``os._exit`` (no atexit handlers, no flush of stdio buffers it
inherited).  The parent iterates the objects as they come.  Memory stays flat: the child blocks
once a pipe's worth is unread.  When the parent stops early (an error, ``| head``, Ctrl-C), the
child is terminated and waited for, so no process outlives the command.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
from collections.abc import Callable, Iterator
from typing import Any

_PIPE_BYTES = 1 << 20  # asked of the kernel; the default (64 KiB) would stall on every batch
_HEADER = struct.Struct("!I")

Send = Callable[[Any], None]


class ChildDied(Exception):
    """The child ended without finishing its stream (it crashed or was killed)."""


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available() -> bool:
    """Whether a helper process can run beside this one (fork exists, and a second CPU)."""
    return hasattr(os, "fork") and cpus() >= 2


def from_child(produce: Callable[[Send], None]) -> Iterator[Any]:
    """Fork; the child calls ``produce(send)``; yield what it sends, in order.

    Raises :class:`ChildDied` if the child exits before ``produce`` returned.
    """
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(AttributeError, OSError):  # Linux only; elsewhere the default size
        import fcntl

        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[attr-defined]
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(produce, write_fd)  # never returns
    os.close(write_fd)
    source = os.fdopen(read_fd, "rb", buffering=_PIPE_BYTES)
    try:
        while True:
            header = source.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise ChildDied("the helper process ended unexpectedly")
            (size,) = _HEADER.unpack(header)
            if size == 0:  # the end of the stream
                return
            blob = source.read(size)
            if len(blob) < size:
                raise ChildDied("the helper process ended unexpectedly")
            yield pickle.loads(blob)
    finally:
        source.close()  # a child still writing gets EPIPE and stops
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _child(produce: Callable[[Send], None], fd: int) -> None:
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        out = os.fdopen(fd, "wb", buffering=_PIPE_BYTES)

        def send(obj: Any) -> None:
            blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            out.write(_HEADER.pack(len(blob)))
            out.write(blob)

        produce(send)
        out.write(_HEADER.pack(0))
        out.flush()
        code = 0
    except BrokenPipeError:  # the parent stopped reading: nothing left to do
        code = 0
    finally:
        os._exit(code)
