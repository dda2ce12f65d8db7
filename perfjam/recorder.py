"""Session recording: a journal on disk while recording, a type-1 MIDI file at the end, crash
recovery; also the ``perfjam recover`` subcommand (``add_arguments`` / ``run``).

While recording, the engine thread only appends ``(time_s, track, message)`` to a deque
(``Recorder.add``); a small writer thread turns them into journal lines every
``flush_interval_s`` (0.25 s), flushes them to the OS at once and fsyncs at most once a second.
A killed process therefore loses at most the last flush interval. ``stop()`` makes the writer
thread build the MIDI file from the journal (so nothing of the session is kept in memory) in a
child process (seconds of Python for a long session would hold the GIL against the engine
thread), written atomically, then the journal is deleted.

The journal, ``FILE.mid.journal`` beside the target: a header line
``PERFJAM-JOURNAL 1 {"path": ..., "started": ...}`` then one line per MIDI message,
``<ms> <track> <byte> <byte> ...`` (ms since the recording started, track 0 = Human, 1 = AI).
The writer holds an exclusive ``flock`` on it, so recovery never touches a live recording.
A recording outside the recordings folder leaves a pointer in ``FOLDER/.pending`` so that
``Recorder.recover_all(FOLDER)`` (run at app start) finds it wherever it is.

The MIDI file: type 1, ticks_per_beat 500 at tempo 500000 (1 tick = 1 ms), a tempo track, then
"Human" (channel 1) and "AI" (channel 2) tracks; every note-on gets its note-off.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import mido

from perfjam.codec.midifile import TEMPO_US_PER_BEAT, TICKS_PER_BEAT
from perfjam.filelock import lock_exclusive

ENV_RECORDINGS = "PERFJAM_RECORDINGS"
DEFAULT_RECORDINGS = "~/Music/PerfJam"
JOURNAL_SUFFIX = ".journal"
POINTER_DIR = ".pending"
MAGIC = "PERFJAM-JOURNAL 1"
TRACK_NAMES = ("Human", "AI")
TRACK_CHANNELS = (0, 1)
HUMAN, AI = 0, 1
MAX_JOURNAL_MS = 0x0FFFFFFF  # the longest MIDI delta time (74 hours): a later time is damage


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


def journal_path_for(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + JOURNAL_SUFFIX)


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
        lock_exclusive(self._file)
        header = {"path": str(self.path), "started": dt.datetime.now().isoformat(timespec="seconds")}
        self._file.write(f"{MAGIC} {json.dumps(header)}\n")  # flushed by the writer thread
        if self.pointer_folder.resolve() != self.path.parent.resolve():
            try:
                folder = self.pointer_folder / POINTER_DIR
                folder.mkdir(parents=True, exist_ok=True)
                self._pointer = folder / f"{uuid.uuid4().hex}.ptr"
                self._pointer.write_text(str(self.journal_path) + "\n")
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

    # --- recovery ----------------------------------------------------------------------------------
    @staticmethod
    def recover(journal: str | Path) -> Path | None:
        """Rebuild the MIDI file of an interrupted recording; None if it is still being written."""
        journal = Path(journal)
        with open(journal, "r+", encoding="ascii", errors="replace") as f:
            try:
                lock_exclusive(f)
            except OSError:
                return None  # a live recording
            header = _read_header(journal, f.readline())
            target = Path(header.get("path") or str(journal)[: -len(JOURNAL_SUFFIX)])
            if target.exists():
                n = 1
                candidate = target.with_name(f"{target.stem}-recovered.mid")
                while candidate.exists():
                    n += 1
                    candidate = target.with_name(f"{target.stem}-recovered{n}.mid")
                target = candidate
            return _finish(journal, target)

    @staticmethod
    def recover_all(folder: str | Path | None = None) -> list[Path]:
        """Recover every interrupted recording in ``folder`` (default: the recordings folder),
        including those elsewhere that left a pointer there. Returns the MIDI files written."""
        folder = Path(folder).expanduser() if folder else recordings_dir()
        journals = set(folder.glob(f"*{JOURNAL_SUFFIX}")) if folder.is_dir() else set()
        pointers = sorted((folder / POINTER_DIR).glob("*.ptr")) if (folder / POINTER_DIR).is_dir() else []
        for pointer in pointers:
            target = Path(pointer.read_text().strip())
            if target.exists():
                journals.add(target)
        recovered, busy = [], set()
        for journal in sorted(journals):
            try:
                path = Recorder.recover(journal)
            except (OSError, ValueError):
                continue
            if path is None:
                busy.add(journal)
            else:
                recovered.append(path)
        for pointer in pointers:
            target = Path(pointer.read_text().strip())
            if target not in busy and not target.exists():
                pointer.unlink(missing_ok=True)
        return recovered


def normal_priority() -> None:
    """The calling thread back to the normal scheduling class (and what it starts with it)."""
    try:
        if os.sched_getscheduler(0) != os.SCHED_OTHER:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        if os.getpriority(os.PRIO_PROCESS, 0) < 0:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
    except (AttributeError, OSError):
        pass


def _read_header(journal: Path, line: str) -> dict:
    if not line.startswith(MAGIC):
        raise ValueError(f"{journal} is not a PerfJam journal")
    try:
        return json.loads(line[len(MAGIC):].strip() or "{}")
    except json.JSONDecodeError:
        return {}


def read_journal(journal: str | Path) -> list[tuple[int, int, tuple[int, ...]]]:
    """(ms, track, message) of every complete line; a torn last line is skipped, and so is a
    damaged line (not numbers, a track other than 0/1, a byte outside 0..255, a time outside
    0..``MAX_JOURNAL_MS``): the events around the damage are kept."""
    events = []
    with open(journal, encoding="ascii", errors="replace") as f:
        _read_header(Path(journal), f.readline())
        for line in f:
            if not line.endswith("\n"):
                break
            parts = line.split()
            try:
                ms, track, *data = (int(p) for p in parts)
            except ValueError:
                continue
            valid = 0 <= ms <= MAX_JOURNAL_MS and track in (HUMAN, AI) and data
            if valid and all(0 <= b <= 255 for b in data):
                events.append((ms, track, tuple(data)))
    return events


def build_midi(events: Iterable[tuple[int, int, tuple[int, ...]]]) -> mido.MidiFile:
    """Journal events -> the type-1 file; notes balanced, sustain lifted at the end."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US_PER_BEAT, time=0),
                            mido.MetaMessage("end_of_track", time=0)])
    midi.tracks.append(tempo)
    by_track: list[list] = [[], []]
    end = 0
    for seq, (ms, track, data) in enumerate(events):
        by_track[track].append((ms, seq, data))
        end = max(end, ms)
    for track, timeline in enumerate(by_track):
        midi.tracks.append(_track(TRACK_NAMES[track], TRACK_CHANNELS[track], sorted(timeline), end))
    return midi


def _track(name: str, channel: int, timeline: list, end: int) -> mido.MidiTrack:
    """Notes still open at the end (a stop or a crash) end with the recording. A pitch's notes
    never overlap: a re-strike ends the open note first (off, then on), a note lasts at least
    1 ms where the next strike of its pitch leaves room, and one left no time at all (struck
    again in the same ms) is dropped: a file never holds two note-ons of a pitch without an off."""
    out: list[tuple[int, int, int, mido.Message]] = []  # (tick, order, seq, message)
    notes: dict[int, list[list[int]]] = {}  # pitch -> [on_ms, on_seq, velocity, off_ms, off_seq]
    open_at: dict[int, list[int]] = {}
    pedal_down = False
    for ms, seq, data in timeline:
        kind = data[0] & 0xF0
        if kind in (0x80, 0x90) and len(data) >= 3:
            pitch = data[1] & 0x7F
            is_on = kind == 0x90 and (data[2] & 0x7F) > 0
            note = open_at.pop(pitch, None)
            if note is not None:  # a note-off, or a re-strike: the open note ends first
                note[3], note[4] = ms, seq
            if is_on:
                open_at[pitch] = note = [ms, seq, data[2] & 0x7F, -1, 1 << 60]
                notes.setdefault(pitch, []).append(note)
        elif kind == 0xB0 and len(data) >= 3:
            if data[1] == 64:
                pedal_down = data[2] >= 64
            out.append((ms, 1, seq, mido.Message("control_change", channel=channel,
                                                   control=data[1] & 0x7F, value=data[2] & 0x7F)))
        elif kind == 0xE0 and len(data) >= 3:
            value = ((data[2] & 0x7F) << 7 | (data[1] & 0x7F)) - 8192
            out.append((ms, 1, seq, mido.Message("pitchwheel", channel=channel, pitch=value)))
    last = end
    for pitch, same in notes.items():
        for i, (on_ms, on_seq, velocity, off_ms, off_seq) in enumerate(same):
            if off_ms < 0:  # still open at the end
                off_ms = max(end, on_ms + 1)
                last = max(last, off_ms)
            else:
                off_ms = max(off_ms, on_ms + 1)  # a note lasts at least 1 ms if it can...
            if i + 1 < len(same):
                off_ms = min(off_ms, same[i + 1][0])  # ...but never over the next strike
            if off_ms <= on_ms:
                continue  # struck again in the same ms: nothing of it can be heard
            out.append((on_ms, 1, on_seq, _note(channel, pitch, True, velocity)))
            out.append((off_ms, 0, off_seq, _note(channel, pitch, False, 0)))
    if pedal_down:
        out.append((last, 2, 1 << 60, mido.Message("control_change", channel=channel, control=64, value=0)))
    out.sort(key=lambda item: item[:3])
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    track.append(mido.Message("program_change", channel=channel, program=0, time=0))
    now = 0
    for tick, _order, _seq, message in out:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _note(channel: int, pitch: int, on: bool, velocity: int) -> mido.Message:
    return mido.Message("note_on" if on else "note_off", channel=channel, note=pitch, velocity=velocity)


def _finish_elsewhere(journal: Path, target: Path) -> Path:
    """``_finish`` in a child process: building a long session's MIDI file is seconds of Python
    that would otherwise hold the GIL against the engine thread. In-process if that fails."""
    package_root = str(Path(__file__).resolve().parent.parent)
    paths = [package_root, os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    code = "import sys; from pathlib import Path; from perfjam.recorder import _finish, normal_priority; " \
           "normal_priority(); _finish(Path(sys.argv[1]), Path(sys.argv[2]))"
    try:
        done = subprocess.run([sys.executable, "-c", code, str(journal), str(target)], env=env,
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return _finish(journal, target)
    if done.returncode != 0 or not target.exists():
        return _finish(journal, target)
    return target


def _finish(journal: Path, target: Path) -> Path:
    """Journal -> MIDI file (written atomically), then the journal is removed."""
    midi = build_midi(read_journal(journal))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    midi.save(str(tmp))
    os.replace(tmp, target)
    journal.unlink(missing_ok=True)
    return target


# --- `perfjam recover` ------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path,
                        help=f"journals ({'*.mid' + JOURNAL_SUFFIX}) or folders (default: ${ENV_RECORDINGS}, "
                        f"else {DEFAULT_RECORDINGS})")


def run(args: argparse.Namespace) -> int:
    # The default folder may not exist yet (nothing was ever recorded): nothing to recover then.
    paths = args.paths or [p for p in [recordings_dir()] if p.exists()]
    recovered: list[Path] = []
    status = 0
    for path in paths:
        try:
            if path.is_dir():
                recovered += Recorder.recover_all(path)
            elif path.is_file():
                result = Recorder.recover(path)
                if result is None:
                    print(f"perfjam recover: {path} is still being recorded", file=sys.stderr)
                else:
                    recovered.append(result)
            else:
                print(f"perfjam recover: no such file or folder: {path}", file=sys.stderr)
                status = 1
        except (OSError, ValueError) as exc:
            print(f"perfjam recover: {exc}", file=sys.stderr)
            status = 1
    for path in recovered:
        print(f"recovered {path}")
    if not recovered and status == 0:
        print("nothing to recover")
    return status
