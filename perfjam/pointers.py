"""The pointers a recording outside the recordings folder leaves in ``FOLDER/.pending``, so that
recovery finds its journal wherever it is: written by ``perfjam.recorder``, read by
``perfjam.recovery``.

A recordings folder may be shared, synced or unpacked from an archive, so a pointer found there is
followed only if this app wrote it for this user: its second line is an HMAC (SHA-256) of the
journal's path under a key of 32 random bytes kept outside any recordings folder, readable by
this user alone (``$XDG_STATE_HOME/perfjam/pointer.key``, else ``~/.local/state/perfjam``). A
pointer that is not signed so, or names anything but an absolute ``*.journal`` path, is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import uuid
from pathlib import Path

from perfjam.journal import JOURNAL_SUFFIX

POINTER_DIR = ".pending"
POINTER_SUFFIX = ".ptr"
KEY_BYTES = 32
MAX_POINTER_BYTES = 8192  # a path and a signature; anything longer is not a pointer


def key_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "perfjam" / "pointer.key"


def _key(create: bool) -> bytes | None:
    """This user's key (made the first time when ``create``); None when there is none or it is
    not this user's alone."""
    path = key_path()
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # another instance made it at the same moment
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(KEY_BYTES))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        key = f.read(KEY_BYTES + 1)
    return key if len(key) == KEY_BYTES else None


def _signature(key: bytes, journal: Path) -> str:
    return hmac.new(key, os.fsencode(journal), hashlib.sha256).hexdigest()


def write_pointer(folder: Path, journal: Path) -> Path:
    """A signed pointer to ``journal`` (an absolute path) in ``folder/.pending``; OSError if it
    cannot be written (then the journal is found only when its own folder is recovered)."""
    key = _key(create=True)
    if key is None:
        raise PermissionError(f"no private key at {key_path()} to sign a pointer with")
    pending = folder / POINTER_DIR
    pending.mkdir(parents=True, exist_ok=True)
    pointer = pending / f"{uuid.uuid4().hex}{POINTER_SUFFIX}"
    pointer.write_text(f"{journal}\n{_signature(key, journal)}\n")
    return pointer


def read_pointer(pointer: Path) -> Path | None:
    """The journal a pointer this app wrote names, or None (not signed by this user's key, not a
    regular file, not an absolute ``*.journal`` path)."""
    key = _key(create=False)
    if key is None:
        return None
    try:
        fd = os.open(pointer, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        data = f.read(MAX_POINTER_BYTES + 1)
    lines = data.split(b"\n")
    if len(data) > MAX_POINTER_BYTES or len(lines) < 2:
        return None
    journal = Path(os.fsdecode(lines[0]))
    signed = hmac.compare_digest(lines[1], _signature(key, journal).encode("ascii"))
    if not signed or not journal.is_absolute() or not journal.name.endswith(JOURNAL_SUFFIX):
        return None
    return journal


def pointers_in(folder: Path) -> list[Path]:
    pending = folder / POINTER_DIR
    return sorted(pending.glob(f"*{POINTER_SUFFIX}")) if pending.is_dir() else []
