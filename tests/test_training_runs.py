"""Training runs: budgets and the schedule, validation prefixes, resume changes, warm starts,
optional conditioning and the grammar-masked loss (tiny models on synthetic data, CPU)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_training import TINY, read_log, write_performance
from test_training_data import random_notes

from perfjam.codec.events import VOCAB_DYNAMICS, encode_notes
from perfjam.controls import (
    CONTROL_SIZE,
    LEGACY_CONTROL_SIZE,
    NO_CONTROL_INDEX,
    control_vector,
    fit_control,
    no_control_vector,
)
from training.checkpoint import load_init_weights, resume_changes
from training.dataset import DataConfig, TrainingExamples, batch_rng
from training.export_onnx import build_metadata, export_checkpoint, load_checkpoint
from training.model import ModelConfig, PerformanceRNN
from training.prepare import main as prepare_main
from training.schedule import Schedule
from training.train import main as train_main

FAST = [*TINY, "--dropout", "0.0", "--eval-events", "40", "--warmup-steps", "4", "--lr", "1e-2"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Synthetic performances (as in test_training): 3 training pieces, 1 validation piece, 2 takes each."""
    midi_dir = tmp_path_factory.mktemp("midi")
    rows = ["midi_performance,composer,title,split"]
    for piece, split in enumerate(("train", "train", "train", "validation", "test")):
        for take in range(2):
            file = f"Composer{piece}/Piece{piece}/take{take}.mid"
            write_performance(midi_dir / file, seed=10 * piece + take)
            rows.append(f"{file},Composer{piece},Piece{piece},{split}")
    (midi_dir / "split.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path_factory.mktemp("data") / "tiny"
    prepare_main(["--midi-dir", str(midi_dir), "--split-csv", str(midi_dir / "split.csv"), "--out", str(out),
                  "--workers", "1"])
    return out


def test_schedule_is_the_old_step_schedule_and_follows_the_first_budget_to_end():
    steps = Schedule(1e-3, warmup_steps=10, min_ratio=0.1, max_steps=110)
    assert steps.factor(0, steps.progress(0, 0, 0.0)) == pytest.approx(0.1)  # warm-up: (step + 1) / 10
    assert steps.factor(60, steps.progress(60, 0, 0.0)) == pytest.approx(0.1 + 0.9 * 0.5)  # cosine midpoint
    assert steps.factor(110, steps.progress(110, 0, 0.0)) == pytest.approx(0.1)
    timed = Schedule(1e-3, 10, 0.1, max_steps=10_000, max_s=1000.0, reserve_s=100.0)
    assert timed.progress(50, 0, 450.0) == pytest.approx(0.5)  # the time budget is ahead of the steps
    assert timed.lr_at(50, 0, 900.0) == pytest.approx(1e-4)  # minimum when the training time is spent
    assert timed.time_over(850.0, 49.0) == "" and timed.time_over(850.0, 51.0).startswith("time budget")
    tokens = Schedule(1e-3, 10, 0.1, max_steps=10_000, max_tokens=5000)
    assert tokens.progress(20, 2500, 1e9) == pytest.approx(0.5) and tokens.budget_over(20, 5000)


def test_a_token_budget_ends_the_run_at_the_minimum_lr_and_scores_the_whole_files(prepared, tmp_path):
    result = train_main(["--data", str(prepared), "--out", str(tmp_path / "t"), *FAST,
                         "--max-tokens", str(30 * 8 * 64), "--eval-every", "10"])
    assert result["step"] == 30 and result["stop_reason"].startswith("max_tokens")
    rows = read_log(tmp_path / "t")
    assert float(rows[-1]["progress"]) == 1.0 and float(rows[-1]["lr"]) < 1.05e-3  # 1e-2 x cos(29/30)
    best = torch.load(tmp_path / "t" / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "t" / "last.pt", weights_only=True)
    assert best["best_val_scope"]["events_per_file"] == 40 and best["best_val_scope"]["files"] == 2
    assert last["val_full_scope"]["events_per_file"] == "all" and math.isfinite(last["val_nll_full"])
    assert [r["val_nll_full"] != "" for r in rows if r["val_nll"]] == [False, False, True]
    model, checkpoint = load_checkpoint(tmp_path / "t" / "last.pt")
    metadata = build_metadata(model, checkpoint, "t")
    assert metadata["val_nll"] == repr(last["val_nll_full"]) and "whole files" in metadata["val_scope"]


def test_a_time_budget_stops_in_time_with_the_lr_at_its_minimum(prepared, tmp_path):
    budget_s = 12.0  # of which 5 s are kept for the final evaluation and save
    result = train_main(["--data", str(prepared), "--out", str(tmp_path / "m"), *FAST,
                         "--max-minutes", str(budget_s / 60), "--eval-every", "100000"])
    assert result["stop_reason"].startswith("time budget")
    last = torch.load(tmp_path / "m" / "last.pt", weights_only=True)
    assert last["elapsed_s"] <= budget_s + 0.5 and math.isfinite(last["val_nll_full"])
    assert last["scheduler"]["progress"] > 0.97 and last["scheduler"]["lr"] < 1.1e-3
    again = train_main(["--data", str(prepared), "--out", str(tmp_path / "m"), *FAST,
                        "--max-minutes", str(budget_s / 60), "--eval-every", "100000", "--resume"])
    assert again["step"] == result["step"]  # the budget is the run's: nothing left to train


def test_resume_prints_and_applies_changes_and_refuses_another_architecture(prepared, tmp_path, capsys):
    common = ["--data", str(prepared), "--out", str(tmp_path / "r"), *FAST, "--max-steps", "12",
              "--eval-every", "100"]
    train_main([*common, "--run-steps", "6"])
    train_main([*common, "--run-steps", "3", "--resume", "--lr", "2e-3", "--weight-decay", "0.1"])
    out = capsys.readouterr().out
    assert "--lr 0.01 -> 0.002" in out and "--weight-decay 0.01 -> 0.1" in out and "run-steps" not in out
    last = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert last["optimizer"]["param_groups"][0]["weight_decay"] == 0.1
    assert last["optimizer"]["param_groups"][0]["lr"] < 2e-3
    with pytest.raises(ValueError, match="--hidden 32"):
        train_main([*common, "--resume", "--hidden", "48"])
    assert resume_changes({"lr": 1.0, "threads": 2}, {"lr": 1.0, "threads": 1}) == []


def test_init_from_a_checkpoint_or_an_exported_model_loads_the_weights(prepared, tmp_path):
    torch.manual_seed(3)
    source = PerformanceRNN(ModelConfig(embedding=16, layers=1, hidden=32, control_size=LEGACY_CONTROL_SIZE))
    pt = tmp_path / "source.pt"
    torch.save({"config": source.config.to_dict(), "model": source.state_dict(), "step": 7}, pt)
    onnx = export_checkpoint(pt, tmp_path / "source.onnx", int8=True)
    target_config = ModelConfig(embedding=16, layers=1, hidden=32, control_size=CONTROL_SIZE)
    tokens = torch.randint(0, 388, (2, 20))
    controls = torch.from_numpy(np.tile(control_vector(3.0), (2, 20, 1)))
    with torch.no_grad():
        want = source.eval()(tokens, controls)[0]  # the 21-wide controls, as a legacy model takes them
        for path, tolerance in ((pt, 1e-6), (onnx.path, 1e-5), (onnx.int8_path, 0.1)):
            model = PerformanceRNN(target_config).eval()
            info = load_init_weights(str(path), model)
            assert info["control_size"] == LEGACY_CONTROL_SIZE
            assert float((model(tokens, controls)[0] - want).abs().max()) < tolerance, path
    with pytest.raises(ValueError, match="hidden 32"):
        load_init_weights(str(pt), PerformanceRNN(ModelConfig(embedding=16, layers=1, hidden=24)))
    result = train_main(["--data", str(prepared), "--out", str(tmp_path / "w"), *FAST, "--controls",
                         "--max-steps", "2", "--eval-every", "100", "--init-from", str(onnx.path)])
    last = torch.load(tmp_path / "w" / "last.pt", weights_only=True)
    assert result["step"] == 2 and last["init_from"]["kind"] == "onnx"


def test_no_control_vectors_and_old_models():
    free = no_control_vector()
    assert free.shape == (CONTROL_SIZE,) and free[NO_CONTROL_INDEX] == 1 and free.sum() == 1
    assert control_vector(3.0)[NO_CONTROL_INDEX] == 0 and control_vector(3.0, control_size=20).shape == (20,)
    legacy = control_vector(3.0, None, LEGACY_CONTROL_SIZE)
    assert np.array_equal(fit_control(control_vector(3.0), LEGACY_CONTROL_SIZE), legacy)
    assert np.array_equal(fit_control(free, LEGACY_CONTROL_SIZE), no_control_vector(LEGACY_CONTROL_SIZE))
    assert np.array_equal(fit_control(free, CONTROL_SIZE), free)


def _examples(config: DataConfig) -> TrainingExamples:
    files = [np.array(encode_notes(random_notes(seed, 300), VOCAB_DYNAMICS), np.uint16) for seed in (0, 1)]
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in files])])
    return TrainingExamples(np.concatenate(files), offsets, VOCAB_DYNAMICS, config)


def test_a_fraction_of_the_examples_gets_the_no_control_vector():
    examples = _examples(DataConfig(seq_len=64, controls=True, no_control_fraction=0.5))
    batch = examples.batch(64, batch_rng(0, 0, 0))
    free = batch.controls[:, 0, NO_CONTROL_INDEX] == 1
    assert 16 < free.sum() < 48
    assert np.all(batch.controls[free] == no_control_vector())
    assert np.all(batch.controls[~free][..., NO_CONTROL_INDEX] == 0)


def test_grammar_masks_are_aligned_with_the_targets():
    batch = _examples(DataConfig(seq_len=64, grammar=True)).batch(8, batch_rng(0, 0, 1))
    assert batch.masks.shape == (8, 64, VOCAB_DYNAMICS.size) and batch.grammar_forced == 0
    targets = batch.tokens[:, 1:]
    assert np.take_along_axis(batch.masks, targets[..., None], -1).all()
    assert not batch.masks.all(axis=-1).all()  # the grammar excludes something


def test_a_conditioned_grammar_loss_run_records_its_scores(prepared, tmp_path):
    train_main(["--data", str(prepared), "--out", str(tmp_path / "g"), *FAST, "--controls", "--grammar-loss",
                "--max-steps", "3", "--eval-every", "3"])
    last = torch.load(tmp_path / "g" / "last.pt", weights_only=True)
    assert last["config"]["control_size"] == CONTROL_SIZE and last["train_args"]["grammar_loss"]
    assert math.isfinite(last["val_nll_grammar"]) and math.isfinite(last["val_nll_free"])
    assert last["best_val_nll"] == last["val_nll_grammar"]  # a grammar-loss run is judged on that
    assert read_log(tmp_path / "g")[-1]["grammar_forced"] == "0"


def test_the_benchmark_s_cell_loop_matches_nn_lstm():
    from benchmarks.train_throughput import cell_loop_difference

    assert cell_loop_difference(2, 16, 8) < 1e-5
