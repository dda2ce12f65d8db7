"""Offline generation end to end on a tiny exported model: MIDI files, primers, seeds, WAV."""

from __future__ import annotations

import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from perfjam.cli import main
from perfjam.codec.events import STEPS_PER_SECOND, VOCAB_DYNAMICS, EventType, Note, encode_notes
from perfjam.codec.midifile import decode_events, encode_midi, notes_to_midi
from perfjam.controls import CONTROL_SIZE, control_vector, no_control_vector, request_vector
from perfjam.generation import (
    default_primer,
    generate_events,
    load_primer,
    primer_from_pitches,
    primer_requests,
)
from perfjam.model import PerformanceModel, Sampler
from perfjam.sampling import DEFAULT_NOTE_MIN_P, DEFAULT_TEMPERATURE
from perfjam.stats import performance_from_events, performance_stats

pytest.importorskip("torch")
from training.export_onnx import export_checkpoint, write_random_checkpoint  # noqa: E402
from training.model import ModelConfig  # noqa: E402

SECONDS = 6.0


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen-model")
    config = ModelConfig(embedding=16, layers=1, hidden=32)
    checkpoint = write_random_checkpoint(root / "tiny.pt", config, seed=2)
    return export_checkpoint(checkpoint, root / "tiny.onnx").path


@pytest.fixture(scope="module")
def conditioned_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gen-cond")
    config = ModelConfig(embedding=8, layers=1, hidden=16, control_size=CONTROL_SIZE)
    return export_checkpoint(write_random_checkpoint(root / "c.pt", config), root / "c.onnx").path


def _generate(out: Path, model: Path, *extra: str) -> list[Path]:
    argv = ["generate", "--model", str(model), "--seconds", str(SECONDS), "--out", str(out), *extra]
    assert main(argv) == 0
    return sorted(out.glob("*.mid"))


def _assert_notes_paired(midi: mido.MidiFile) -> None:
    for track in midi.tracks:
        sounding: set[int] = set()
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                assert msg.note not in sounding, f"note {msg.note} struck twice without a note-off"
                sounding.add(msg.note)
            elif msg.type in ("note_off", "note_on"):
                assert msg.note in sounding, f"note-off of silent note {msg.note}"
                sounding.remove(msg.note)
        assert not sounding, f"notes never closed: {sorted(sounding)}"


def test_cli_writes_n_playable_midi_files_starting_with_the_primer(tmp_path, model_path):
    extra = ("--primer-pitches", "60,64,67", "--num-outputs", "3", "--seed", "5")
    files = _generate(tmp_path, model_path, *extra)
    assert len(files) == 3
    for path in files:
        midi = mido.MidiFile(path)
        _assert_notes_paired(midi)
        # the primer chord lasts 0.5 s, then the continuation lasts exactly SECONDS
        assert midi.length == pytest.approx(0.5 + SECONDS, abs=0.02)
        ons = [(t, m.note) for t, m in _timed(midi) if m.type == "note_on" and m.velocity > 0]
        assert {note for t, note in ons if t == 0.0} == {60, 64, 67}


def _timed(midi: mido.MidiFile):
    now = 0.0
    for msg in midi:
        now += msg.time
        yield round(now, 3), msg


def test_cli_is_deterministic_with_a_seed(tmp_path, model_path):
    a = _generate(tmp_path / "a", model_path, "--num-outputs", "2", "--seed", "11", "--temperature", "0.9")
    b = _generate(tmp_path / "b", model_path, "--num-outputs", "2", "--seed", "11", "--temperature", "0.9")
    c = _generate(tmp_path / "c", model_path, "--num-outputs", "1", "--seed", "12", "--temperature", "0.9")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert a[0].read_bytes() != a[1].read_bytes()  # each output has its own seed
    assert c[0].read_bytes() != a[0].read_bytes()


def test_a_primer_is_continued_at_its_density_and_in_its_key_unless_told_not_to(tmp_path, conditioned_path):
    primer_path = tmp_path / "sparse-d-major.mid"
    d_major = [62, 66, 69, 74, 73, 71, 69, 66]
    notes_to_midi({"primer": [Note(p, 50, i * 0.5, i * 0.5 + 0.4) for i, p in enumerate(d_major)]}).save(
        str(primer_path))
    model = PerformanceModel.load(conditioned_path)
    primer = load_primer(primer_path, model.info.vocab)
    notes_per_s, histogram = primer_requests(decode_events(primer.events, model.info.vocab))
    assert notes_per_s == pytest.approx(2.0)
    assert {i for i, w in enumerate(histogram) if w > 0} == {2, 6, 9, 1, 11}  # D F# A C# B

    def written(*extra: str) -> bytes:
        (path,) = _generate(tmp_path / "-".join(extra or ("follow",)), conditioned_path, "--primer",
                            str(primer_path), "--seed", "4", *extra)
        return path.read_bytes()

    def expected(control) -> list[int]:
        return generate_events(model, primer.events, SECONDS, DEFAULT_TEMPERATURE, sampler=Sampler(4),
                               control=control, note_min_p=DEFAULT_NOTE_MIN_P)  # (the CLI's defaults)

    def encoded(data: bytes) -> list[int]:
        path = tmp_path / "read.mid"
        path.write_bytes(data)
        return encode_midi(path, model.info.vocab)

    def as_written(events: list[int]) -> list[int]:  # (a MIDI file keeps ms, not the events' 10 ms)
        return encode_notes(decode_events(events, model.info.vocab), model.info.vocab)

    followed = encoded(written())
    assert followed == as_written(expected(request_vector(2.0, histogram)))
    free = encoded(written("--no-follow-density", "--no-follow-key"))
    assert free == as_written(expected(no_control_vector()))
    assert free != followed


def test_cli_continues_a_primer_midi_file(tmp_path, model_path):
    primer = tmp_path / "primer.mid"
    notes = [Note(72, 90, 0.0, 0.4), Note(74, 90, 0.5, 0.9), Note(76, 90, 1.0, 1.5)]
    notes_to_midi({"primer": notes}).save(str(primer))
    (out,) = _generate(tmp_path / "out", model_path, "--primer", str(primer), "--seed", "1")
    midi = mido.MidiFile(out)
    assert midi.length == pytest.approx(1.5 + SECONDS, abs=0.02)
    ons = [(t, m.note) for t, m in _timed(midi) if m.type == "note_on" and m.velocity > 0]
    assert ons[:3] == [(0.0, 72), (0.5, 74), (1.0, 76)]


def test_cli_reports_a_missing_model(tmp_path, capsys):
    assert main(["generate", "--model", "no-such-model", "--out", str(tmp_path)]) == 2
    assert "no model named 'no-such-model'" in capsys.readouterr().err


def test_generate_events_stops_at_the_requested_time(model_path):
    model = PerformanceModel.load(model_path)
    primer = primer_from_pitches([48, 55], VOCAB_DYNAMICS)
    seen: list[float] = []
    events = generate_events(model, primer, 3.0, 1.2, 0.95, Sampler(3), progress=seen.append)
    assert events[: len(primer)] == primer
    shift0 = VOCAB_DYNAMICS.offsets[EventType.TIME_SHIFT]
    steps = sum(e - shift0 + 1 for e in events[len(primer) :] if shift0 <= e < shift0 + 100)
    assert steps == 3 * STEPS_PER_SECOND
    assert seen[-1] == 3.0 and seen == sorted(seen)
    greedy = [generate_events(model, primer, 1.0, 0.0) for _ in range(2)]
    assert greedy[0] == greedy[1]
    assert decode_events(events, VOCAB_DYNAMICS)[-1].end_s <= 0.5 + 3.0 + 0.01


def test_generate_events_feeds_the_control_of_a_conditioned_model(conditioned_path):
    model = PerformanceModel.load(conditioned_path)
    primer = default_primer(model.info.vocab)
    with pytest.raises(ValueError, match="conditioned"):
        generate_events(model, primer, 1.0)
    slow = generate_events(model, primer, 2.0, sampler=Sampler(0), control=control_vector(0.5))
    fast = generate_events(model, primer, 2.0, sampler=Sampler(0), control=control_vector(40.0))
    assert slow != fast


def test_sample_statistics_of_generated_events(model_path):
    model = PerformanceModel.load(model_path)
    events = generate_events(model, default_primer(model.info.vocab), 4.0, sampler=Sampler(1))
    stats = performance_stats([performance_from_events(events, model.info.vocab)])
    assert stats.performances == 1 and stats.duration_s <= 4.02
    assert stats.stuck_notes == stats.unclosed_notes + stats.long_notes
    assert stats.notes == 0 or 0 <= stats.pitch_min <= stats.pitch_max <= 127


def test_cli_renders_non_silent_wav(tmp_path, model_path):
    synth = pytest.importorskip("perfjam.synth", reason="perfjam.synth (FluidSynth rendering) not available")
    try:
        synth.find_soundfont()
    except synth.SynthError as exc:
        pytest.skip(f"no SoundFont: {exc}")
    _generate(tmp_path, model_path, "--primer-pitches", "60,64,67", "--seed", "3", "--wav")
    (wav_path,) = sorted(tmp_path.glob("*.wav"))
    with wave.open(str(wav_path)) as wav:
        frames = wav.readframes(wav.getnframes())
        assert wav.getnframes() / wav.getframerate() >= SECONDS
    assert np.abs(np.frombuffer(frames, np.int16)).max() > 100


def test_performance_stats_on_known_notes():
    from perfjam.stats import Performance

    chord = [Note(p, 80, 0.0, 1.0) for p in (60, 64, 67)]  # 3 notes at once for 1 s
    line = [Note(72, 40, 1.0 + 0.5 * i, 1.4 + 0.5 * i) for i in range(4)]  # then 4 notes, 0.5 s apart
    held = [Note(36, 60, 0.0, 12.0)]  # longer than LONG_NOTE_S
    stats = performance_stats([Performance(chord + line), Performance(held, unclosed_notes=2)])
    assert (stats.performances, stats.notes) == (2, 8)
    assert stats.duration_s == pytest.approx(2.9 + 12.0)
    assert stats.notes_per_s == pytest.approx(8 / 14.9)
    assert (stats.pitch_min, stats.pitch_max, stats.pitch_span) == (36, 72, 36)
    assert stats.velocity_mean == pytest.approx((3 * 80 + 4 * 40 + 60) / 8)
    assert stats.polyphony_max == 3  # the chord ends exactly when the line starts
    assert stats.polyphony_mean == pytest.approx((3.0 + 4 * 0.4 + 12.0) / 14.9)
    assert stats.ioi_median_s == pytest.approx(0.5)  # IOIs 1.0, 0.5, 0.5, 0.5
    assert stats.ioi_p90_s == pytest.approx(0.85)
    assert (stats.unclosed_notes, stats.long_notes, stats.stuck_notes) == (2, 1, 3)
    empty = performance_stats([])
    assert empty.notes == 0 and empty.pitch_min is None and empty.notes_per_s == 0.0
