"""Crash recovery: takes rebuilt from the journals an interrupted recording left
(``recover``, ``recover_all``); also the ``perfjam recover`` subcommand (``add_arguments`` / ``run``).

Nothing from outside is trusted: a recordings folder may be shared, synced or unpacked from an
archive, and a journal's content (even its CC bytes) is anyone's. So a take is rebuilt only
*beside its journal*, as ``NAME.mid`` (``NAME.mid.journal`` -> ``NAME.mid``; the path in the
journal's header is never followed), never over an existing file (``NAME-recovered.mid``), and
``recover_all(FOLDER)`` takes only the regular files ``FOLDER/*.journal`` and the journals named
by a pointer this app wrote for this user (``perfjam.pointers``: a recording outside the folder).
A journal still locked by its writer is a live recording and is never touched.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import stat
import sys
from pathlib import Path

from perfjam.journal import JOURNAL_SUFFIX, finish, read_header
from perfjam.pointers import pointers_in, read_pointer
from perfjam.recorder import DEFAULT_RECORDINGS, ENV_RECORDINGS, recordings_dir

TAKE_SUFFIXES = (".mid", ".midi")


def take_path_for(journal: Path) -> Path:
    """Where a journal's take is rebuilt: beside it, ``NAME.mid`` for ``NAME.mid.journal`` (a
    journal not named after a MIDI file gets ``.mid`` added); ValueError for a hidden or empty name."""
    name = journal.name[: -len(JOURNAL_SUFFIX)] if journal.name.endswith(JOURNAL_SUFFIX) else ""
    if not name or name.startswith("."):
        raise ValueError(f"{journal} is not the journal of a take")
    if not name.lower().endswith(TAKE_SUFFIXES):
        name += ".mid"
    return journal.with_name(name)


def _free_path(target: Path) -> Path:
    """``target``, or ``NAME-recovered.mid`` (``-recovered2`` ...) if something (even a dangling
    link) is there."""
    candidate, n = target, 1
    while os.path.lexists(candidate):
        candidate = target.with_name(f"{target.stem}-recovered{n if n > 1 else ''}.mid")
        n += 1
    return candidate


def recover(journal: str | Path) -> Path | None:
    """Rebuild the MIDI file of an interrupted recording beside its journal; None if it is still
    being written. ValueError for a file that is not a take's journal (not a regular file, not
    a PerfJam journal), OSError when it cannot be read or the take cannot be written."""
    journal = Path(journal)
    target = take_path_for(journal)
    fd = os.open(journal, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO planted in its place must not block
    with open(fd, encoding="ascii", errors="replace") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{journal} is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live recording
        read_header(journal, f.readline())
        return finish(journal, _free_path(target))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def recover_all(folder: str | Path | None = None) -> list[Path]:
    """Recover every interrupted recording in ``folder`` (default: the recordings folder),
    including those elsewhere that left a pointer there. Returns the MIDI files written."""
    folder = Path(folder).expanduser() if folder else recordings_dir()
    journals = {p for p in folder.glob(f"*{JOURNAL_SUFFIX}") if _regular(p)} if folder.is_dir() else set()
    pointers = {pointer: read_pointer(pointer) for pointer in pointers_in(folder)}
    journals |= {journal for journal in pointers.values() if journal is not None and _regular(journal)}
    recovered, busy = [], set()
    for journal in sorted(journals):
        try:
            path = recover(journal)
        except (OSError, ValueError):
            continue
        if path is None:
            busy.add(journal)
        else:
            recovered.append(path)
    for pointer, journal in pointers.items():
        if journal is not None and journal not in busy and not os.path.lexists(journal):
            pointer.unlink(missing_ok=True)
    return recovered


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
                recovered += recover_all(path)
            elif path.is_file():
                result = recover(path)
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
