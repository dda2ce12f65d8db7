"""tools/jack_registry.py: slots of JACK servers that died are freed, live ones kept (on a file
laid out as JACK2's registry; the real one is never touched here)."""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "jack_registry.py"
spec = importlib.util.spec_from_file_location("jack_registry", TOOL)
jack_registry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(jack_registry)


def _registry(path: Path, servers: list[tuple[int, str]]) -> None:
    slot, header = jack_registry.SLOT, jack_registry.HEADER
    hdr_len = header.size + jack_registry.MAX_SERVERS * slot
    data = bytearray(hdr_len + 4096)
    header.pack_into(data, 0, jack_registry.MAGIC, 0, 0, 1, len(data), hdr_len, 268)
    for i, (pid, name) in enumerate(servers):
        struct.pack_into("<i", data, header.size + i * slot, pid)
        encoded = name.encode()
        data[header.size + i * slot + 4:header.size + i * slot + 4 + len(encoded)] = encoded
    path.write_bytes(bytes(data))


def test_the_slots_of_dead_servers_are_freed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "registry"
    _registry(path, [(dead.pid, "jack-0:perfjam-dead:"), (os.getpid(), "jack-0:perfjam-live:")])
    assert jack_registry.reclaim(str(path)) == ["jack-0:perfjam-dead:"]
    table = jack_registry.slots(path.read_bytes())
    assert [(pid, name) for _offset, pid, name in table if pid] == [(os.getpid(), "jack-0:perfjam-live:")]
    assert jack_registry.reclaim(str(path)) == []


def test_a_file_of_another_layout_is_left_alone(tmp_path):
    path = tmp_path / "other"
    path.write_bytes(b"\0" * 100)
    assert jack_registry.reclaim(str(path)) == [] and path.read_bytes() == b"\0" * 100
    assert jack_registry.reclaim(str(tmp_path / "missing")) == []
