"""An exclusive, non-blocking lock on an open file, held until the file is closed: what marks a
recording's journal as live (``perfjam.recorder``). POSIX: ``flock``; Windows (untested): ``msvcrt``
locks the file's first byte."""

from __future__ import annotations

import sys
from typing import IO

if sys.platform == "win32":
    import msvcrt

    def lock_exclusive(f: IO) -> None:
        """OSError when another process holds the lock."""
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def lock_exclusive(f: IO) -> None:
        """OSError (BlockingIOError) when another open file holds the lock."""
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
