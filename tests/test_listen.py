"""training.listen: the listening report on tiny random models and prepared data, and its detectors."""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS, EventType, Note, encode_notes
from perfjam.controls import CONTROL_SIZE, control_vector
from perfjam.generate import default_primer, generate_events
from perfjam.model import PerformanceModel, Sampler
from perfjam.stats import LONG_NOTE_S
from perfjam.synth import SHIPPED_SOUNDFONT

pytest.importorskip("torch")
from training import listen  # noqa: E402  (after the torch skip: listen reads data with training.prepare)
from training.export_onnx import export_checkpoint, write_random_checkpoint  # noqa: E402
from training.model import ModelConfig  # noqa: E402
from training.prepare import Source, write_prepared  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("listen-models")
    configs = {
        "tiny": ModelConfig(embedding=16, layers=1, hidden=32),
        "tinyc": ModelConfig(embedding=16, layers=1, hidden=32, control_size=CONTROL_SIZE),
    }
    paths = {}
    for name, config in configs.items():
        checkpoint = write_random_checkpoint(root / f"{name}.pt", config, seed=2)
        paths[name] = export_checkpoint(checkpoint, root / f"{name}.onnx").path
    return paths


def _scale_run(seconds: float, notes_per_s: float = 4.0, length_s: float = 0.2) -> list[Note]:
    """An even stream of C-major scale notes, ``notes_per_s``, each ``length_s`` long."""
    steps = (0, 2, 4, 5, 7, 9, 11)
    count = int(seconds * notes_per_s)
    return [Note(60 + steps[i % 7], 64, i / notes_per_s, i / notes_per_s + length_s) for i in range(count)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A prepared data folder (training.prepare's format) whose test split holds two 21-s files."""
    out = tmp_path_factory.mktemp("listen-data")
    sources = [Source(f"{name}.mid", "test", name) for name in ("a", "b")]
    results = [{v.name: np.array(encode_notes(_scale_run(21.0), v), np.uint16)
                for v in (VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS)} for _ in sources]
    write_prepared(out, sources, results, ["dynamics", "nodynamics"], [])
    return out


# ----------------------------------------------------------------------------- the CLI


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_cli_writes_midi_wav_png_and_summary(tmp_path, models, data_dir):
    out = tmp_path / "report"
    argv = ["--model", str(models["tiny"]), "--model", str(models["tinyc"]), "--out", str(out),
            "--samples", "2", "--seconds", "5", "--seed", "3", "--data-dir", str(data_dir),
            "--density", "2", "8", "--key", "D", "--scale", "major",
            "--sweep", "2", "16", "--sweep-seconds", "2", "--sweep-samples", "1",
            "--soundfont", str(SHIPPED_SOUNDFONT)]
    assert listen.main(argv) == 0

    stems = ["tiny-01", "tiny-02", "tinyc-d2-01", "tinyc-d2-02", "tinyc-d8-01", "tinyc-d8-02"]
    for stem in stems:
        midi = mido.MidiFile(out / f"{stem}.mid")
        assert midi.length >= 5.0
        assert any(m.type == "note_on" and m.velocity > 0 for m in midi), f"{stem}.mid has no notes"
        with wave.open(str(out / f"{stem}.wav")) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), "<i2")
            assert w.getnchannels() == 2 and w.getframerate() == 44100
            assert w.getnframes() >= 5 * 44100
        assert np.abs(frames).max() > 100, f"{stem}.wav is silent"
        width, height = _png_size(out / f"{stem}.png")
        assert width > 600 and height > 300

    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"] == {"samples": 2, "seconds": 5.0, "temperature": 1.0, "seed": 3}
    plain, conditioned = summary["models"]
    assert (plain["model"], plain["vocab"], plain["control_size"]) == ("tiny", "dynamics", 0)
    assert conditioned["control_size"] == CONTROL_SIZE
    # two 21-s files -> four full 5-s segments each
    assert plain["data_segments"] == conditioned["data_segments"] == 8
    [plain_set] = plain["sets"]
    assert [r["name"] for r in plain_set["samples"]] == ["tiny-01", "tiny-02"]
    assert [r["seed"] for r in plain_set["samples"]] == [3, 4]
    assert all(r["wav_rms"] > 0 for r in plain_set["samples"])
    notes_per_s = plain_set["comparison"]["notes_per_s"]
    assert notes_per_s["data_p5"] == notes_per_s["data_p95"] == pytest.approx(20 / 4.95, abs=1e-3)
    assert len(notes_per_s["samples"]) == 2
    # a random model spans almost all 128 pitches; the data one octave
    assert plain_set["comparison"]["pitch_span"]["data_p50"] == 11
    assert "pitch_span" in plain_set["flags"]
    assert set(plain_set["checks"]) == set(listen.CHECKS)
    assert plain_set["checks"]["silences"]["data_rate"] == 0.0

    assert [s["control"] for s in conditioned["sets"]] == [
        {"density": 2.0, "key": "D", "scale": "major"}, {"density": 8.0, "key": "D", "scale": "major"}]
    sweep = conditioned["density_sweep"]
    assert [(r["requested"], r["bin"]) for r in sweep] == [(2.0, [2.0, 4.0]), (16.0, [16.0, 32.0])]
    assert all(len(r["per_sample"]) == 1 and r["achieved"] >= 0 for r in sweep)
    assert isinstance(conditioned["density_monotonic"], bool)
    assert [r["key"] for r in conditioned["scale"]] == ["C", "F#"]
    assert all(0.0 <= r["in_scale"] <= 1.0 and r["chance"] == round(7 / 12, 4) for r in conditioned["scale"])
    assert "density_sweep" not in plain

    markdown = (out / "summary.md").read_text()
    for text in ("## tiny", "## tinyc", "### Density sweep", "![tiny-01](tiny-01.png)", "pitch_span"):
        assert text in markdown


def test_cli_without_data_still_reports(tmp_path, models, capsys):
    out = tmp_path / "report"
    argv = ["--model", str(models["tiny"]), "--out", str(out), "--samples", "1", "--seconds", "2",
            "--data-dir", str(tmp_path / "missing"), "--soundfont", str(SHIPPED_SOUNDFONT)]
    assert listen.main(argv) == 0
    assert "no data to compare with" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert "no data" in summary["data"]["error"]
    [sample_set] = summary["models"][0]["sets"]
    assert sample_set["flags"] == [] and "data_p5" not in sample_set["comparison"]["notes_per_s"]
    assert (out / "tiny-01.wav").exists() and (out / "summary.md").exists()


def test_cli_rejects_a_missing_model(tmp_path, capsys):
    argv = ["--model", str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "r")]
    assert listen.main(argv) == 2
    assert "not found" in capsys.readouterr().err


# ----------------------------------------------------------------------------- generation


def test_release_tail_only_releases_and_keeps_the_continuation(models):
    model = PerformanceModel.load(models["tiny"])
    vocab = model.info.vocab
    sample = listen.sample_performance(model, 3.0, seed=7)
    plain = generate_events(model, default_primer(vocab), 3.0, sampler=Sampler(7))
    assert sample.events[: len(plain)] == plain and sample.seconds == pytest.approx(3.01)
    tail = sample.events[len(plain):]
    assert tail, "a random model leaves notes sounding at the cut"
    kinds = {vocab.event(e)[0] for e in tail}
    assert kinds <= {EventType.NOTE_OFF, EventType.TIME_SHIFT}
    tail_s = sum(vocab.event(e)[1] for e in tail if vocab.event(e)[0] == EventType.TIME_SHIFT) / 100
    assert tail_s <= LONG_NOTE_S
    assert sample.unclosed_notes == 0 or tail_s == LONG_NOTE_S  # the tail stops when all are released
    assert not [n for n in sample.notes if n.start_s > 3.01]  # no note starts in the tail


def test_density_sweep_needs_a_conditioned_model(models):
    with pytest.raises(ValueError, match="no controls"):
        listen.density_sweep(PerformanceModel.load(models["tiny"]), [2.0])
    rows = listen.density_sweep(PerformanceModel.load(models["tinyc"]), [1.0, 64.0], seconds=1.0, samples=2)
    assert [r["bin"] for r in rows] == [[1.0, 2.0], [64.0, float("inf")]]
    assert all(len(r["per_sample"]) == 2 for r in rows)


def test_conditioned_sample_uses_the_control(models):
    model = PerformanceModel.load(models["tinyc"])
    a = listen.sample_performance(model, 2.0, seed=1, control=control_vector(1.0), tail=False)
    b = listen.sample_performance(model, 2.0, seed=1, control=control_vector(32.0), tail=False)
    assert a.events != b.events


# ----------------------------------------------------------------------------- detectors


def _line(pitches, step_s: float = 0.1, start_s: float = 0.0, length_s: float = 0.08) -> list[Note]:
    return [Note(p, 80, start_s + i * step_s, start_s + i * step_s + length_s) for i, p in enumerate(pitches)]


def test_trill_runs_exact():
    trill = _line([60, 62] * 10)  # 20 notes: 19 alternations
    [run] = listen.trill_runs(trill, 16)
    assert (run.pitches, run.alternations, run.start_s) == ((60, 62), 19, 0.0)
    assert run.end_s == pytest.approx(1.9)
    assert listen.trill_runs(trill, 19) == []  # "more than N" is strict
    assert [r.alternations for r in listen.trill_runs(trill, 18)] == [19]


def test_trill_runs_split_share_a_note_and_ignore_chords():
    runs = listen.trill_runs(_line([60, 62, 60, 62, 64, 62, 64, 62]), 0)
    assert [(r.pitches, r.alternations) for r in runs] == [((60, 62), 3), ((62, 64), 4)]
    # a melody with a broken third: no run longer than two alternations
    assert max(r.alternations for r in listen.trill_runs(_line([60, 62, 64, 62, 60, 59, 57]), 0)) == 2
    # the same two-note chord struck 20 times is no trill (only the step from one chord to the next)
    dyads = [n for i in range(20) for n in _line([60, 62], step_s=0.0, start_s=0.2 * i)]
    assert {r.alternations for r in listen.trill_runs(dyads, 0)} == {1} and listen.trill_runs(dyads, 1) == []
    # a trill interrupted by another pitch: two runs, neither over 16
    broken = _line([60, 62] * 5 + [67] + [60, 62] * 5)
    assert listen.trill_runs(broken, 16) == []
    assert max(r.alternations for r in listen.trill_runs(broken, 0)) == 9
    assert listen.trill_runs([], 0) == [] and listen.trill_runs(_line([60]), 0) == []


def test_silences_exact():
    notes = [Note(60, 80, 0.0, 1.0), Note(64, 80, 0.5, 2.0), Note(67, 80, 6.0, 7.0), Note(72, 80, 7.5, 8.0)]
    assert listen.silences(notes) == [(2.0, 6.0)]
    assert listen.silences(notes, end_s=12.0) == [(2.0, 6.0), (8.0, 12.0)]
    assert listen.silences(notes, longer_than_s=0.4) == [(2.0, 6.0), (7.0, 7.5)]
    assert listen.silences(notes, longer_than_s=4.0) == []  # "longer than" is strict
    assert listen.silences([Note(60, 80, 4.0, 5.0)]) == [(0.0, 4.0)]  # a silent start counts
    assert listen.silences([Note(60, 80, 0.0, 1.0), Note(60, 80, 4.0, 5.0)]) == []  # exactly 3 s
    assert listen.silences([], end_s=5.0) == [(0.0, 5.0)]
    held = [Note(48, 80, 0.0, 20.0), Note(60, 80, 1.0, 1.5), Note(62, 80, 15.0, 16.0)]
    assert listen.silences(held) == []  # a held note covers the gap between the others


def test_describe_counts_what_sounds_broken():
    notes = _line([60, 62] * 10) + [Note(36, 80, 2.0, 2.0 + LONG_NOTE_S + 1.0)] + _line([70], start_s=17.0)
    stats = listen.describe(notes, unclosed=1, seconds=25.0)
    assert (stats["longest_trill"], stats["trills"]) == (19, 1)
    assert stats["longest_silence_s"] == pytest.approx(25.0 - 17.08)
    # silent from 13 s (the long note ends) to 17 s and after 17.08 s
    assert (stats["silences"], stats["long_notes"]) == (2, 1)
    assert (stats["unclosed_notes"], stats["stuck_notes"]) == (1, 2)
    assert listen.scale_share(_line([60, 61, 62, 66]), "C", "major") == 0.5
    assert listen.scale_share(_line([66, 61]), "F#", "major") == 1.0


def test_render_piano_roll(tmp_path):
    notes = _line([21, 60, 61, 108]) + [Note(64, 1, 0.0, 3.0), Note(65, 127, 1.0, 2.0)]
    path = listen.render_piano_roll(notes, tmp_path / "roll.png", "title · 4 notes/s")
    width, height = _png_size(path)
    assert width > 600 and height > 300
    listen.render_piano_roll([], tmp_path / "empty.png", "nothing")  # no notes: still a picture
    assert _png_size(tmp_path / "empty.png")[0] > 600
