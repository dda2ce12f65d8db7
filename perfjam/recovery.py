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
import errno
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from perfjam.filelock import lock_fd_exclusive
from perfjam.journal import JOURNAL_SUFFIX, finish, free_take_path, read_header
from perfjam.pointers import pointers_in, read_pointer
from perfjam.recorder import DEFAULT_RECORDINGS, ENV_RECORDINGS, recordings_dir

TAKE_SUFFIXES = (".mid", ".midi")
# Rebuilding takes ~20 s and ~0.8 GB per 20 MB of journal (about 10 hours of dense playing): a larger
# one (damage, or a file planted in the folder) is not rebuilt by itself at every start.
MAX_AUTO_RECOVER_BYTES = 32 * 1024 * 1024


def take_path_for(journal: Path) -> Path:
    """Where a journal's take is rebuilt: beside it, ``NAME.mid`` for ``NAME.mid.journal`` (a
    journal not named after a MIDI file gets ``.mid`` added); ValueError for a hidden or empty name."""
    name = journal.name[: -len(JOURNAL_SUFFIX)] if journal.name.endswith(JOURNAL_SUFFIX) else ""
    if not name or name.startswith("."):
        raise ValueError(f"{journal} is not the journal of a take")
    if not name.lower().endswith(TAKE_SUFFIXES):
        name += ".mid"
    return journal.with_name(name)


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
            lock_fd_exclusive(fd)
        except BlockingIOError:
            return None  # a live recording
        read_header(journal, f.readline())
        return finish(journal, free_take_path(target, "recovered"))


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


@dataclass
class Recovery:
    """What ``recover_all`` did: the takes written, and one line per journal it could not use
    (each stays where it is)."""

    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def recover_all(folder: str | Path | None = None) -> Recovery:
    """Recover every interrupted recording in ``folder`` (default: the recordings folder),
    including those elsewhere that left a pointer there. A journal larger than
    ``MAX_AUTO_RECOVER_BYTES`` is left for ``perfjam recover JOURNAL`` (said in ``failed``)."""
    folder = Path(folder).expanduser() if folder else recordings_dir()
    journals = {p for p in folder.glob(f"*{JOURNAL_SUFFIX}") if _regular(p)} if folder.is_dir() else set()
    pointers = {pointer: read_pointer(pointer) for pointer in pointers_in(folder)}
    journals |= {journal for journal in pointers.values() if journal is not None and _regular(journal)}
    result, busy = Recovery(), set()
    for journal in sorted(journals):
        try:
            size = journal.stat().st_size
            if size > MAX_AUTO_RECOVER_BYTES:
                result.failed.append(f"{journal}: {size / 1e6:.0f} MB, too large to rebuild at start: "
                                     f"`perfjam recover {journal}` rebuilds it")
                continue
            path = recover(journal)
        except (OSError, ValueError) as exc:
            result.failed.append(failure_line(journal, exc))
            continue
        if path is None:
            busy.add(journal)
        else:
            result.written.append(path)
    for pointer, journal in pointers.items():
        if journal is not None and journal not in busy and not os.path.lexists(journal):
            pointer.unlink(missing_ok=True)
    return result


def failure_line(journal: Path, exc: BaseException) -> str:
    """Why a journal's take could not be rebuilt, in one line (the journal is kept)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full"
    elif isinstance(exc, OSError):
        why = exc.strerror or str(exc)
    else:
        why = str(exc).removeprefix(f"{journal} ").removeprefix(f"{journal}: ")
    return f"{journal}: cannot rebuild its take: {why}; the journal is kept"


# --- `perfjam recover` ------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path,
                        help=f"journals ({'*.mid' + JOURNAL_SUFFIX}) or folders (default: ${ENV_RECORDINGS}, "
                        f"else {DEFAULT_RECORDINGS})")


def run(args: argparse.Namespace) -> int:
    """Rebuild the takes of the journals and folders given (default: the recordings folder);
    exit 1 when a journal could not be used (each said in one line; it is kept)."""
    # The default folder may not exist yet (nothing was ever recorded): nothing to recover then.
    paths = args.paths or [p for p in [recordings_dir()] if p.exists()]
    done = Recovery()
    status = 0
    for path in paths:
        if path.is_dir():
            found = recover_all(path)
            done.written += found.written
            done.failed += found.failed
        elif path.is_file():
            try:
                result = recover(path)
            except (OSError, ValueError) as exc:
                done.failed.append(failure_line(path, exc))
                continue
            if result is None:
                print(f"perfjam recover: {path} is still being recorded", file=sys.stderr)
            else:
                done.written.append(result)
        else:
            print(f"perfjam recover: no such file or folder: {path}", file=sys.stderr)
            status = 1
    for line in done.failed:
        print(f"perfjam recover: {line}", file=sys.stderr)
    for path in done.written:
        print(f"recovered {path}")
    if not done.written and not done.failed and status == 0:
        print("nothing to recover")
    return 1 if done.failed else status
