#!/usr/bin/env python3
"""Free the slots of JACK servers that died without unregistering (standard library only).

    python3 tools/jack_registry.py [--list]

JACK2 keeps its servers in an 8-slot table, ``/dev/shm/jack-shm-registry``. A server frees its
slot when it stops; one that is killed (SIGKILL, a crash) leaves its slot taken, and jackd
reclaims a dead server's slot only when a server *of the same name* starts. With a new name per
test run (``tools/with-jack.sh``, the tests' fixtures), eight dead servers make every later start
fail with "Too many servers already active". This clears the slots whose process is gone, as
jackd itself does for a reused name (``jack_register_server`` in JACK2's shm.c). Run before
starting a server; ``--list`` prints the table.

Layout (JACK2 1.9, 64-bit Linux): a 24-byte header (magic "JACK", protocol, type, size,
``hdr_len``, ``entry_len``) then ``MAX_SERVERS`` entries of (pid_t pid, char name[257]), 4-byte
aligned. The header's ``hdr_len`` is checked against that before anything is written.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys

REGISTRY = "/dev/shm/jack-shm-registry"
MAGIC = 0x4A41434B  # "JACK"
MAX_SERVERS = 8
HEADER = struct.Struct("<IHHiiii")  # magic, protocol, (pad), type, size, hdr_len, entry_len
NAME_SIZE = 257
SLOT = (4 + NAME_SIZE + 3) // 4 * 4  # 264


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's: alive
    return True


def slots(data: bytes) -> list[tuple[int, int, str]] | None:
    """(offset, pid, name) of each slot, or None when the file is not the layout this knows."""
    if len(data) < HEADER.size + MAX_SERVERS * SLOT:
        return None
    magic, _protocol, _pad, _type, _size, hdr_len, _entry_len = HEADER.unpack_from(data, 0)
    if magic != MAGIC or hdr_len != HEADER.size + MAX_SERVERS * SLOT:
        return None
    out = []
    for i in range(MAX_SERVERS):
        offset = HEADER.size + i * SLOT
        (pid,) = struct.unpack_from("<i", data, offset)
        name = data[offset + 4:offset + 4 + NAME_SIZE].split(b"\0")[0].decode(errors="replace")
        out.append((offset, pid, name))
    return out


def reclaim(path: str = REGISTRY) -> list[str]:
    """Clear the slots of dead servers; returns their names (nothing when there is no registry)."""
    try:
        with open(path, "r+b") as f:
            data = f.read()
            table = slots(data)
            if table is None:
                return []
            freed = []
            for offset, pid, name in table:
                if pid > 0 and not _alive(pid):
                    f.seek(offset)
                    f.write(b"\0" * SLOT)
                    freed.append(name)
            return freed
    except FileNotFoundError:
        return []
    except PermissionError as exc:
        print(f"jack_registry: {exc}", file=sys.stderr)
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the table, change nothing")
    args = parser.parse_args(argv)
    if args.list:
        try:
            table = slots(open(REGISTRY, "rb").read()) or []
        except FileNotFoundError:
            table = []
        for _offset, pid, name in table:
            if pid:
                print(f"{pid:>8} {'alive' if _alive(pid) else 'dead':5} {name}")
        return 0
    for name in reclaim():
        print(f"jack_registry: freed the slot of {name} (its server had died)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
