"""Fuzzing with malformed bytes: the codec's reading of MIDI files, ``perfjam generate --primer``
and the recorder's crash recovery answer damage with a clear error or what survived of the data,
never a traceback or a hang."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perfjam.cli import main
from perfjam.codec.events import VOCAB_DYNAMICS
from perfjam.codec.midifile import MidiFileError, encode_midi
from perfjam.journal import MAGIC, journal_path_for, read_journal
from perfjam.recorder import Recorder
from perfjam.recovery import recover

FUZZ = settings(max_examples=100, deadline=timedelta(seconds=5), database=None,
                suppress_health_check=[HealthCheck.too_slow])


def _real_midi() -> bytes:
    """A small type-1 file with a tempo change, a pedal and chords (as mido writes it)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=400_000, time=0),
                            mido.MetaMessage("set_tempo", tempo=900_000, time=192)])
    notes = mido.MidiTrack([mido.Message("control_change", control=64, value=127, time=0)])
    for i in range(6):
        notes.append(mido.Message("note_on", note=60 + i, velocity=50 + 10 * i, time=24))
        notes.append(mido.Message("note_on", note=64 + i, velocity=70, time=0))
        notes.append(mido.Message("note_off", note=60 + i, velocity=0, time=48))
        notes.append(mido.Message("note_off", note=64 + i, velocity=0, time=0))
    notes.append(mido.Message("control_change", control=64, value=0, time=10))
    midi.tracks += [tempo, notes]
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


REAL_MIDI = _real_midi()
CHUNK_LENGTHS = [4, 18, REAL_MIDI.index(b"MTrk", 18) + 4]  # the header's and both tracks' length fields
HEADER_FIELDS = [8, 10, 12]  # type, number of tracks, time division (16 bits each)


@st.composite
def malformed_midi(draw) -> bytes:
    """Random bytes, a real file cut short, or a real file with bytes / header fields / chunk
    lengths overwritten."""
    kind = draw(st.sampled_from(["random", "truncated", "bytes", "header", "length"]))
    if kind == "random":
        prefix = draw(st.sampled_from([b"", b"MThd", b"MThd\x00\x00\x00\x06"]))
        return prefix + draw(st.binary(max_size=200))
    if kind == "truncated":
        return REAL_MIDI[: draw(st.integers(0, len(REAL_MIDI) - 1))]
    data = bytearray(REAL_MIDI)
    if kind == "bytes":
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "header":
        offset = draw(st.sampled_from(HEADER_FIELDS))
        data[offset:offset + 2] = struct.pack(">H", draw(st.integers(0, 0xFFFF)))
    else:
        offset = draw(st.sampled_from(CHUNK_LENGTHS))
        data[offset:offset + 4] = struct.pack(">L", draw(st.integers(0, 0xFFFFFFFF)))
    return bytes(data)


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="perfjam-fuzz-") as folder:
        yield Path(folder)


_files = iter(range(1 << 30))


def _write(folder: Path, data: bytes, suffix: str = ".mid") -> Path:
    path = folder / f"f{next(_files)}{suffix}"
    path.write_bytes(data)
    return path


@FUZZ
@given(data=malformed_midi())
def test_encoding_a_malformed_midi_file_gives_events_or_one_line_naming_it(workdir, data):
    path = _write(workdir, data)
    try:
        events = encode_midi(path, VOCAB_DYNAMICS)
    except MidiFileError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) > len(f"{path}: ")
    else:
        assert all(0 <= e < VOCAB_DYNAMICS.size for e in events)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from training.export_onnx import export_checkpoint, write_random_checkpoint
    from training.model import ModelConfig

    root = tmp_path_factory.mktemp("fuzz-model")
    checkpoint = write_random_checkpoint(root / "tiny.pt", ModelConfig(embedding=8, layers=1, hidden=16))
    return export_checkpoint(checkpoint, root / "tiny.onnx").path


@FUZZ
@given(data=malformed_midi())
def test_generate_with_a_malformed_primer_exits_cleanly(workdir, tiny_model, data):
    path = _write(workdir, data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["generate", "--model", str(tiny_model), "--primer", str(path), "--seconds", "0.1",
                   "--out", str(workdir / "out"), "--seed", "0"])
    assert "Traceback" not in err.getvalue()
    if rc == 2:
        assert err.getvalue().splitlines() == [err.getvalue().strip()]
        assert err.getvalue().startswith(f"generate: {path}: ")
    else:
        assert rc == 0 and Path(out.getvalue().split()[-1]).is_file()


# --- the recorder's journal ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def journal_lines(tmp_path_factory) -> list[str]:
    """The event lines of a journal a real Recorder wrote (as a crash would leave it)."""
    folder = tmp_path_factory.mktemp("fuzz-journal")
    recorder = Recorder(folder / "take.mid", pointer_folder=folder)
    recorder.start(0.0)
    try:
        for i in range(40):
            track, pitch = i % 2, 48 + i % 30
            recorder.add(0.05 * i, track, (0x90 | track, pitch, 60 + i))
            recorder.add(0.05 * i + 0.03, track, (0x80 | track, pitch, 0))
        deadline = time.monotonic() + 10.0
        while recorder.journal_path.read_text().count("\n") < 81 and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = recorder.journal_path.read_text().splitlines(keepends=True)
    finally:
        recorder.stop()
        recorder.wait(30)
    assert lines[0].startswith(MAGIC) and len(lines) == 81
    return lines[1:]


def _events_of(lines: list[str]) -> list[tuple[int, int, tuple[int, ...]]]:
    """What the recorder wrote on these lines: (ms, track, bytes)."""
    events = []
    for line in lines:
        ms, track, *data = (int(p) for p in line.split())
        events.append((ms, track, tuple(data)))
    return events


def _note_ons(midi: mido.MidiFile) -> set[tuple[int, int, int]]:
    """(track, ms, pitch) of every note-on of the Human (0) and AI (1) tracks."""
    ons = set()
    for index, track in enumerate(midi.tracks[1:3]):
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                ons.add((index, now, msg.note))
    return ons


@FUZZ
@given(damage=st.sampled_from(["append", "insert", "truncate"]), cut=st.integers(0, 10_000),
       garbage=st.binary(min_size=1, max_size=120))
def test_recovery_keeps_every_complete_event_before_the_damage(workdir, journal_lines, damage, cut, garbage):
    body = "".join(journal_lines).encode("ascii")
    offset = len(body) if damage == "append" else cut % (len(body) + 1)
    damaged = body[:offset] + (b"" if damage == "truncate" else garbage + body[offset:])
    target = workdir / f"take{next(_files)}.mid"
    journal = journal_path_for(target)
    header = f"{MAGIC} {json.dumps({'path': str(target)})}\n".encode("ascii")
    journal.write_bytes(header + damaged)
    intact = body[:offset].count(b"\n")  # the complete lines before the damage
    expected = _events_of(journal_lines[:intact])

    assert read_journal(journal)[:intact] == expected
    assert recover(journal) == target and not journal.exists()
    recovered = _note_ons(mido.MidiFile(target))
    assert {(track, ms, data[1]) for ms, track, data in expected if data[0] & 0xF0 == 0x90} <= recovered


def test_recovery_skips_a_line_with_an_impossible_time(workdir):
    target = workdir / "times.mid"
    journal = journal_path_for(target)
    journal.write_text(f"{MAGIC} {json.dumps({'path': str(target)})}\n"
                       "0 0 144 60 90\n-5 0 144 62 90\n99999999999 1 144 64 90\n300 0 128 60 0\n")
    assert read_journal(journal) == [(0, 0, (144, 60, 90)), (300, 0, (128, 60, 0))]
    recover(journal)
    assert _note_ons(mido.MidiFile(target)) == {(0, 0, 60)}
    assert mido.MidiFile(target).length == pytest.approx(0.3, abs=0.002)


def test_the_file_the_fuzzing_damages_is_readable_intact(workdir):
    events = encode_midi(_write(workdir, REAL_MIDI), VOCAB_DYNAMICS)
    assert sum(e < 128 for e in events) == 12, "its 12 notes"
