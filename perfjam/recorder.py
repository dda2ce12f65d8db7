"""Session recording: a journal on disk while recording, a type-1 MIDI file at the end.

While recording, the engine thread only appends ``(time_s, track, message)`` to a deque
(``Recorder.add``); a small writer thread turns them into journal lines every
``flush_interval_s`` (0.25 s), flushes them to the OS at once and fsyncs at most once a second.
A killed process therefore loses at most the last flush interval. ``stop()`` makes the writer
thread build the MIDI file from the journal (so nothing of the session is kept in memory) in a
child process (seconds of Python for a long session would hold the GIL against the engine
thread), written atomically, then the journal is deleted.

The journal's format and the MIDI file are ``perfjam.journal``'s. The writer holds an exclusive
``flock`` on the journal, so recovery (``perfjam.recovery``) never touches a live recording.
A recording outside the recordings folder leaves a pointer in ``FOLDER/.pending`` so that
``perfjam.recovery.recover_all(FOLDER)`` (run at app start) finds it wherever it is.
"""

from __future__ import annotations

import collections
import datetime as dt
import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from perfjam.filelock import lock_fd_exclusive
from perfjam.journal import AI, HUMAN, MAGIC, TRACK_CHANNELS, finish, free_take_path, journal_path_for
from perfjam.pointers import write_pointer

__all__ = ["AI", "HUMAN", "TRACK_CHANNELS", "Recorder", "RecordingError", "default_recording_path",
           "journal_path_for", "normal_priority", "recordings_dir"]

ENV_RECORDINGS = "PERFJAM_RECORDINGS"
DEFAULT_RECORDINGS = "~/Music/PerfJam"


def recordings_dir() -> Path:
    """$PERFJAM_RECORDINGS, else ~/Music/PerfJam."""
    return Path(os.environ.get(ENV_RECORDINGS) or DEFAULT_RECORDINGS).expanduser()


def default_recording_path(folder: str | Path | None = None) -> Path:
    folder = Path(folder).expanduser() if folder else recordings_dir()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"perfjam-{stamp}.mid"
    n = 2
    while path.exists() or journal_path_for(path).exists():
        path = folder / f"perfjam-{stamp}-{n}.mid"
        n += 1
    return path


class Recorder:
    """One recording. ``start()``, ``add()`` from the engine thread, then ``stop()``/``wait()``."""

    def __init__(self, path: str | Path, speed: float = 1.0, flush_interval_s: float = 0.25,
                 pointer_folder: str | Path | None = None) -> None:
        self.path = Path(path).expanduser().absolute()
        self.journal_path = journal_path_for(self.path)
        self.speed = speed
        self.flush_interval_s = flush_interval_s
        self.pointer_folder = Path(pointer_folder).expanduser() if pointer_folder else recordings_dir()
        self._pointer: Path | None = None
        self._queue: collections.deque = collections.deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None  # the journal, locked while it is written
        self.start_s = 0.0
        self.error: str | None = None
        self.result: Path | None = None
        self.notices: list[str] = []  # what the user must know (the take moved), said once each
        self.events = 0

    # --- engine thread -----------------------------------------------------------------------
    def open(self) -> None:
        """Claim the journal: ``RecordingError`` (an OSError, one line) when the take cannot be
        recorded there: the path is a folder, the folder cannot be written, another PerfJam is
        recording to it (its journal is locked: it is left untouched), or an interrupted take's
        journal is there (``perfjam recover`` rebuilds it first). Nothing is truncated: the
        journal is locked before anything is written to it."""
        if self._fd is not None:
            return
        if self.path.is_dir():
            raise RecordingError(f"cannot record to {self.path}: it is a folder")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.journal_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise RecordingError(f"cannot record to {self.path}: {exc.strerror or exc}") from None
        try:
            lock_fd_exclusive(fd)
        except OSError:
            os.close(fd)
            raise RecordingError(f"{self.path} is being recorded by another PerfJam (its journal is "
                                 "locked); choose another file") from None
        if os.fstat(fd).st_size > 0:
            os.close(fd)
            raise RecordingError(f"{self.journal_path} holds an interrupted take: `perfjam recover` "
                                 "rebuilds it; choose another file meanwhile")
        header = {"path": str(self.path), "started": dt.datetime.now().isoformat(timespec="seconds")}
        try:
            _write_all(fd, f"{MAGIC} {json.dumps(header)}\n".encode("ascii"))
        except OSError as exc:
            os.close(fd)
            self.journal_path.unlink(missing_ok=True)
            raise RecordingError(f"cannot record to {self.path}: {exc.strerror or exc}") from None
        self._fd = fd

    def abandon(self) -> None:
        """Give up a journal ``open``-ed but never started (nothing was recorded): it is removed."""
        if self._fd is not None and self._thread is None:
            self.journal_path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def start(self, start_s: float | None = None) -> None:
        """Open the journal (``open``, if not done yet) and start the writer thread."""
        self.open()
        self.start_s = time.perf_counter() if start_s is None else start_s
        if self.pointer_folder.resolve() != self.path.parent.resolve():
            try:
                self._pointer = write_pointer(self.pointer_folder, self.journal_path)
            except OSError:
                self._pointer = None
        self._thread = threading.Thread(target=self._run, name="perfjam-recorder", daemon=True)
        self._thread.start()

    def add(self, time_s: float, track: int, message) -> None:
        """One MIDI message (bytes-like) heard at ``time_s`` (perf_counter): a deque append."""
        self._queue.append((time_s, track, message))

    def elapsed_s(self, now_s: float) -> float:
        return (now_s - self.start_s) * self.speed

    def stop(self) -> None:
        """Finish: the writer thread flushes, writes the MIDI file and removes the journal."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> Path | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- writer thread -------------------------------------------------------------------------
    def _drain(self) -> None:
        queue, start, scale = self._queue, self.start_s, 1000.0 * self.speed
        lines = []
        while queue:
            time_s, track, message = queue.popleft()
            ms = max(0, int(round((time_s - start) * scale)))
            lines.append(f"{ms} {track} {' '.join(str(b) for b in message)}\n")
        if lines:
            _write_all(self._fd, "".join(lines).encode("ascii"))
            self.events += len(lines)

    def _kept(self) -> str:
        if not self.journal_path.exists():
            return "nothing was kept: its journal was removed and could not be moved"
        return f"{self.journal_path} is kept: `perfjam recover` rebuilds the take"

    def _sync(self) -> None:
        """To disk; a journal no longer where it was (its folder removed) goes on elsewhere."""
        os.fsync(self._fd)
        try:
            on_disk = os.stat(self.journal_path)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(self._fd)
        if on_disk is None or (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
            self._relocate()

    def _relocate(self) -> None:
        """The journal was removed (with its folder) or moved away while recording: what it holds
        is copied from the open file into a new journal in the recordings folder, where the take
        goes on and is finished (said in ``notices``)."""
        gone = self.path
        folder = recordings_dir()
        folder.mkdir(parents=True, exist_ok=True)
        moved = Recorder(free_take_path(folder / gone.name, "rescued", with_journal=True), self.speed,
                         pointer_folder=folder)
        moved.open()
        try:
            offset, size = 0, os.fstat(self._fd).st_size
            while offset < size:
                chunk = os.pread(self._fd, min(1 << 20, size - offset), offset)
                if not chunk:
                    break
                start = chunk.find(b"\n") + 1 if offset == 0 else 0  # the new journal has its own header
                offset += len(chunk)
                _write_all(moved._fd, chunk[start:])
            os.fsync(moved._fd)
        except OSError:
            moved.abandon()
            raise
        os.close(self._fd)
        self._fd, moved._fd = moved._fd, None
        self.path, self.journal_path = moved.path, moved.journal_path
        if self._pointer is not None:
            self._pointer.unlink(missing_ok=True)
            self._pointer = None
        self.notices.append(f"recording {gone}: its folder was removed during the take; the take goes on "
                            f"in {self.path}")

    def _run(self) -> None:
        # Started from the engine thread, this thread keeps its (real-time) priority: preempted
        # while it holds the GIL, it would hold the engine up. Its work is a few lines of Python
        # every flush; the MIDI file is built by a child process at normal priority.
        last_sync = time.monotonic()
        try:
            os.fsync(self._fd)
            while not self._stop.wait(self.flush_interval_s):
                self._drain()
                if time.monotonic() - last_sync >= 1.0:
                    self._sync()
                    last_sync = time.monotonic()
            self._drain()
            self._sync()
        except OSError as exc:  # the take stops; what the journal holds is kept for recovery
            minutes, seconds = divmod(int(self.elapsed_s(time.perf_counter())), 60)
            stopped = f"recording stopped at {minutes}:{seconds:02d}"
            self.error = (f"recording {self.path}: {_why(exc)}: {stopped}; "
                          f"what was recorded until then: {self._kept()}"
                          + _ONCE_THERE_IS_ROOM.get(exc.errno, ""))
        else:
            try:
                self.result = _finish_elsewhere(self.journal_path, self.path)
            except Exception as exc:
                room = _ONCE_THERE_IS_ROOM.get(getattr(exc, "errno", None), "")
                self.error = (f"recording {self.path}: the take could not be written ({_why(exc)}); its "
                              f"journal: {self._kept()}{room}")
        finally:
            os.close(self._fd)  # releases the lock
            if self._pointer is not None and self.result is not None:
                self._pointer.unlink(missing_ok=True)


class RecordingError(OSError):
    """A take that cannot be recorded where asked; the message is one line naming the file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "cannot record"


_ONCE_THERE_IS_ROOM = {errno.ENOSPC: " once there is room", errno.EDQUOT: " once there is room"}


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def normal_priority() -> None:
    """The calling thread back to the normal scheduling class (and what it starts with it)."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        if os.getpriority(os.PRIO_PROCESS, 0) < 0:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
    except (AttributeError, OSError):
        pass


def _finish_elsewhere(journal: Path, target: Path) -> Path:
    """``perfjam.journal.finish`` in a child process: building a long session's MIDI file is seconds of Python
    that would otherwise hold the GIL against the engine thread. In-process if that fails."""
    package_root = str(Path(__file__).resolve().parent.parent)
    paths = [package_root, os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    code = "import sys; from pathlib import Path; from perfjam.journal import finish; " \
           "from perfjam.recorder import normal_priority; " \
           "normal_priority(); finish(Path(sys.argv[1]), Path(sys.argv[2]))"
    try:
        done = subprocess.run([sys.executable, "-c", code, str(journal), str(target)], env=env,
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return finish(journal, target)
    if done.returncode != 0 or not target.exists():
        return finish(journal, target)
    return target


