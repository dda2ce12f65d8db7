"""Train a Performance RNN on prepared data.

    python -m training.train --data data/asap-v1 --out runs/dyn --max-minutes 30
    torchrun --nproc_per_node 2 -m training.train --data data/asap-v1 --out runs/dyn   # DDP

One process per device (DDP under torchrun: nccl on CUDA, gloo on CPU); every rank draws its own
examples, only rank 0 logs, evaluates and saves. AdamW, gradient clipping, linear warm-up then
cosine decay to ``min_lr_ratio * lr`` at ``max_steps``. On CUDA, autocast (bf16 by default; note
that PyTorch runs the cuDNN LSTM itself in fp16 under any autocast, so a gradient scaler guards
its gradients). The validation NLL is the full-stream one (``training.evaluate_lib.stream_nll``).

Checkpoints ``best.pt`` (lowest validation NLL) and ``last.pt`` follow docs/ARCHITECTURE.md.
``--resume`` continues from ``last.pt`` exactly: a batch depends only on (seed, rank, step) and
dropout is re-seeded from (seed, rank, step) at every step, so a resumed run computes the same
losses as an uninterrupted one (bit-exact on CPU; on CUDA, up to cuDNN's own dropout stream and
non-deterministic kernels). ``--max-minutes`` stops in time for a final evaluation and checkpoint,
so training can be split over short sessions: run the same command with ``--resume`` again.
Logs: TensorBoard in ``OUT/tb`` and ``OUT/log.csv``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from perfjam.codec.events import vocab_by_name
from perfjam.controls import CONTROL_LAYOUT, CONTROL_SIZE
from training.dataset import Batch, DataConfig, TrainingExamples, prefetch_batches
from training.evaluate_lib import stream_nll
from training.model import ModelConfig, PerformanceRNN
from training.prepare import load_prepared, split_files

LOG_COLUMNS = ("step", "tokens", "lr", "train_loss", "val_nll", "tokens_per_s", "elapsed_s")
IGNORE = -100  # target of a padding position


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    vocab: str = "dynamics"
    controls: bool = False
    layers: int = 3
    hidden: int = 512
    embedding: int = 256
    dropout: float = 0.1
    batch_size: int = 0  # per process; 0: 64 on CUDA, 16 on CPU
    seq_len: int = DataConfig.seq_len
    example: str = DataConfig.example
    window_s: float = DataConfig.window_s
    augment: bool = True
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    warmup_steps: int = 300
    max_steps: int = 10_000  # the length of the LR schedule, and where training ends
    max_minutes: float = 0.0  # 0: no time limit for this invocation
    run_steps: int = 0  # 0: no limit; else stop this invocation after this many steps
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_files: int = 0  # 0: every validation file
    log_every: int = 10
    resume: bool = False
    seed: int = 1337
    device: str = "auto"
    precision: str = "bf16"  # CUDA autocast: bf16 | fp16 | fp32 (none)
    threads: int = 0  # CPU threads per process (0: torch's default)


@dataclass(frozen=True)
class Runtime:
    rank: int  # 0 logs, evaluates and saves
    world_size: int
    device: torch.device


def setup_runtime(device_arg: str) -> Runtime:
    """The device and, under torchrun, the process group."""
    world_size, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = device_arg == "cuda" or (device_arg == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world_size > 1:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Runtime(rank, world_size, device)


def step_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def lr_factor(step: int, warmup_steps: int, max_steps: int, min_ratio: float) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(model: PerformanceRNN, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (embedding, LSTM and head weights), not on biases."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=device.type == "cuda")


# ----------------------------------------------------------------------------- checkpoints


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


def save_checkpoint(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never a half-written checkpoint


# ----------------------------------------------------------------------------- logging


class Logger:
    """log.csv and TensorBoard, on rank 0 only."""

    def __init__(self, out: Path, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = out / "log.csv"
        rows = []
        if resume_step is not None and self.path.exists():  # drop rows after the checkpoint
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, LOG_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.tb = SummaryWriter(str(out / "tb"), purge_step=None if resume_step is None else resume_step + 1)

    def log(self, row: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, LOG_COLUMNS).writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        for key in ("lr", "train_loss", "val_nll", "tokens_per_s"):
            if row.get(key) not in (None, ""):
                self.tb.add_scalar(key, row[key], row["step"])
        self.tb.flush()

    def close(self) -> None:
        self.tb.close()


# ----------------------------------------------------------------------------- training


def to_device(batch: Batch, runtime: Runtime, conditioned: bool):
    """(inputs, targets, controls) tensors; padding targets are IGNORE."""
    pin = runtime.device.type == "cuda"
    tokens = torch.from_numpy(batch.tokens)
    tokens = (tokens.pin_memory() if pin else tokens).to(runtime.device, non_blocking=True)
    lengths = torch.from_numpy(batch.lengths).to(runtime.device, non_blocking=True)
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    positions = torch.arange(targets.shape[1], device=runtime.device)
    targets[positions[None, :] + 1 >= lengths[:, None]] = IGNORE
    controls = None
    if conditioned:  # the control of the event each input predicts
        controls = torch.from_numpy(batch.controls[:, 1:]).to(runtime.device, non_blocking=True)
    return inputs, targets, controls


def train(cfg: TrainConfig) -> dict:
    t_start = time.perf_counter()
    runtime = setup_runtime(cfg.device)
    device, is_main = runtime.device, runtime.rank == 0
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
    batch_size = cfg.batch_size or (64 if device.type == "cuda" else 16)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision)
    use_autocast = device.type == "cuda" and autocast_dtype is not None
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # -- data
    vocab = vocab_by_name(cfg.vocab)
    data_config = DataConfig(seq_len=cfg.seq_len, example=cfg.example, window_s=cfg.window_s,
                             augment=cfg.augment, controls=cfg.controls)
    examples = TrainingExamples.from_prepared(cfg.data, "train", cfg.vocab, data_config)
    val_files = split_files(*load_prepared(cfg.data, "validation", cfg.vocab)) if is_main else []
    if cfg.eval_files:
        val_files = val_files[: cfg.eval_files]

    # -- model, optimizer, schedule, and the checkpoint to resume from
    model_config = ModelConfig(vocab_size=vocab.size, vocab=vocab.name, embedding=cfg.embedding,
                               layers=cfg.layers, hidden=cfg.hidden, dropout=cfg.dropout,
                               control_size=CONTROL_SIZE if cfg.controls else 0)
    checkpoint = None
    if cfg.resume and (out / "last.pt").exists():
        checkpoint = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
        if checkpoint["config"] != model_config.to_dict() and is_main:
            print(f"resume: using the checkpoint's model {checkpoint['config']}")
        model_config = ModelConfig.from_dict(checkpoint["config"])
    elif cfg.resume and is_main:
        print(f"resume: no {out / 'last.pt'} yet, starting from scratch")
    torch.manual_seed(cfg.seed)
    model = PerformanceRNN(model_config).to(device)
    optimizer = build_optimizer(model, cfg, device)
    schedule = partial(lr_factor, warmup_steps=cfg.warmup_steps, max_steps=cfg.max_steps,
                       min_ratio=cfg.min_lr_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = torch.amp.GradScaler("cuda", enabled=use_autocast)
    step, tokens_seen, elapsed_before_s = 0, 0, 0.0
    best_val_nll, val_nll = math.inf, math.nan
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if "scaler" in checkpoint:
            scaler.load_state_dict(checkpoint["scaler"])
        restore_rng_states(checkpoint["rng"])
        step, tokens_seen = checkpoint["step"], checkpoint["tokens_seen"]
        best_val_nll, val_nll = checkpoint["best_val_nll"], checkpoint["val_nll"]
        elapsed_before_s = checkpoint.get("elapsed_s", 0.0)
    device_ids = [device.index] if device.type == "cuda" else None
    ddp_model = DistributedDataParallel(model, device_ids) if runtime.world_size > 1 else model
    first_step = step

    logger = Logger(out, step if checkpoint is not None else None) if is_main else None
    if is_main:
        print(f"{model.num_parameters():,} parameters, {examples.num_tokens:,} training tokens, "
              f"{len(val_files)} validation files, batch {batch_size}x{cfg.seq_len} on {device} "
              f"x{runtime.world_size}, {data_config}")

    def payload() -> dict:
        return {
            "config": model_config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "epoch": tokens_seen / max(1, examples.num_tokens),
            "tokens_seen": tokens_seen,
            "best_val_nll": best_val_nll,
            "val_nll": val_nll,
            "rng": rng_states(device),
            "train_args": asdict(cfg),
            "data_config": asdict(data_config),
            "control_layout": CONTROL_LAYOUT if model_config.control_size else None,
            "elapsed_s": elapsed_before_s + time.perf_counter() - t_start,
        }

    def evaluate_and_save() -> float:
        nonlocal best_val_nll, val_nll
        val_nll, _ = stream_nll(model, val_files, device) if val_files else (math.nan, 0)
        if val_nll < best_val_nll:
            best_val_nll = val_nll
            save_checkpoint(out / "best.pt", payload())
        save_checkpoint(out / "last.pt", payload())
        return val_nll

    # -- the loop
    batches = prefetch_batches(examples, batch_size, cfg.seed, runtime.rank, first_step)
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not is_main, dynamic_ncols=True, mininterval=1.0)
    interval_loss, interval_tokens, interval_s = 0.0, 0, 0.0
    last_eval_s, last_loss = 0.0, math.nan
    conditioned = model_config.control_size > 0
    while step < cfg.max_steps:
        t_step = time.perf_counter()
        torch.manual_seed(step_seed(cfg.seed, runtime.rank, step))  # dropout masks: f(seed, rank, step)
        batch = next(batches)
        inputs, targets, controls = to_device(batch, runtime, conditioned)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
            logits, _ = ddp_model(inputs, controls)
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        step += 1

        # One small all-reduce per step: the loss and tokens of all ranks, and rank 0's stop decision.
        n_tokens = batch.target_tokens
        now = time.perf_counter()  # stop while one more step, an eval and a save still fit in time
        needed_s = (now - t_start) + (now - t_step) + last_eval_s
        out_of_time = cfg.max_minutes > 0 and needed_s > cfg.max_minutes * 60
        out_of_steps = cfg.run_steps > 0 and step - first_step >= cfg.run_steps
        stop_here = float(is_main and (out_of_time or out_of_steps))
        stats = torch.tensor([loss.item() * n_tokens, n_tokens, stop_here], dtype=torch.float64).to(device)
        if runtime.world_size > 1:
            dist.all_reduce(stats)
        loss_sum, n_tokens, stop = float(stats[0]), int(stats[1]), bool(stats[2] > 0) or step >= cfg.max_steps
        last_loss = loss_sum / max(1, n_tokens)
        tokens_seen += n_tokens
        interval_loss, interval_tokens = interval_loss + loss_sum, interval_tokens + n_tokens
        interval_s += time.perf_counter() - t_step
        bar.update(1)
        if is_main and (stop or step % cfg.eval_every == 0 or step % cfg.log_every == 0):
            row = {"step": step, "tokens": tokens_seen, "lr": scheduler.get_last_lr()[0],
                   "train_loss": interval_loss / max(1, interval_tokens),
                   "tokens_per_s": interval_tokens / max(interval_s, 1e-9),
                   "elapsed_s": elapsed_before_s + time.perf_counter() - t_start}
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", tok_s=f"{row['tokens_per_s']:,.0f}")
            interval_loss, interval_tokens, interval_s = 0.0, 0, 0.0
            if stop or step % cfg.eval_every == 0:
                t_eval = time.perf_counter()
                row["val_nll"] = evaluate_and_save()
                last_eval_s = time.perf_counter() - t_eval
                bar.write(f"step {step}: train loss {row['train_loss']:.4f}, val NLL {val_nll:.4f} "
                          f"(best {best_val_nll:.4f}), {row['tokens_per_s']:,.0f} tokens/s")
            logger.log(row)
        if stop:
            break

    batches.close()
    bar.close()
    if logger is not None:
        logger.close()
    if runtime.world_size > 1:
        dist.barrier()  # rank 0 has saved
        dist.destroy_process_group()
    return {"step": step, "train_loss": last_loss, "val_nll": val_nll, "best_val_nll": best_val_nll,
            "tokens_seen": tokens_seen}


# ----------------------------------------------------------------------------- CLI


CHOICES = {"vocab": ("dynamics", "nodynamics"), "example": ("time", "events"),
           "device": ("auto", "cpu", "cuda"), "precision": ("bf16", "fp16", "fp32")}
HELP = {
    "data": "prepared data folder (training.prepare)",
    "out": "run folder: best.pt, last.pt, log.csv, tb/",
    "controls": "condition on note density + pitch classes (perfjam.controls)",
    "augment": "no transposition / time-stretch",
    "batch_size": "per process; 0: 64 on CUDA, 16 on CPU",
    "seq_len": "tokens per example",
    "example": "time: --window-s second segments padded to --seq-len; events: fixed windows",
    "max_steps": "length of the LR schedule, and the last step",
    "max_minutes": "stop this invocation in time for a final eval + checkpoint (0: no limit)",
    "run_steps": "stop this invocation after N steps; the schedule still spans --max-steps",
    "eval_files": "score only the first N validation files (0: all)",
    "resume": "continue from OUT/last.pt if it exists",
    "precision": "CUDA autocast dtype (fp32: none)",
    "threads": "CPU threads per process (0: torch's default)",
}


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """One option per TrainConfig field (``--no-augment`` for ``augment``), same defaults."""
    p = argparse.ArgumentParser(description="Train a Performance RNN (see training/train.py).")
    for f in fields(TrainConfig):
        flag, default, help_text = "--" + f.name.replace("_", "-"), f.default, HELP.get(f.name)
        if default is MISSING:
            p.add_argument(flag, required=True, help=help_text)
        elif isinstance(default, bool):
            negate = default is True
            p.add_argument("--no-" + flag[2:] if negate else flag, dest=f.name, help=help_text,
                           action="store_false" if negate else "store_true")
        else:
            p.add_argument(flag, type=type(default), default=default, choices=CHOICES.get(f.name),
                           help=help_text)
    return TrainConfig(**vars(p.parse_args(argv)))


def main(argv: Sequence[str] | None = None) -> dict:
    return train(parse_args(argv))


if __name__ == "__main__":
    main()
