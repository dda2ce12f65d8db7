"""Recording: the journal on disk, the type-1 MIDI file, crash recovery and ``perfjam recover``."""

from __future__ import annotations

import time

import mido
import pytest

from perfjam import cli
from perfjam.journal import JOURNAL_SUFFIX, build_midi, journal_path_for, read_journal
from perfjam.recorder import Recorder, recordings_dir
from perfjam.recovery import recover, recover_all


@pytest.fixture(autouse=True)
def recordings(tmp_path, monkeypatch):
    folder = tmp_path / "recordings"
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(folder))
    return folder


def notes_of(track):
    """(start_ms, end_ms, pitch, velocity) of a track's notes (every on paired with an off)."""
    now, open_at, notes = 0, {}, []
    for msg in track:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            assert msg.note not in open_at, "a note-on on a sounding pitch"
            open_at[msg.note] = (now, msg.velocity)
        elif msg.type in ("note_on", "note_off"):
            start, velocity = open_at.pop(msg.note)
            notes.append((start, now, msg.note, velocity))
    assert not open_at, "a note-on without its note-off"
    return sorted(notes)


def test_a_session_becomes_a_type1_file_with_human_and_ai_tracks_at_1ms(tmp_path):
    path = tmp_path / "take.mid"
    recorder = Recorder(path, pointer_folder=tmp_path)
    recorder.start(100.0)
    recorder.add(100.000, 0, (0x90, 60, 100))
    recorder.add(100.2504, 1, (0x90, 72, 80))
    recorder.add(100.500, 0, (0xB0, 64, 127))
    recorder.add(100.600, 0, (0x80, 60, 0))
    recorder.add(100.7, 1, (0x80, 72, 0))
    recorder.add(101.0, 0, (0xB0, 64, 0))
    recorder.add(101.5, 1, (0x90, 74, 90))  # still sounding when the recording stops
    recorder.stop()
    assert recorder.wait(10) == path.absolute()
    assert not journal_path_for(path).exists()
    midi = mido.MidiFile(path)
    assert midi.type == 1 and midi.ticks_per_beat == 500 and len(midi.tracks) == 3
    assert [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"] == [500000]
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks[1:]]
    assert names == ["Human", "AI"]
    assert notes_of(midi.tracks[1]) == [(0, 600, 60, 100)]
    assert notes_of(midi.tracks[2]) == [(250, 700, 72, 80), (1500, 1501, 74, 90)]
    pedal = [m.value for m in midi.tracks[1] if m.type == "control_change" and m.control == 64]
    assert pedal == [127, 0]
    assert {m.channel for m in midi.tracks[2] if hasattr(m, "channel")} == {1}
    assert midi.length == pytest.approx(1.501, abs=0.002)


def test_the_journal_is_flushed_at_least_once_a_second_while_recording(tmp_path):
    recorder = Recorder(tmp_path / "live.mid", pointer_folder=tmp_path)
    recorder.start(0.0)
    try:
        recorder.add(0.1, 0, (0x90, 60, 90))
        time.sleep(1.0)
        journal = read_journal(recorder.journal_path)  # what a crash now would leave
        assert journal == [(100, 0, (0x90, 60, 90))]
        assert recover(recorder.journal_path) is None, "a live recording is never recovered"
    finally:
        recorder.stop()
        recorder.wait(10)


def test_recover_rebuilds_a_killed_recording_from_its_journal(tmp_path):
    journal = tmp_path / f"crash.mid{JOURNAL_SUFFIX}"
    journal.write_text(
        'PERFJAM-JOURNAL 1 {"path": "%s"}\n' % (tmp_path / "crash.mid")
        + "0 0 144 60 90\n10 1 144 64 80\n300 0 128 60 0\n400 0 144 62 70\n450 1 1"  # torn last line
    )
    path = recover(journal)
    assert path == tmp_path / "crash.mid" and not journal.exists()
    midi = mido.MidiFile(path)
    assert notes_of(midi.tracks[1]) == [(0, 300, 60, 90), (400, 401, 62, 70)]
    assert notes_of(midi.tracks[2]) == [(10, 400, 64, 80)]


CRASHING_RECORDER = """
import sys, time
from perfjam.recorder import Recorder
recorder = Recorder(sys.argv[1])
recorder.start(0.0)
recorder.add(0.01, 0, (0x90, 60, 90))
time.sleep(0.6)  # flushed by now
print("ready", flush=True)
time.sleep(60)
"""


def record_and_crash(path):
    """A real process records to ``path`` and is killed with SIGKILL mid-recording."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", CRASHING_RECORDER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert journal_path_for(path).exists()


def test_recover_all_finds_journals_here_and_through_pointers_and_never_overwrites(tmp_path, recordings):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    record_and_crash(recordings / "a.mid")
    record_and_crash(elsewhere / "a.mid")
    assert len(list((recordings / ".pending").glob("*.ptr"))) == 1
    (recordings / "a.mid").write_bytes(b"an older file")
    recovered = recover_all().written
    assert sorted(recovered) == sorted([recordings / "a-recovered.mid", elsewhere / "a.mid"])
    assert (recordings / "a.mid").read_bytes() == b"an older file"
    assert notes_of(mido.MidiFile(elsewhere / "a.mid").tracks[1]) == [(10, 11, 60, 90)]
    assert not list((recordings / ".pending").glob("*.ptr"))
    assert recover_all().written == []


def test_perfjam_recover_command(tmp_path, recordings, capsys):
    recordings.mkdir(parents=True)
    journal = recordings / f"x.mid{JOURNAL_SUFFIX}"
    journal.write_text('PERFJAM-JOURNAL 1 {"path": "%s"}\n0 1 144 60 90\n' % (recordings / "x.mid"))
    assert cli.main(["recover"]) == 0
    assert f"recovered {recordings / 'x.mid'}" in capsys.readouterr().out
    assert cli.main(["recover"]) == 0
    assert "nothing to recover" in capsys.readouterr().out
    assert cli.main(["recover", str(tmp_path / "missing")]) == 1


def test_recordings_folder_default(monkeypatch):
    monkeypatch.delenv("PERFJAM_RECORDINGS")
    assert recordings_dir() == __import__("pathlib").Path("~/Music/PerfJam").expanduser()


def test_build_midi_balances_restrikes_and_stray_note_offs():
    midi = build_midi([(0, 0, (0x90, 60, 90)), (5, 0, (0x90, 60, 100)), (9, 0, (0x80, 61, 0)),
                       (20, 0, (0x80, 60, 0)), (20, 0, (0x90, 60, 0))])
    assert notes_of(midi.tracks[1]) == [(0, 5, 60, 90), (5, 20, 60, 100)]


# --- with the engine ------------------------------------------------------------------------------
@pytest.mark.jack
def test_the_engine_records_what_was_played(jam_rig, engine_models, tmp_path):
    engine = jam_rig.engine(engine_models["dense"], mode="duet")
    path = tmp_path / "duet.mid"
    engine.start_recording(path)
    time.sleep(0.1)
    jam_rig.play([(60, 0.2, 0.1), (64, 0.2, 0.1), (67, 0.4, 0.3)])
    time.sleep(1.0)
    assert engine.status().recording_path == str(path)
    engine.stop_recording()
    assert jam_rig.wait_for(lambda: path.exists(), 5.0)
    midi = mido.MidiFile(path)
    human, ai = notes_of(midi.tracks[1]), notes_of(midi.tracks[2])
    assert [n[2] for n in human] == [60, 64, 67]
    sent_on = [t for t, m in jam_rig.sent if m[0] == 0x90]
    first_ms = human[0][0]
    for (start_ms, _end, _p, _v), t in zip(human, sent_on, strict=True):
        assert abs((start_ms - first_ms) - (t - sent_on[0]) * 1000) < 15  # 1 ms ticks, real time
    # The AI track holds the notes the listener got, at the times it got them.
    origin = sent_on[0] - first_ms / 1000  # the recording's time zero, on the test's clock
    received = [(t, p) for t, p, on in jam_rig.notes() if on]
    assert len(ai) >= 2
    for start_ms, _end, pitch, _v in ai:
        near = [t for t, p in received if p == pitch and abs(t - origin - start_ms / 1000) < 0.02]
        assert near, (start_ms, pitch)


def test_a_restrike_in_the_same_ms_never_writes_two_note_ons_of_a_pitch():
    # on/off/on of pitch 71 in one ms (a zero-length re-strike), an on over a sounding note, and
    # a 1 ms minimum that must not pass the next strike.
    events = [(2258, 1, (0x90, 71, 80)), (2258, 1, (0x80, 71, 0)), (2258, 1, (0x90, 71, 70)),
              (2300, 1, (0x90, 71, 60)), (2400, 1, (0x80, 71, 0)),
              (2500, 1, (0x90, 72, 50)), (2500, 1, (0x80, 72, 0)), (2501, 1, (0x90, 72, 50))]
    notes = notes_of(build_midi(events).tracks[2])
    assert [(s, e, p, v) for s, e, p, v in notes] == [
        (2258, 2300, 71, 70), (2300, 2400, 71, 60), (2500, 2501, 72, 50), (2501, 2501 + 1, 72, 50)]
