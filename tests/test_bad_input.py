"""Bad input gets one clear line and exit 2, never a traceback or a runaway: primer files, primer
bounds, a model that outputs NaN, and the free-play default of a conditioned model."""

from __future__ import annotations

import struct
from pathlib import Path

import mido
import numpy as np
import pytest

from perfjam.cli import main
from perfjam.codec.events import VOCAB_DYNAMICS, Note
from perfjam.codec.midifile import MAX_MIDI_S, decode_events, events_to_midi, notes_to_midi
from perfjam.controls import CONTROL_SIZE, LEGACY_CONTROL_SIZE, control_vector, no_control_vector
from perfjam.generation import (
    MAX_NOTE_S,
    PRIMER_MAX_NOTES,
    PRIMER_MAX_S,
    default_primer,
    generate_events,
    load_primer,
    primer_from_notes,
)
from perfjam.model import ModelError, PerformanceModel, Sampler
from perfjam.sampling import DEFAULT_NOTE_MIN_P, DEFAULT_TEMPERATURE

pytest.importorskip("torch")
from training.export_onnx import build_metadata, export_checkpoint, export_model, write_random_checkpoint  # noqa: E402
from training.model import ModelConfig, PerformanceRNN  # noqa: E402

SECONDS = 2.0
MAX_TEMPO = 0xFFFFFF  # µs per beat: the largest a MIDI tempo can be (16.8 s per beat)


# --- models ----------------------------------------------------------------------------------------
def _exported(root: Path, name: str, control_size: int = 0) -> Path:
    config = ModelConfig(embedding=8, layers=1, hidden=16, control_size=control_size)
    checkpoint = write_random_checkpoint(root / f"{name}.pt", config, seed=3)
    return export_checkpoint(checkpoint, root / f"{name}.onnx").path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Tiny exported models: "plain", "free" (with the no-control flag), "legacy" (20 control
    inputs, before the flag) and "nan" (the right signature, NaN weights in its read-out)."""
    import torch

    root = tmp_path_factory.mktemp("bad-input-models")
    paths = {"plain": _exported(root, "plain"), "free": _exported(root, "free", CONTROL_SIZE),
             "legacy": _exported(root, "legacy", LEGACY_CONTROL_SIZE)}
    broken = PerformanceRNN(ModelConfig(embedding=8, layers=1, hidden=16)).eval()
    with torch.no_grad():
        broken.head.bias.fill_(float("nan"))
    paths["nan"] = export_model(broken, root / "nan.onnx", build_metadata(broken, {}, "nan"))
    return paths


def _generate(capsys, model: Path, out: Path, *extra: str) -> tuple[int, list[str], list[str]]:
    """``perfjam generate`` in-process: (exit status, stdout lines, stderr lines)."""
    rc = main(["generate", "--model", str(model), "--seconds", str(SECONDS), "--out", str(out), "--seed", "1",
               *extra])
    captured = capsys.readouterr()
    return rc, captured.out.splitlines(), captured.err.splitlines()


# --- bad primer files --------------------------------------------------------------------------------
def _real_midi_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "real.mid"
    notes_to_midi({"p": [Note(60 + i, 80, 0.25 * i, 0.25 * i + 0.2) for i in range(8)]}).save(str(path))
    return path.read_bytes()


def _one_note_file(path: Path, midi_type: int = 1, tempo: int = 500_000, delta: int = 0,
                   ticks_per_beat: int = 480) -> Path:
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo, time=0),
                                       mido.Message("note_on", note=60, velocity=80, time=delta),
                                       mido.Message("note_off", note=60, velocity=0, time=ticks_per_beat)]))
    midi.save(str(path))
    return path


def _bad_primer(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.mid"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(_real_midi_bytes(tmp_path)[:40])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif kind == "corrupt":  # a data byte over 127 inside a note message
        data = bytearray(_real_midi_bytes(tmp_path))
        data[data.index(bytes([0x90, 60])) + 1] = 0xC0
        path.write_bytes(bytes(data))
    elif kind == "folder":
        path.mkdir()
    elif kind == "no-notes":
        midi = mido.MidiFile(type=1)
        midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)]))
        midi.save(str(path))
    elif kind == "type-2":
        _one_note_file(path, midi_type=2)
    elif kind == "smpte":
        data = bytearray(_real_midi_bytes(tmp_path))
        data[12:14] = struct.pack(">h", -(25 << 8 | 40))  # 25 frames/s, 40 ticks per frame
        path.write_bytes(bytes(data))
    elif kind == "endless":  # the largest tempo and delta time: the note starts after 143 years
        _one_note_file(path, tempo=MAX_TEMPO, delta=0x0FFFFFFF, ticks_per_beat=1)
    return path  # "missing": never written


BAD_PRIMERS = {
    "empty": "not a MIDI file (empty)",
    "truncated": "truncated MIDI file",
    "random": "not a MIDI file (no MThd header)",
    "corrupt": "corrupt MIDI file (data byte must be in range 0..127)",
    "missing": "no such file",
    "folder": "is a folder, not a MIDI file",
    "no-notes": "no notes to continue",
    "type-2": "MIDI type 2 (independent sequences) is not supported",
    "smpte": "SMPTE time division is not supported",
    "endless": f"PerfJam reads files of at most {MAX_MIDI_S / 3600:g} hours",
}


@pytest.mark.parametrize("kind", sorted(BAD_PRIMERS))
def test_generate_refuses_a_bad_primer_file_in_one_line_naming_it(kind, tmp_path, models, capsys):
    primer = _bad_primer(kind, tmp_path)
    rc, out, err = _generate(capsys, models["plain"], tmp_path / "out", "--primer", str(primer))
    assert rc == 2
    assert len(err) == 1 and err[0].startswith(f"generate: {primer}: "), err
    assert BAD_PRIMERS[kind] in err[0]
    assert out == [] and not list((tmp_path / "out").glob("*.mid"))


def test_jam_refuses_a_bad_primer_before_opening_anything(tmp_path, models, capsys, monkeypatch):
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path / "recordings"))
    primer = _bad_primer("truncated", tmp_path)
    rc = main(["jam", "--mode", "solo", "--primer", str(primer), "--model", str(models["plain"]),
               "--no-audio"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2
    assert err == [f"perfjam jam: {primer}: truncated MIDI file"]


# --- primer bounds -----------------------------------------------------------------------------------
def test_a_long_primer_brings_only_its_last_seconds_and_says_so():
    notes = [Note(60 + i % 12, 80, 0.5 * i, 0.5 * i + 0.4) for i in range(60)]  # 30 s, 2 notes/s
    primer = primer_from_notes(notes, VOCAB_DYNAMICS)
    kept = decode_events(primer.events, VOCAB_DYNAMICS)
    in_window = [n for n in notes if n.start_s >= notes[-1].end_s - PRIMER_MAX_S]
    assert [n.pitch for n in kept] == [n.pitch for n in in_window]
    assert kept[-1].end_s == pytest.approx(PRIMER_MAX_S, abs=0.01), "the kept part ends the primer"
    assert primer.cut == f"primer: kept the last {PRIMER_MAX_S:.1f} s ({len(in_window)} of 60 notes)"


def test_a_dense_primer_brings_at_most_its_last_notes():
    notes = [Note(40 + i % 40, 80, 0.0002 * i, 0.0002 * i + 0.05) for i in range(10_000)]  # 10,000 in 2 s
    primer = primer_from_notes(notes, VOCAB_DYNAMICS)
    kept = decode_events(primer.events, VOCAB_DYNAMICS)
    assert primer.notes == PRIMER_MAX_NOTES
    assert len(kept) <= PRIMER_MAX_NOTES  # notes struck again within one 10 ms step merge
    assert kept[0].start_s == 0.0 and kept[-1].end_s < 0.2
    assert primer.cut.startswith(f"primer: kept the last 0.1 s ({PRIMER_MAX_NOTES} of 10,000 notes)")


def _timing(notes: list[Note]) -> list[tuple[int, float, float]]:
    return [(n.pitch, n.start_s, n.end_s) for n in notes]


def test_a_primer_within_the_bounds_is_the_whole_file_and_notes_are_held_at_most_max_note_s():
    whole = [Note(60, 80, 0.5, 1.0), Note(64, 80, 1.0, 2.0)]
    primer = primer_from_notes(whole, VOCAB_DYNAMICS)
    assert primer.cut is None and _timing(decode_events(primer.events, VOCAB_DYNAMICS)) == _timing(whole)
    held = primer_from_notes([Note(48, 80, 0.0, 60.0)], VOCAB_DYNAMICS)
    assert _timing(decode_events(held.events, VOCAB_DYNAMICS)) == [(48, 0.0, MAX_NOTE_S)]
    assert held.cut == f"primer: 1 note shortened to {MAX_NOTE_S:g} s"


def test_a_huge_tempo_primer_does_not_stretch_the_output(tmp_path, models, capsys):
    path = tmp_path / "slow.mid"  # 600 notes a beat apart at the slowest tempo: 2.8 hours
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=MAX_TEMPO, time=0)])
    for i in range(600):
        track.append(mido.Message("note_on", note=60 + i % 12, velocity=80, time=0 if i == 0 else 48))
        track.append(mido.Message("note_off", note=60 + i % 12, velocity=0, time=48))
    midi.tracks.append(track)
    midi.save(str(path))
    primer = load_primer(path, VOCAB_DYNAMICS)
    rc, out, err = _generate(capsys, models["plain"], tmp_path / "out", "--primer", str(path))
    assert rc == 0, err
    assert primer.cut in err
    length_s = mido.MidiFile(out[0]).length
    assert length_s == pytest.approx(primer.duration_s + SECONDS, abs=0.02)
    assert length_s <= PRIMER_MAX_S + SECONDS + 0.02


# --- a model that outputs NaN --------------------------------------------------------------------------
def test_a_model_with_non_finite_logits_raises_model_error_and_keeps_its_state(models):
    model = PerformanceModel.load(models["nan"])
    before = model.snapshot()
    with pytest.raises(ModelError, match="non-finite logits"):
        model.step(60)
    after = model.snapshot()
    assert np.array_equal(before.h, after.h) and np.array_equal(before.c, after.c)


def test_generate_reports_a_nan_model_in_one_line(tmp_path, models, capsys):
    rc, out, err = _generate(capsys, models["nan"], tmp_path / "out", "--primer-pitches", "60,64")
    assert rc == 2
    assert "non-finite logits" in err[-1] and err[-1].startswith("generate: model 'nan'")
    assert not any("Traceback" in line for line in err)
    assert out == [] and not list((tmp_path / "out").glob("*.mid"))


# --- conditioned models given no control -----------------------------------------------------------------
def _expected_file(model_path: Path, control: np.ndarray, path: Path) -> bytes:
    model = PerformanceModel.load(model_path)
    primer = default_primer(model.info.vocab)
    events = generate_events(model, primer, SECONDS, DEFAULT_TEMPERATURE, sampler=Sampler(1), control=control,
                             note_min_p=DEFAULT_NOTE_MIN_P)  # (what perfjam generate plays by default)
    events_to_midi(events, model.info.vocab).save(str(path))
    return path.read_bytes()


def test_generate_without_controls_plays_freely_on_a_model_with_the_no_control_flag(tmp_path, models, capsys):
    rc, out, _ = _generate(capsys, models["free"], tmp_path / "out")
    assert rc == 0
    written = Path(out[0]).read_bytes()
    assert written == _expected_file(models["free"], no_control_vector(), tmp_path / "free.mid")
    assert written != _expected_file(models["free"], control_vector(8.0), tmp_path / "dense.mid")


def test_generate_without_controls_asks_a_legacy_model_for_the_old_default(tmp_path, models, capsys):
    rc, out, _ = _generate(capsys, models["legacy"], tmp_path / "out")
    assert rc == 0
    old_default = control_vector(8.0, None, LEGACY_CONTROL_SIZE)  # 8 notes/s, any pitch class
    assert Path(out[0]).read_bytes() == _expected_file(models["legacy"], old_default, tmp_path / "l.mid")
