"""Crash recovery trusts nothing from outside: a journal dropped into the recordings folder (a
shared folder, a zip, a sync tool) rebuilds its take only beside itself, never where its header
says; a pointer is followed only if this app signed it for this user; links, FIFOs and folders
planted in the folder are never written through nor waited on."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import mido
import pytest

from perfjam import cli
from perfjam.journal import MAGIC
from perfjam.pointers import POINTER_DIR, write_pointer
from perfjam.recovery import recover, recover_all


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(folder))
    return folder


def snapshot(root: Path, outside_of: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file and link under ``root`` that is not inside ``outside_of``."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path == outside_of or outside_of in path.parents:
                continue
            info = os.lstat(path)
            found[str(path)] = (info.st_size, info.st_mtime_ns)
    return found


def crafted_journal(folder: Path, name: str, header_path: Path) -> Path:
    """A journal as an attacker writes it: a header naming a file anywhere, CC lines whose bytes
    spell a shell command (running status makes them attacker-chosen in the file written)."""
    payload = b"#!/bin/sh\ntouch pwned\n"
    lines = [f"{MAGIC} {json.dumps({'path': str(header_path)})}"]
    lines += [f"{i} 0 176 {b & 0x7F} {b & 0x7F}" for i, b in enumerate(payload)]
    lines.append("50 0 144 60 90")
    journal = folder / name
    journal.write_text("\n".join(lines) + "\n")
    return journal


def test_a_crafted_journal_rebuilds_only_beside_itself_and_writes_nothing_outside(folder, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "home").mkdir()
    crafted_journal(folder, "x.mid.journal", outside / "evil.sh")
    crafted_journal(folder, "y.mid.journal", Path("../home/.bashrc"))
    crafted_journal(folder, "run.sh.journal", outside / "run.sh")
    before = snapshot(tmp_path, folder)

    assert cli.main(["recover"]) == 0  # as `perfjam`, `perfjam jam` and `perfjam recover` start

    assert snapshot(tmp_path, folder) == before, "nothing outside the recordings folder changed"
    out = capsys.readouterr().out
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["run.sh.mid", "x.mid", "y.mid"], written
    assert f"recovered {folder / 'x.mid'}" in out and "evil" not in out
    notes = [m.note for m in mido.MidiFile(folder / "x.mid").tracks[1] if m.type == "note_on"]
    assert notes == [60]


def test_a_pointer_this_app_did_not_sign_is_not_followed(folder, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    journal = crafted_journal(elsewhere, "take.mid.journal", elsewhere / "take.mid")
    pending = folder / POINTER_DIR
    pending.mkdir()
    (pending / "forged.ptr").write_text(f"{journal}\n")
    (pending / "wrong-key.ptr").write_text(f"{journal}\n{'0' * 64}\n")
    before = snapshot(tmp_path, folder)

    assert recover_all(folder).written == []
    assert snapshot(tmp_path, folder) == before and journal.exists()

    signed = write_pointer(folder, journal)  # what the recorder writes for a take outside the folder
    assert recover_all(folder).written == [elsewhere / "take.mid"]
    assert not journal.exists() and not signed.exists()


def test_a_pointer_signed_with_another_users_key_is_not_followed(folder, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    journal = crafted_journal(elsewhere, "take.mid.journal", elsewhere / "take.mid")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-user"))
    write_pointer(folder, journal)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "this-user"))
    assert recover_all(folder).written == [] and journal.exists()


def test_links_fifos_and_folders_in_the_folder_are_never_followed_nor_waited_on(folder, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me\n")
    real = crafted_journal(outside, "real.mid.journal", outside / "real.mid")
    (folder / "linked.mid.journal").symlink_to(real)  # a journal that is a link: skipped
    os.mkfifo(folder / "fifo.mid.journal")  # opening it would block the app's start
    (folder / "dir.mid.journal").mkdir()
    crafted_journal(folder, "a.mid.journal", outside / "a.mid")
    (folder / "a.mid").symlink_to(victim)  # the take's name is taken by a link: not written through
    before = snapshot(tmp_path, folder)

    started = time.monotonic()
    recovered = recover_all(folder).written
    assert time.monotonic() - started < 10
    assert recovered == [folder / "a-recovered.mid"]
    assert snapshot(tmp_path, folder) == before and victim.read_text() == "keep me\n"
    with pytest.raises(ValueError, match="not a regular file"):
        recover(folder / "fifo.mid.journal")

