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
from perfjam.codec.midifile import events_to_midi
from perfjam.controls import (
    CONTROL_SIZE,
    LEGACY_CONTROL_SIZE,
    control_vector,
    no_control_vector,
    request_vector,
    scale_histogram,
)
from perfjam.generation import default_primer, generate_events
from perfjam.model import PerformanceModel, Sampler
from perfjam.stats import LONG_NOTE_S
from perfjam.synth import SHIPPED_SOUNDFONT

pytest.importorskip("torch")
from training import listen  # noqa: E402  (after the torch skip: listen reads data with training.prepare)
from training.export_onnx import export_checkpoint, write_random_checkpoint  # noqa: E402
from training.model import ModelConfig  # noqa: E402
from training.prepare import Source, write_prepared  # noqa: E402
from training.sample_stats import CHECKS, NOTE_STATS, STATS  # noqa: E402

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


def test_cli_writes_midi_wav_png_and_summary(tmp_path, models, data_dir, capsys):
    out = tmp_path / "report"
    argv = ["--model", str(models["tiny"]), "--model", str(models["tinyc"]), "--out", str(out),
            "--samples", "2", "--seconds", "5", "--seed", "3", "--data-dir", str(data_dir),
            "--density", "2", "8", "--key", "D", "--scale", "major",
            "--sweep", "2", "16", "--sweep-seconds", "2", "--sweep-samples", "1",
            "--soundfont", str(SHIPPED_SOUNDFONT)]
    assert listen.main(argv) == 0

    stems = ["tiny-01", "tiny-02", "tinyc-01", "tinyc-02", "tinyc-d2-01", "tinyc-d2-02", "tinyc-d8-01",
             "tinyc-d8-02"]
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
    assert set(plain_set["checks"]) == set(CHECKS)
    assert plain_set["checks"]["silences"]["data_rate"] == 0.0
    # each statistic's overlap with the data and verdict; the data is one octave of even 0.2-s notes
    assert set(plain_set["comparison"]) == {*STATS, *NOTE_STATS}
    span = plain_set["comparison"]["pitch_span"]
    assert (span["per"], span["bins"], span["overlap"], span["passes"]) == ("segment", 2, 0.0, False)
    durations = plain_set["comparison"]["duration_s"]
    assert durations["per"] == "note" and durations["data_p5"] == durations["data_p95"] == pytest.approx(0.2)
    assert all(0.0 <= r["overlap"] <= 1.0 and 0.0 <= r["overlap_if_perfect"] <= 1.0
               for r in plain_set["comparison"].values())
    assert plain_set["passes"] is False and any(f.startswith("pitch_span:") for f in plain_set["failed"])
    forced = plain_set["forced_release"]
    assert forced["of"] == sum(r["stats"]["notes"] for r in plain_set["samples"]) and forced["notes"] >= 0
    assert (plain_set["control"], plain_set["control_vector"]) == (None, None)

    assert [s["control"] for s in conditioned["sets"]] == [
        {"free": True, "no_control": True},
        {"free": False, "no_control": False, "density": 2.0, "key": "D", "scale": "major"},
        {"free": False, "no_control": False, "density": 8.0, "key": "D", "scale": "major"}]
    assert conditioned["sets"][0]["control_vector"] == no_control_vector().tolist()
    assert conditioned["sets"][1]["control_vector"] == pytest.approx(  # asked as the app asks
        request_vector(2.0, scale_histogram("D", "major")).tolist(), abs=1e-4)
    sweep = conditioned["density_sweep"]
    assert [(r["requested"], r["bin"]) for r in sweep] == [(2.0, [2.0, 4.0]), (16.0, [16.0, 32.0])]
    assert all(len(r["per_sample"]) == 1 and r["achieved"] >= 0 for r in sweep)
    assert isinstance(conditioned["density_monotonic"], bool)
    assert [r["key"] for r in conditioned["scale"]] == ["C", "F#"]
    assert all(0.0 <= r["in_scale"] <= 1.0 and r["chance"] == round(7 / 12, 4) for r in conditioned["scale"])
    assert "density_sweep" not in plain

    markdown = (out / "summary.md").read_text()
    for text in ("## tiny", "## tinyc", "### Density sweep", "![tiny-01](tiny-01.png)", "pitch_span",
                 "### free play (no control)", "| overlap | perfect model | passes |", "forced release"):
        assert text in markdown
    printed = capsys.readouterr().out
    assert "tinyc · free play (no control): does not pass: " in printed and "| overlap | passes |" in printed


def test_a_conditioned_model_plays_freely_unless_a_density_is_given(tmp_path, models):
    out = tmp_path / "report"
    argv = ["--model", str(models["tinyc"]), "--out", str(out), "--samples", "1", "--seconds", "2",
            "--data-dir", str(tmp_path / "missing"), "--sweep-samples", "0",
            "--soundfont", str(SHIPPED_SOUNDFONT)]
    assert listen.main(argv) == 0
    [free] = json.loads((out / "summary.json").read_text())["models"][0]["sets"]
    assert (free["label"], free["control"]) == ("free play (no control)", {"free": True, "no_control": True})
    assert free["control_vector"] == no_control_vector().tolist()
    assert sorted(p.name for p in out.glob("*.mid")) == ["tinyc-01.mid"]
    # the sample is the model's free play: the same events as sampling with the no-control vector
    model = PerformanceModel.load(models["tinyc"])
    sample = listen.sample_performance(model, 2.0, seed=0, control=no_control_vector())
    events_to_midi(sample.events, model.info.vocab).save(str(tmp_path / "again.mid"))
    assert (out / "tinyc-01.mid").read_bytes() == (tmp_path / "again.mid").read_bytes()


def test_free_play_of_a_model_without_the_flag_is_the_old_default():
    [(label, infix, settings, vector)] = listen.sample_sets(LEGACY_CONTROL_SIZE, None, "C", "chromatic")
    assert (infix, settings["free"], settings["no_control"], settings["density"]) == ("", True, False, 8.0)
    assert "free play" in label and vector.tolist() == control_vector(8.0, None, LEGACY_CONTROL_SIZE).tolist()
    sets = listen.sample_sets(CONTROL_SIZE, [4.0], "Eb", "minor")
    assert [s[1] for s in sets] == ["", "d4-"] and sets[0][3].tolist() == no_control_vector().tolist()
    assert sets[1][3].tolist() == request_vector(4.0, scale_histogram("Eb", "minor")).tolist()
    assert listen.sample_sets(0, [4.0], "C", "chromatic") == [("default primer, no controls", "", None, None)]


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


# ----------------------------------------------------------------------------- scale and piano roll


def _line(pitches, step_s: float = 0.1, start_s: float = 0.0, length_s: float = 0.08) -> list[Note]:
    return [Note(p, 80, start_s + i * step_s, start_s + i * step_s + length_s) for i, p in enumerate(pitches)]


def test_scale_share_counts_the_notes_in_the_scale():
    assert listen.scale_share(_line([60, 61, 62, 66]), "C", "major") == 0.5
    assert listen.scale_share(_line([66, 61]), "F#", "major") == 1.0


def test_render_piano_roll(tmp_path):
    notes = _line([21, 60, 61, 108]) + [Note(64, 1, 0.0, 3.0), Note(65, 127, 1.0, 2.0)]
    path = listen.render_piano_roll(notes, tmp_path / "roll.png", "title · 4 notes/s")
    width, height = _png_size(path)
    assert width > 600 and height > 300
    listen.render_piano_roll([], tmp_path / "empty.png", "nothing")  # no notes: still a picture
    assert _png_size(tmp_path / "empty.png")[0] > 600
