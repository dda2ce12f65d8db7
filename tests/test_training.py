"""Training end to end on CPU: prepare synthetic MIDI, train a tiny model, resume, evaluate, DDP."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import torch

from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS
from perfjam.codec.midifile import encode_midi
from perfjam.controls import CONTROL_SIZE
from training.evaluate_lib import stream_nll
from training.model import ModelConfig, PerformanceRNN
from training.prepare import hash_split, load_index, load_prepared, split_entries, split_files
from training.prepare import main as prepare_main
from training.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
ASAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "asap"
TINY = ["--layers", "1", "--hidden", "32", "--embedding", "16", "--dropout", "0.1", "--device", "cpu",
        "--threads", "1", "--batch-size", "8", "--seq-len", "64", "--example", "events", "--log-every", "5"]
CHECKPOINT_KEYS = {"config", "model", "optimizer", "scheduler", "step", "epoch", "tokens_seen",
                   "best_val_nll", "val_nll", "rng", "train_args"}


def write_performance(path: Path, seed: int) -> None:
    """Scales and pedalled chords in a random key, tempo and dynamics (1 tick = 1 ms)."""
    rng = np.random.default_rng(seed)
    tonic, beat_ms = 48 + int(rng.integers(0, 12)), int(rng.integers(120, 260))
    messages: list[tuple[int, mido.Message]] = []  # (absolute ms, message)
    t = 0
    for _ in range(3):
        for degree in [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2, 0]:  # a major scale up and down
            velocity = int(rng.integers(40, 110))
            messages.append((t, mido.Message("note_on", note=tonic + 12 + degree, velocity=velocity)))
            messages.append((t + beat_ms - 20, mido.Message("note_off", note=tonic + 12 + degree)))
            t += beat_ms
        for chord in ([0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]):  # I IV V I, pedalled
            messages.append((t, mido.Message("control_change", control=64, value=127)))
            for offset in chord:
                messages.append((t + 5, mido.Message("note_on", note=tonic + offset, velocity=70)))
                messages.append((t + beat_ms, mido.Message("note_off", note=tonic + offset)))
            messages.append((t + 3 * beat_ms, mido.Message("control_change", control=64, value=0)))
            t += 4 * beat_ms
    midi = mido.MidiFile(type=0, ticks_per_beat=500)
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)])
    now = 0
    for when, message in sorted(messages, key=lambda m: m[0]):
        track.append(message.copy(time=when - now))
        now = when
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)


@pytest.fixture(scope="module")
def synthetic_midi(tmp_path_factory) -> tuple[Path, Path]:
    """8 pieces x 2 performances, a garbage .mid and an empty (valid) .mid, and a split CSV."""
    midi_dir = tmp_path_factory.mktemp("midi")
    rows = ["midi_performance,composer,title,split"]
    for piece in range(8):
        split = "validation" if piece == 6 else "test" if piece == 7 else "train"
        for take in range(2):
            file = f"Composer{piece}/Piece{piece}/take{take}.mid"
            write_performance(midi_dir / file, seed=10 * piece + take)
            rows.append(f"{file},Composer{piece},Piece{piece},{split}")
    (midi_dir / "Broken" / "garbage.mid").parent.mkdir()
    (midi_dir / "Broken" / "garbage.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage, not a MIDI file")
    empty = mido.MidiFile(ticks_per_beat=500)
    empty.tracks.append(mido.MidiTrack([mido.MetaMessage("end_of_track", time=0)]))
    empty.save(midi_dir / "Broken" / "empty.mid")
    rows += ["Broken/garbage.mid,Broken,Garbage,train", "Broken/empty.mid,Broken,Empty,train"]
    split_csv = midi_dir / "split.csv"
    split_csv.write_text("\n".join(rows) + "\n")
    return midi_dir, split_csv


@pytest.fixture(scope="module")
def prepared(synthetic_midi, tmp_path_factory) -> Path:
    midi_dir, split_csv = synthetic_midi
    out = tmp_path_factory.mktemp("data") / "tiny"
    prepare_main(["--midi-dir", str(midi_dir), "--split-csv", str(split_csv), "--out", str(out),
                  "--workers", "2"])
    return out


def test_prepare_encodes_every_file_and_skips_broken_ones(prepared, synthetic_midi):
    midi_dir, _ = synthetic_midi
    index = load_index(prepared)
    assert index["vocabs"] == ["dynamics", "nodynamics"]
    assert {s["file"]: s["reason"].split(":")[0] for s in index["skipped"]} == {
        "Broken/empty.mid": "no notes", "Broken/garbage.mid": "unreadable MIDI"}
    assert len(index["files"]) == 16
    for split in ("train", "validation", "test"):
        for vocab in (VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS):
            files = split_files(*load_prepared(prepared, split, vocab.name))
            entries = split_entries(index, split)
            assert len(files) == len(entries) > 0
            for entry, tokens in zip(entries, files, strict=True):
                assert tokens.dtype == np.uint16 and len(tokens) == entry[f"events_{vocab.name}"]
                assert tokens.tolist() == encode_midi(midi_dir / entry["file"], vocab)


def test_split_without_csv_is_by_piece_and_deterministic(synthetic_midi, tmp_path, capsys):
    midi_dir, _ = synthetic_midi
    index = prepare_main(["--midi-dir", str(midi_dir), "--out", str(tmp_path / "d"), "--workers", "1",
                          "--vocab", "nodynamics"])
    assert "skipped       2 files" in capsys.readouterr().out
    split_of_piece: dict[str, set[str]] = {}
    for entry in index["files"]:
        assert entry["piece"] == str(Path(entry["file"]).parent)
        split_of_piece.setdefault(entry["piece"], set()).add(entry["split"])
    assert all(len(splits) == 1 for splits in split_of_piece.values())
    splits = [hash_split(f"Composer/Piece{i}") for i in range(2000)]
    assert [hash_split(f"Composer/Piece{i}") for i in range(2000)] == splits
    fractions = [splits.count(s) / len(splits) for s in ("train", "validation", "test")]
    assert fractions == pytest.approx([0.8, 0.1, 0.1], abs=0.03)


def read_log(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_tiny_model_learns_and_keeps_its_best_checkpoint(prepared, tmp_path):
    run = tmp_path / "run"
    result = train_main(["--data", str(prepared), "--out", str(run), *TINY, "--lr", "1e-2",
                         "--warmup-steps", "10", "--max-steps", "100", "--eval-every", "50"])
    rows = read_log(run)
    losses = [float(r["train_loss"]) for r in rows if r["train_loss"]]
    assert losses[0] > 5.0  # about ln(388) at the start
    assert losses[-1] < losses[0] - 1.5  # measured: 5.96 -> 3.78 nats
    vals = [float(r["val_nll"]) for r in rows if r["val_nll"]]
    assert len(vals) == 2 and all(np.isfinite(vals)) and vals[-1] < losses[0]
    assert {"step", "tokens", "lr", "tokens_per_s", "elapsed_s"} <= set(rows[0])
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())

    best = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    assert CHECKPOINT_KEYS <= set(best)
    assert best["best_val_nll"] == pytest.approx(min(vals)) and result["best_val_nll"] == best["best_val_nll"]
    model = PerformanceRNN(ModelConfig.from_dict(best["config"]))
    model.load_state_dict(best["model"])
    assert model.config.vocab == "dynamics" and model.config.hidden == 32
    last = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert last["step"] == 100 and last["tokens_seen"] == int(rows[-1]["tokens"])


def test_resume_continues_exactly(prepared, tmp_path):
    common = ["--data", str(prepared), *TINY, "--max-steps", "16", "--warmup-steps", "4",
              "--eval-every", "100"]
    whole = train_main([*common, "--out", str(tmp_path / "whole")])
    first = train_main([*common, "--out", str(tmp_path / "split"), "--run-steps", "8"])
    assert first["step"] == 8
    resumed = train_main([*common, "--out", str(tmp_path / "split"), "--resume"])
    assert resumed["step"] == 16 and resumed["train_loss"] == whole["train_loss"]
    assert resumed["tokens_seen"] == whole["tokens_seen"]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [int(r["step"]) for r in read_log(tmp_path / "split")] == [5, 8, 10, 15, 16]


def test_stream_nll_equals_stepping_the_model_event_by_event():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    for control_size in (0, 20):
        model = PerformanceRNN(ModelConfig(embedding=8, layers=2, hidden=16, control_size=control_size))
        files = [rng.integers(0, 388, n) for n in (50, 7, 1, 33)]  # a 1-event file has nothing to score
        nll, events = stream_nll(model, files, "cpu", batch_files=3, chunk_len=10)
        assert events == 49 + 6 + 32
        _, controls_events = stream_nll(model, files, "cpu", batch_files=1, chunk_len=1000)
        model.eval()
        total = 0.0
        from perfjam.controls import controls_for_events

        with torch.no_grad():
            for tokens in files:
                controls = controls_for_events(tokens, VOCAB_DYNAMICS) if control_size else None
                h, c = model.zero_state(1)
                for i in range(len(tokens) - 1):
                    control = torch.from_numpy(controls[i + 1]) if control_size else None
                    logits, h, c = model.step(torch.tensor([int(tokens[i])]), h, c, control)
                    total -= float(torch.log_softmax(logits[0], -1)[tokens[i + 1]])
        assert nll == pytest.approx(total / events, rel=1e-5) and controls_events == events


def test_a_conditioned_model_trains(prepared, tmp_path):
    train_main(["--data", str(prepared), "--out", str(tmp_path / "c"), *TINY, "--controls",
                "--example", "time", "--window-s", "5", "--max-steps", "3", "--eval-every", "3",
                "--vocab", "nodynamics"])
    last = torch.load(tmp_path / "c" / "last.pt", weights_only=True)
    assert last["config"]["control_size"] == CONTROL_SIZE and last["config"]["vocab_size"] == 356
    assert np.isfinite(last["val_nll"])


def test_torchrun_ddp_on_cpu(prepared, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "training.train",
         "--data", str(prepared), "--out", str(run), *TINY, "--max-steps", "4", "--eval-every", "4"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = torch.load(run / "last.pt", weights_only=True)
    assert last["step"] == 4
    rows = read_log(run)
    # Tokens of both ranks are counted: two batches of 8 rows x 64 targets per step.
    assert int(rows[-1]["tokens"]) == 4 * 2 * 8 * 64


def test_plot_curve_writes_a_png(prepared, tmp_path):
    from training.plot_curve import plot_curve

    train_main(["--data", str(prepared), "--out", str(tmp_path / "p"), *TINY, "--max-steps", "10",
                "--eval-every", "5"])
    png = plot_curve(tmp_path / "p" / "log.csv", tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not ASAP.is_dir(), reason=f"ASAP data not found at {ASAP}")
def test_prepare_real_asap_files(tmp_path):
    midi_dir = tmp_path / "asap"
    for file in sorted(ASAP.rglob("*.mid"))[:3]:  # linked, never copied
        link = midi_dir / file.relative_to(ASAP)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(file)
    index = prepare_main(["--midi-dir", str(midi_dir), "--out", str(tmp_path / "d"), "--workers", "2"])
    assert len(index["files"]) == 3 and not index["skipped"]
    assert all(e["events_dynamics"] > e["events_nodynamics"] > 1000 for e in index["files"])
    shutil.rmtree(midi_dir)
