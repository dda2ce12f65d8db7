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
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from perfjam.journal import AI, HUMAN, MAGIC, TRACK_CHANNELS, finish, journal_path_for
from perfjam.pointers import write_pointer

__all__ = ["AI", "HUMAN", "TRACK_CHANNELS", "Recorder", "default_recording_path", "journal_path_for",
           "normal_priority", "recordings_dir"]

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
        self._file = None
        self.start_s = 0.0
        self.error: str | None = None
        self.result: Path | None = None
        self.events = 0

    # --- engine thread -----------------------------------------------------------------------
    def start(self, start_s: float | None = None) -> None:
        """Open the journal (OSError if it cannot be written) and start the writer thread."""
        self.start_s = time.perf_counter() if start_s is None else start_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.journal_path, "w", encoding="ascii")  # noqa: SIM115 - closed by the writer
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        header = {"path": str(self.path), "started": dt.datetime.now().isoformat(timespec="seconds")}
        self._file.write(f"{MAGIC} {json.dumps(header)}\n")  # flushed by the writer thread
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
            self._file.write("".join(lines))
            self._file.flush()
            self.events += len(lines)

    def _run(self) -> None:
        # Started from the engine thread, this thread keeps its (real-time) priority: preempted
        # while it holds the GIL, it would hold the engine up. Its work is a few lines of Python
        # every flush; the MIDI file is built by a child process at normal priority.
        last_sync = time.monotonic()
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            while not self._stop.wait(self.flush_interval_s):
                self._drain()
                if time.monotonic() - last_sync >= 1.0:
                    os.fsync(self._file.fileno())
                    last_sync = time.monotonic()
            self._drain()
            os.fsync(self._file.fileno())
            self.result = _finish_elsewhere(self.journal_path, self.path)
        except Exception as exc:  # disk full, folder removed, ...: the journal stays for recovery
            self.error = f"recording {self.path}: {exc}"
        finally:
            if self._file is not None:
                self._file.close()  # releases the lock
            if self._pointer is not None and self.result is not None:
                self._pointer.unlink(missing_ok=True)

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


