"""The takes in a recordings folder, as the takes list shows them (pure: no Qt).

A take is a ``*.mid`` / ``*.midi`` file of the folder (hidden files, the ``.journal`` of a
recording in progress and the recorder's temporary files are not takes). Each is described by its
date (the file's modification time: when the recording ended), its length and its note counts on
the human and the AI side (the recorder's channels, ``perfjam.journal.TRACK_CHANNELS``). Reading a
file is remembered by (path, size, mtime), so listing a folder again reads only new files.
Renaming never overwrites another file.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from perfjam.codec.midifile import load_midi
from perfjam.journal import AI, HUMAN, JOURNAL_SUFFIX, TRACK_CHANNELS

TAKE_SUFFIXES = (".mid", ".midi")
MAX_NAME_CHARS = 120  # a take's name (without .mid) a file system always takes


class TakeNameError(ValueError):
    """A name a take cannot be renamed to (said as a musician reads it)."""


@dataclass(frozen=True)
class TakeInfo:
    path: Path
    modified: dt.datetime  # when the file was last written (the recording's end)
    length_s: float | None  # None: the file cannot be read
    human_notes: int
    ai_notes: int
    error: str = ""  # why it cannot be read
    pending: bool = False  # not read yet (length and counts to come)

    @property
    def name(self) -> str:
        return self.path.stem


def is_take(path: Path) -> bool:
    return (path.suffix.lower() in TAKE_SUFFIXES and not path.name.startswith(".")
            and not path.name.endswith(JOURNAL_SUFFIX))


def read_take(path: Path, modified: dt.datetime | None = None) -> TakeInfo:
    """One take's length and note counts (a file mido cannot read is listed with its error)."""
    if modified is None:
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime)
    try:
        midi = load_midi(path)  # bounded before mido reads it (a folder may hold anyone's files)
        length_s = float(midi.length)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        return TakeInfo(path, modified, None, 0, 0, str(exc).removeprefix(f"{path}: ") or type(exc).__name__)
    counts = {HUMAN: 0, AI: 0}
    sides = {channel: side for side, channel in enumerate(TRACK_CHANNELS)}
    for track in midi.tracks:
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                side = sides.get(msg.channel)
                if side is not None:
                    counts[side] += 1
    return TakeInfo(path, modified, length_s, counts[HUMAN], counts[AI])


class TakeIndex:
    """The takes of a folder, newest first; a file is read again only when it has changed.

    ``list(read=False)`` only looks at the folder (names, dates) and leaves the files not read yet
    in ``unread``, with placeholders (``pending``) in the list; ``read_unread()``, on any thread,
    reads them for the next ``list``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._known: dict[Path, tuple[tuple[int, int], TakeInfo]] = {}
        self._lock = threading.Lock()
        self.unread: list[tuple[Path, tuple[int, int], dt.datetime]] = []

    def _scan(self) -> list[tuple[Path, tuple[int, int], dt.datetime]]:
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        found = []
        for entry in entries:
            path = Path(entry.path)
            if not is_take(path):
                continue
            try:
                st = entry.stat()
            except OSError:
                continue  # gone meanwhile
            found.append((path, (st.st_size, st.st_mtime_ns), dt.datetime.fromtimestamp(st.st_mtime)))
        return found

    def list(self, read: bool = True) -> list[TakeInfo]:
        infos, unread = [], []
        with self._lock:
            known = dict(self._known)
        kept: dict[Path, tuple[tuple[int, int], TakeInfo]] = {}
        for path, stamp, modified in self._scan():
            entry = known.get(path)
            if entry is None or entry[0] != stamp:
                if read:
                    entry = (stamp, read_take(path, modified))
                else:
                    unread.append((path, stamp, modified))
                    infos.append(TakeInfo(path, modified, None, 0, 0, pending=True))
                    continue
            kept[path] = entry
            infos.append(entry[1])
        with self._lock:
            self._known = kept
        self.unread = unread
        return sorted(infos, key=lambda i: (i.modified, i.path.name), reverse=True)

    def read_unread(self) -> None:
        """Read the files the last ``list(read=False)`` left (any thread)."""
        for path, stamp, modified in list(self.unread):
            info = read_take(path, modified)
            with self._lock:
                self._known[path] = (stamp, info)


def check_name(name: str) -> str:
    """A take's new name as given (``.mid`` optional), or TakeNameError saying why it cannot be."""
    name = name.strip()
    if name.lower().endswith(TAKE_SUFFIXES):
        name = name[: name.rfind(".")].rstrip()
    if not name:
        raise TakeNameError("A take needs a name.")
    if "/" in name or "\\" in name or "\0" in name:
        raise TakeNameError("A take's name cannot contain / or \\.")
    if name.startswith("."):
        raise TakeNameError("A take's name cannot start with a dot (it would be hidden).")
    if len(name) > MAX_NAME_CHARS:
        raise TakeNameError(f"A take's name can have at most {MAX_NAME_CHARS} characters.")
    return name


def rename_take(path: Path, new_name: str) -> Path:
    """Rename a take within its folder; TakeNameError for a bad name or one already taken (no
    file is ever overwritten: the new name is linked first, then the old one removed)."""
    stem = check_name(new_name)
    target = path.with_name(stem + (path.suffix or ".mid"))
    if target == path:
        return path
    if target.exists() or Path(str(target) + JOURNAL_SUFFIX).exists():
        raise TakeNameError(f"There is already a take called {target.stem}.")
    try:
        os.link(path, target)  # fails if the name exists, even when it appeared just now
    except FileExistsError as exc:
        raise TakeNameError(f"There is already a take called {target.stem}.") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        os.rename(path, target)  # no hard links on this file system: checked just above
        return target
    path.unlink()
    return target
