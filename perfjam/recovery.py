"""Crash recovery: takes rebuilt from the journals an interrupted recording left
(``recover``, ``recover_all``); also the ``perfjam recover`` subcommand (``add_arguments`` / ``run``).

A recording outside the recordings folder leaves a pointer in ``FOLDER/.pending`` (written by
``perfjam.recorder.Recorder``) so that ``recover_all(FOLDER)`` (run at app start) finds it
wherever it is. A journal still locked by its writer is a live recording and is never touched.
"""

from __future__ import annotations

import argparse
import fcntl
import sys
from pathlib import Path

from perfjam.journal import JOURNAL_SUFFIX, finish, read_header
from perfjam.recorder import DEFAULT_RECORDINGS, ENV_RECORDINGS, POINTER_DIR, recordings_dir


def recover(journal: str | Path) -> Path | None:
    """Rebuild the MIDI file of an interrupted recording; None if it is still being written."""
    journal = Path(journal)
    with open(journal, "r+", encoding="ascii", errors="replace") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live recording
        header = read_header(journal, f.readline())
        target = Path(header.get("path") or str(journal)[: -len(JOURNAL_SUFFIX)])
        if target.exists():
            n = 1
            candidate = target.with_name(f"{target.stem}-recovered.mid")
            while candidate.exists():
                n += 1
                candidate = target.with_name(f"{target.stem}-recovered{n}.mid")
            target = candidate
        return finish(journal, target)


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
            path = recover(journal)
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
