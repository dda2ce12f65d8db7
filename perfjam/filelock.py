"""An exclusive, non-blocking lock on an open file, held until the file is closed: what marks a
recording's journal as live (``perfjam.recorder``, ``perfjam.recovery``). POSIX: ``flock``;
Windows (untested): ``msvcrt`` locks the file's first byte."""

from __future__ import annotations

import os
import sys
from typing import IO

if sys.platform == "win32":
    import msvcrt

    def lock_fd_exclusive(fd: int) -> None:
        """OSError when another process holds the lock."""
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def lock_fd_exclusive(fd: int) -> None:
        """OSError (BlockingIOError) when another open file holds the lock."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def lock_exclusive(f: IO) -> None:
    """``lock_fd_exclusive`` of an open file object."""
    lock_fd_exclusive(f.fileno())
