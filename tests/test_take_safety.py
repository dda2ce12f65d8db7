"""No take is lost, and none is claimed that was not written: a second ``perfjam jam`` on the same
file is refused and leaves the first untouched; a file that cannot be written is refused before
playing; a full disk stops the take with one clear line, keeps its journal and ``perfjam recover``
says what it cannot do; a take whose folder is removed goes on in the recordings folder. Real
processes on real JACK ports; the full and read-only disks are real (small tmpfs mounts)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest
from test_jam import ROOT, jams  # noqa: F401 - the fixture starting `perfjam jam` processes

from perfjam.journal import journal_path_for
from perfjam.recorder import Recorder, RecordingError

pytestmark = pytest.mark.jack
PAGE = 4096


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int, read_only: bool = False) -> Iterator[Path]:
    """A real small file system at ``path`` (tmpfs: mounting needs root; skipped without)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kb}k" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def wait_for(jam, text: str, timeout_s: float = 30.0) -> bool:
    """A line containing ``text`` on the jam's stdout or stderr."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(text in line for line in jam.out + jam.err):
            return True
        if jam.proc.poll() is not None:
            time.sleep(0.2)  # its last lines
            return any(text in line for line in jam.out + jam.err)
        time.sleep(0.05)
    return False


def human_notes(take: Path) -> list[int]:
    return [m.note for m in mido.MidiFile(take).tracks[1] if m.type == "note_on" and m.velocity]


def jam_args(jam_rig, engine_models, mode: str = "call") -> tuple[str, ...]:
    return ("--midi-in", jam_rig.keyboard_port, "--midi-out", jam_rig.listener_port, "--mode", mode,
            "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack")


def test_a_second_recorder_on_the_same_file_is_refused_before_touching_the_journal(tmp_path):
    take = tmp_path / "take.mid"
    first = Recorder(take, pointer_folder=tmp_path)
    first.start(0.0)
    try:
        first.add(0.01, 0, (0x90, 60, 90))
        deadline = time.monotonic() + 10
        while journal_path_for(take).read_text().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        before = journal_path_for(take).read_bytes()
        with pytest.raises(RecordingError, match="being recorded by another PerfJam"):
            Recorder(take, pointer_folder=tmp_path).start(0.0)
        assert journal_path_for(take).read_bytes() == before
    finally:
        first.stop()
        first.wait(10)
    assert first.result == take and human_notes(take) == [60]


def test_a_second_jam_on_the_same_take_exits_2_and_the_first_take_is_whole(jam_rig, engine_models, jams,  # noqa: F811
                                                                           tmp_path):
    take = tmp_path / "same.mid"
    first = jams(*jam_args(jam_rig, engine_models), "--record", str(take))
    assert wait_for(first, "(connected) | rec"), first.out + first.err
    jam_rig.play([(60 + i, 0.05, 0.05) for i in range(5)])

    second = jams(*jam_args(jam_rig, engine_models), "--record", str(take))
    assert second.proc.wait(60) == 2
    time.sleep(0.2)
    refusals = [line for line in second.err if line.startswith("perfjam jam:")]
    assert refusals == [f"perfjam jam: {take} is being recorded by another PerfJam (its journal is locked); "
                        "choose another file"], second.err
    assert not any(line.startswith("recording:") for line in second.out)

    jam_rig.play([(70 + i, 0.05, 0.05) for i in range(5)])
    time.sleep(0.3)
    assert first.stop() == 0, first.err
    assert f"recording: {take}" in first.out[-1]
    assert human_notes(take) == [60, 61, 62, 63, 64, 70, 71, 72, 73, 74]


def test_jam_refuses_a_take_it_cannot_write_before_playing(engine_models, jams, jack_server, tmp_path):  # noqa: F811
    args = ("--mode", "call", "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack")
    folder = tmp_path / "a-folder.mid"
    folder.mkdir()
    jam = jams(*args, "--record", str(folder))
    assert jam.proc.wait(60) == 2
    time.sleep(0.2)
    assert f"perfjam jam: cannot record to {folder}: it is a folder" in jam.err, jam.err
    with tmpfs(tmp_path / "read-only", 64, read_only=True) as read_only:
        jam = jams(*args, "--record", str(read_only / "take.mid"))
        assert jam.proc.wait(60) == 2
        time.sleep(0.2)
        assert f"perfjam jam: cannot record to {read_only / 'take.mid'}: Read-only file system" in jam.err
        assert not any(line.startswith("recording:") for line in jam.out)


def test_a_full_disk_stops_the_take_in_one_line_and_recover_rebuilds_it_once_there_is_room(
        engine_models, jams, jack_server, tmp_path):  # noqa: F811
    with tmpfs(tmp_path / "small", 256) as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (256 * 1024 - PAGE))  # one page left for the journal
        take = disk / "take.mid"
        jam = jams("--mode", "solo", "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack",
                   "--record", str(take))
        assert wait_for(jam, "the disk is full", 60), jam.out + jam.err
        assert jam.stop() == 1
        assert "Traceback" not in "\n".join(jam.err)
        assert jam.err[-1].startswith(f"perfjam jam: the take was not written: recording {take}: the disk is "
                                      "full: recording stopped at"), jam.err
        assert f"{journal_path_for(take)} is kept" in jam.err[-1]
        assert not any(line.startswith("recording:") for line in jam.out)
        assert journal_path_for(take).stat().st_size > 1000 and not take.exists()

        recover = [sys.executable, "-m", "perfjam", "recover", str(disk)]
        full = subprocess.run(recover, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert full.returncode == 1 and "nothing to recover" not in full.stdout
        said = f"perfjam recover: {journal_path_for(take)}: cannot rebuild its take: the disk is full"
        assert full.stderr.strip() == f"{said}; the journal is kept"
        filler.unlink()
        room = subprocess.run(recover, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert room.returncode == 0 and f"recovered {take}" in room.stdout, room.stdout + room.stderr
        ai = [m for m in mido.MidiFile(take).tracks[2] if m.type == "note_on" and m.velocity]
        assert len(ai) > 20


def test_a_take_whose_folder_is_removed_goes_on_in_the_recordings_folder(jam_rig, engine_models, jams,  # noqa: F811
                                                                          tmp_path):
    folder = tmp_path / "gig"
    take = folder / "set1.mid"
    recordings = Path(os.environ["PERFJAM_RECORDINGS"])  # the jam_rig's
    jam = jams(*jam_args(jam_rig, engine_models), "--record", str(take))
    assert wait_for(jam, "(connected) | rec"), jam.out + jam.err
    jam_rig.play([(60 + i, 0.05, 0.05) for i in range(5)])
    time.sleep(0.5)  # in the journal
    shutil.rmtree(folder)
    assert wait_for(jam, "its folder was removed during the take"), jam.err
    jam_rig.play([(70 + i, 0.05, 0.05) for i in range(5)])
    time.sleep(0.3)
    assert jam.stop(signal.SIGTERM) == 0, jam.err
    assert f"recording {take}: its folder was removed during the take; the take goes on in " \
           f"{recordings / 'set1.mid'}" in "\n".join(jam.err)
    assert jam.out[-1] == f"recording: {recordings / 'set1.mid'}"
    assert human_notes(recordings / "set1.mid") == [60, 61, 62, 63, 64, 70, 71, 72, 73, 74]
    assert not folder.exists()
