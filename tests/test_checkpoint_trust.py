"""Checkpoints are data, never code: a pickled call in a .pt file is refused by export, evaluate,
the step-latency benchmark's loader and --init-from (it never runs), older checkpoints still load,
a truncated last.pt resumes from best.pt, and Ctrl-C stops training without a traceback."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from test_training_runs import FAST, prepared  # noqa: E402, F401 - the prepared data fixture

from training import evaluate as evaluate_cli  # noqa: E402
from training import export_onnx  # noqa: E402
from training.checkpoint import CheckpointError, load_init_weights  # noqa: E402
from training.export_onnx import load_checkpoint, write_random_checkpoint  # noqa: E402
from training.model import ModelConfig, PerformanceRNN  # noqa: E402
from training.train import run_command  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ModelConfig(embedding=8, layers=1, hidden=16)


class _Payload:
    """What an attacker pickles: loading it would run ``os.system``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A real checkpoint (config, weights) with a pickled ``os.system`` beside them."""
    model = PerformanceRNN(CONFIG)
    torch.save({"config": CONFIG.to_dict(), "model": model.state_dict(), "step": 0,
                "extra": _Payload(f"touch {marker}")}, path)
    return path


def test_a_checkpoint_with_a_pickled_call_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = malicious_checkpoint(tmp_path / "evil.pt", marker)

    assert export_onnx.main(["--checkpoint", str(evil), "--out", str(tmp_path / "e.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"export_onnx: {evil}: refused") and "posix.system" in err and "\n" not in err
    args = ["--model", str(evil), "--midi-dir", str(tmp_path), "--split-csv", str(tmp_path / "none.csv")]
    assert evaluate_cli.main(args) == 2
    assert "refused" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(evil)  # what benchmarks/step_latency.py loads a .pt with
    with pytest.raises(CheckpointError, match="refused"):
        load_init_weights(str(evil), PerformanceRNN(CONFIG))  # --init-from
    assert not marker.exists(), "the pickled call ran"
    assert not (tmp_path / "e.onnx").exists()


def test_an_older_checkpoint_with_numpy_rng_state_and_namespace_arguments_still_loads(tmp_path):
    model = PerformanceRNN(CONFIG)
    path = tmp_path / "old.pt"
    torch.save({"config": CONFIG.to_dict(), "model": model.state_dict(), "step": 7,
                "rng": {"numpy": np.random.get_state()},
                "train_args": argparse.Namespace(grammar_loss=True, lr=1e-3)}, path)
    loaded, checkpoint = load_checkpoint(path)
    assert checkpoint["step"] == 7 and checkpoint["train_args"].grammar_loss is True
    assert torch.equal(loaded.head.weight, model.head.weight)
    assert load_init_weights(str(path), PerformanceRNN(CONFIG))["step"] == 7


def test_a_truncated_checkpoint_is_one_line(tmp_path):
    path = write_random_checkpoint(tmp_path / "whole.pt", CONFIG)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as caught:
        load_checkpoint(cut)
    assert "\n" not in str(caught.value)


def test_resume_from_a_truncated_last_pt_falls_back_to_best_pt_and_says_so(prepared, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "run"
    common = ["--data", str(prepared), "--out", str(out), *FAST, "--max-steps", "12", "--eval-every", "3"]
    assert run_command([*common, "--run-steps", "6"]) == 0
    last = out / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a save cut short (disk full, crash)
    capsys.readouterr()

    assert run_command([*common, "--run-steps", "3", "--resume"]) == 0
    said = capsys.readouterr().out
    assert f"resume: {last}: not a readable checkpoint" in said and f"resuming from {out / 'best.pt'}" in said
    assert torch.load(last, weights_only=True)["step"] > 3

    (out / "best.pt").write_bytes(b"")
    last.write_bytes(b"PK\x03\x04 cut")
    assert run_command([*common, "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"train: {last}: not a readable checkpoint") and "\n" not in err


def test_ctrl_c_stops_training_without_a_traceback(prepared, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    command = [sys.executable, "-m", "training.train", "--data", str(prepared), "--out", str(out), *FAST,
               "--max-steps", "1000000", "--eval-every", "5"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists():  # training is under way: it saved at step 5
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"train: interrupted; --resume continues from {out / 'last.pt'}" in stderr
