"""Read an input file with a bound on its size, so that a huge or endless one
(a 50 MB thresholds file, /dev/zero, a pipe that never ends) is refused with
its name and the bound before it fills the memory, never read whole first.

Each reader names its own bound (a constant beside it, with the reason); this
module only enforces one. Every refusal is an OSError, which the readers
already turn into their file's error with its exit code.
"""

import errno
import os
import select
import stat
import time
from collections.abc import Iterator
from pathlib import Path

CHUNK_BYTES = 1 << 20  # read a megabyte at a time: the bound is checked as the bytes arrive
PIPE_TIMEOUT_S = 60.0  # a pipe or device that has not ended in a minute is not a file being handed over


class TooLarge(OSError):
    """More bytes than the file's bound."""

    def __init__(self, bound: int) -> None:
        super().__init__(errno.EFBIG, f"larger than {size(bound)}")
        self.bound = bound


def size(count: int) -> str:
    """'4 MB', '2 GB', '512 bytes': a bound as people say it (decimal units)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} bytes"


def chunks(path: Path, bound: int, chunk: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes, a chunk at a time; TooLarge as soon as they pass
    `bound` (before any is read, for a regular file whose size says so).
    Opened without blocking, so a FIFO with no writer cannot hang the open;
    a pipe or device is waited for at most PIPE_TIMEOUT_S in all."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        regular = stat.S_ISREG(info.st_mode)
        if regular and info.st_size > bound:
            raise TooLarge(bound)
        deadline = None if regular else time.monotonic() + PIPE_TIMEOUT_S
        total = 0
        while True:
            data = _read(fd, min(chunk, bound + 1 - total), deadline)
            if not data:
                return
            total += len(data)
            if total > bound:
                raise TooLarge(bound)
            yield data
    finally:
        os.close(fd)


def _read(fd: int, count: int, deadline: float | None) -> bytes:
    """One read; for a pipe or device, only once it has something (or has ended)."""
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(errno.ETIMEDOUT, f"not ended after {PIPE_TIMEOUT_S:g} s (a pipe or device?)")
        try:
            return os.read(fd, count)
        except BlockingIOError:  # a pipe whose writer has not written yet
            continue


def read_bytes(path: Path, bound: int) -> bytes:
    """The whole file, at most `bound` bytes of it."""
    return b"".join(chunks(path, bound))
