"""Checkpoints: exact resume (RNG states, atomic saves), what a resume changes, and warm starts.

``--resume`` continues OUT/last.pt. The architecture must be the checkpoint's (a different one
is refused: the weights would not fit); every other option given differently is *honoured from
the resumed step on* and printed (``resume_changes``): the learning rate, weight decay, schedule
and budgets, data options, the seed. Options that only shape one invocation (threads, logging,
session limits) are not reported.

``--init-from PATH`` (a fresh run only) loads model weights, nothing else: from a training
checkpoint (.pt) or an exported model (.onnx, fp32 or dynamically quantized int8, or a shipped
model's name; see ``training.onnx_weights``). The architecture must match, except that a
source with fewer control inputs (none, or 20 from before the no-control flag) is widened with
zero weights for the new inputs, so it behaves as before until training moves them.
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
from pathlib import Path

import numpy as np
import torch

from training.model import ModelConfig, PerformanceRNN

ARCHITECTURE = ("vocab", "controls", "layers", "hidden", "embedding")
PER_INVOCATION = ("out", "resume", "run_steps", "session_minutes", "threads", "device", "log_every",
                  "init_from")
# All a checkpoint may hold besides tensors and plain data (torch.load(weights_only=True) refuses
# anything else, so a file cannot run code when it is loaded): runs before the RNG states were plain
# types saved numpy's RNG state as an array, and some saved their arguments as a Namespace.
SAFE_GLOBALS = (argparse.Namespace, np.ndarray, np.dtype, type(np.dtype(np.uint32)),
                np._core.multiarray._reconstruct)


class CheckpointError(ValueError):
    """A file that is not a loadable PerfJam training checkpoint; the message is one line naming it."""


def read_checkpoint(path: str | Path) -> dict:
    """A training checkpoint's dict, loaded with ``weights_only=True`` and ``SAFE_GLOBALS`` only:
    ``CheckpointError`` for a file holding anything else (e.g. a pickled call), a truncated or
    corrupt file, or one without ``config`` and ``model``; FileNotFoundError for a missing one."""
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        unsafe = ", ".join(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))) or str(exc)[:80]
        raise CheckpointError(f"{path}: refused: it holds more than weights and plain data "
                              f"({unsafe})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:  # a truncated or corrupt file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {first})") from None
    if not isinstance(checkpoint, dict) or "config" not in checkpoint or "model" not in checkpoint:
        raise CheckpointError(f"{path} is not a PerfJam training checkpoint (needs 'config' and 'model')")
    return checkpoint


def rng_states(device: torch.device) -> dict:
    """Python/numpy/torch RNG states, as plain types and tensors (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.array(keys, np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def resume_checkpoint(out: Path) -> tuple[dict, str | None]:
    """The checkpoint ``--resume`` continues: ``out/last.pt``, or ``out/best.pt`` when last.pt
    cannot be read (a save cut short by a full disk or a crash), with a line saying so.
    CheckpointError when neither can be read."""
    try:
        return read_checkpoint(out / "last.pt"), None
    except CheckpointError as exc:
        last_error = exc
    try:
        checkpoint = read_checkpoint(out / "best.pt")
    except (CheckpointError, FileNotFoundError):
        raise last_error from None
    best = out / "best.pt"
    return checkpoint, f"resume: {last_error}; resuming from {best} (step {checkpoint.get('step')}) instead"


def save_checkpoint(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never a half-written checkpoint


def resume_changes(args: dict, saved: dict) -> list[str]:
    """``--name old -> new`` for every option that differs from the checkpoint's run; raises
    ``ValueError`` if the architecture differs."""
    changed = {k: (saved[k], v) for k, v in args.items() if k in saved and saved[k] != v}
    wrong = [k for k in ARCHITECTURE if k in changed]
    if wrong:
        listing = ", ".join(f"--{k.replace('_', '-')} {changed[k][0]!r} (not {changed[k][1]!r})"
                            for k in wrong)
        raise ValueError(f"resume: the run was trained with {listing}; pass the same options or start "
                         f"a new run (--init-from its checkpoint keeps the weights)")
    return [f"--{k.replace('_', '-')} {old!r} -> {new!r}" for k, (old, new) in changed.items()
            if k not in PER_INVOCATION]


def widen_inputs(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``source`` weights shaped as ``target``'s: equal shapes copied; the first LSTM layer's input
    weights, when the target has more inputs (controls), padded with zero columns."""
    out = {}
    for key, want in target.items():
        have = source.get(key)
        if have is None:
            raise ValueError(f"init-from: the source has no {key}")
        if have.shape != want.shape:
            if key != "lstm.weight_ih_l0" or have.shape[0] != want.shape[0] or have.shape[1] > want.shape[1]:
                raise ValueError(f"init-from: {key} is {tuple(have.shape)} in the source, "
                                 f"{tuple(want.shape)} here")
            have = torch.cat([have, have.new_zeros(want.shape[0], want.shape[1] - have.shape[1])], dim=1)
        out[key] = have.to(want.dtype).clone()
    return out


def load_init_weights(path: str, model: PerformanceRNN) -> dict:
    """Load only the weights of ``path`` (.pt checkpoint, .onnx file or shipped model name) into
    ``model``; returns what the checkpoint records about the source."""
    config = model.config
    if path.endswith(".pt"):
        source = read_checkpoint(path)
        source_config, weights = ModelConfig.from_dict(source["config"]), source["model"]
        info = {"path": path, "kind": "checkpoint", "step": source.get("step"),
                "tokens_seen": source.get("tokens_seen")}
    else:
        from training.onnx_weights import onnx_state_dict

        source_config, weights, info = onnx_state_dict(path)
    mismatch = [f"{k} {getattr(source_config, k)!r} (here {getattr(config, k)!r})"
                for k in ("vocab", "layers", "hidden", "embedding")
                if getattr(source_config, k) != getattr(config, k)]
    if source_config.control_size > config.control_size:
        mismatch.append(f"control_size {source_config.control_size} (here {config.control_size})")
    if mismatch:
        raise ValueError(f"init-from {path}: the source has {', '.join(mismatch)}; pass matching options")
    model.load_state_dict(widen_inputs(weights, model.state_dict()))
    return {**info, "control_size": source_config.control_size}
