"""Train a Performance RNN on prepared data.

    python -m training.train --data data/asap-v2 --out runs/dyn --max-minutes 150
    python -m training.train --data data/asap-v2 --out runs/dyn --max-minutes 150 --session-minutes 50 \
        --resume    # the same run in 50-minute sessions
    torchrun --nproc_per_node 2 -m training.train --data data/asap-v2 --out runs/dyn   # DDP

One process per device (DDP under torchrun: nccl on CUDA, gloo on CPU); every rank draws its own
examples, only rank 0 logs, evaluates and saves. AdamW, gradient clipping, linear warm-up then
cosine decay to ``min_lr_ratio * lr`` over the run's budget (``training.schedule``): ``--max-steps``,
``--max-tokens`` and/or ``--max-minutes`` (wall time of the whole run, summed over its
invocations), whichever ends first; the LR reaches its minimum when the run ends.

Precision: on CUDA, autocast (bf16 by default; PyTorch runs the cuDNN LSTM itself in fp16 under
any autocast, so a gradient scaler guards its gradients). On a CPU with native bf16 (AVX512-BF16
or AMX), bf16 autocast too: the oneDNN LSTM then runs 1.6-1.8x faster than fp32
(``benchmarks/train_throughput.py``); weights, optimizer and evaluation stay fp32.

Validation (``training.validation``): during training the first ``--eval-events`` events of every
validation file (a few seconds per pass); ``best.pt`` is chosen on that score. When the run
ends, the whole files once (``val_nll_full``). Both record what they scored.

Checkpoints ``best.pt`` and ``last.pt`` follow docs/ARCHITECTURE.md. ``--resume`` continues from
``last.pt`` (``training.checkpoint``): a batch depends only on (seed, rank, step) and dropout is
re-seeded from (seed, rank, step) at every step, so with a steps or tokens budget a resumed run
computes the same losses as an uninterrupted one (bit-exact on CPU; on CUDA, up to cuDNN's own
dropout stream and non-deterministic kernels). Changed options are printed and applied from
the resumed step. ``--session-minutes`` / ``--run-steps`` end one invocation in time for an
evaluation and a checkpoint, so a run can be split over sessions and machines; ``--init-from``
starts a new run from another model's weights. Logs: ``training.runlog``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from perfjam.codec.events import vocab_by_name
from perfjam.controls import CONTROL_SIZE, layout_for
from training.checkpoint import (
    CheckpointError,
    load_init_weights,
    restore_rng_states,
    resume_changes,
    resume_checkpoint,
    rng_states,
    save_checkpoint,
)
from training.dataset import DataConfig, TrainingExamples, prefetch_batches
from training.model import ModelConfig, PerformanceRNN
from training.runlog import Logger
from training.runtime import IGNORE, autocast_dtype, setup_runtime, to_device
from training.schedule import Schedule, Session
from training.validation import ValidationSet, describe, has_no_control_flag

SAVE_MARGIN_S = 5.0  # kept for writing checkpoints when a time limit applies


@dataclass(frozen=True)
class TrainConfig:
    data: str
    out: str
    vocab: str = "dynamics"
    controls: bool = False
    no_control_fraction: float = 0.5  # with controls: examples trained with the "no control" flag
    layers: int = 3
    hidden: int = 512
    embedding: int = 256
    # Runs on a CPU last < 4 epochs and still underfit (train loss ~ validation NLL); dropout only
    # slows learning then (and its masks cost ~5% of a step). Use it for long GPU runs.
    dropout: float = 0.0
    batch_size: int = 0  # per process; 0: 64 on CUDA, 16 on CPU
    # 0: 2048 on CUDA, 512 on CPU. On CPU the oneDNN LSTM's fp32 step collapsed 5-10x on a busy
    # machine once batch x seq_len reached 32k tokens (16x2048 or 64x512; benchmarks/train_throughput.py).
    seq_len: int = 0
    example: str = DataConfig.example
    window_s: float = DataConfig.window_s
    augment: bool = True
    grammar_loss: bool = False
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    warmup_steps: int = 300
    max_steps: int = 10_000  # budgets of the run: the schedule follows whichever ends first
    max_tokens: int = 0  # 0: none
    max_minutes: float = 0.0  # 0: none; wall time of the whole run (all invocations)
    session_minutes: float = 0.0  # 0: none; this invocation only
    run_steps: int = 0  # 0: none; this invocation only
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_events: int = 1024  # per validation file during training (0: whole files)
    log_every: int = 10
    resume: bool = False
    init_from: str = ""  # weights of a .pt checkpoint, an .onnx file or a shipped model name
    seed: int = 1337
    device: str = "auto"
    precision: str = "bf16"  # autocast: bf16 | fp16 (CUDA) | fp32 (none); CPU: bf16 where native
    threads: int = 0  # CPU threads per process (0: torch's default)


def step_seed(seed: int, rank: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


def build_optimizer(model: PerformanceRNN, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (embedding, LSTM and head weights), not on biases."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.99), fused=device.type == "cuda")


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
    amp_dtype = autocast_dtype(cfg.precision, device)
    precision = str(amp_dtype or torch.float32).removeprefix("torch.")
    scale_grads = device.type == "cuda" and amp_dtype is not None
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # -- the checkpoint to resume from, and what changed since
    checkpoint = None
    if cfg.resume and (out / "last.pt").exists():
        checkpoint, fallback = resume_checkpoint(out)  # last.pt, else best.pt (said)
        if fallback and is_main:
            print(fallback)
        changes = resume_changes(asdict(cfg), checkpoint.get("train_args", {}))
        if changes and is_main:
            print(f"resume: from step {checkpoint['step']} with changed options: {'; '.join(changes)}")
    elif cfg.resume and is_main:
        print(f"resume: no {out / 'last.pt'} yet, starting from scratch")

    # -- model architecture and data
    vocab = vocab_by_name(cfg.vocab)
    model_config = ModelConfig(vocab_size=vocab.size, vocab=vocab.name, embedding=cfg.embedding,
                               layers=cfg.layers, hidden=cfg.hidden, dropout=cfg.dropout,
                               control_size=CONTROL_SIZE if cfg.controls else 0)
    if checkpoint is not None:  # its architecture (resume_changes checked it), today's dropout
        model_config = replace(ModelConfig.from_dict(checkpoint["config"]), dropout=cfg.dropout)
    conditioned, free_flag = model_config.control_size > 0, has_no_control_flag(model_config.control_size)
    seq_len = cfg.seq_len or (DataConfig.seq_len if device.type == "cuda" else 512)
    data_config = DataConfig(seq_len=seq_len, example=cfg.example, window_s=cfg.window_s,
                             augment=cfg.augment, controls=cfg.controls, grammar=cfg.grammar_loss,
                             no_control_fraction=cfg.no_control_fraction if free_flag else 0.0)
    examples = TrainingExamples.from_prepared(cfg.data, "train", cfg.vocab, data_config)
    validation = ValidationSet.load(cfg.data, cfg.vocab, model_config.control_size) if is_main else None

    # -- model, optimizer, schedule, state
    torch.manual_seed(cfg.seed)
    model = PerformanceRNN(model_config).to(device)
    init_from = None
    if checkpoint is None and cfg.init_from:
        init_from = load_init_weights(cfg.init_from, model)
        if is_main:
            print(f"init-from: weights of {init_from['path']} ({init_from['kind']})")
    optimizer = build_optimizer(model, cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=scale_grads)
    step, tokens_seen, elapsed_before_s = 0, 0, 0.0
    best_val_nll, val, full = math.inf, {}, {}
    best_scope: dict = {}
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        optimizer.param_groups[0]["weight_decay"] = cfg.weight_decay  # honoured (printed above)
        if "scaler" in checkpoint:
            scaler.load_state_dict(checkpoint["scaler"])
        restore_rng_states(checkpoint["rng"])
        step, tokens_seen = checkpoint["step"], checkpoint["tokens_seen"]
        best_val_nll, best_scope = checkpoint["best_val_nll"], checkpoint.get("best_val_scope", {})
        elapsed_before_s = checkpoint.get("elapsed_s", 0.0)
        init_from = checkpoint.get("init_from")
    device_ids = [device.index] if device.type == "cuda" else None
    ddp_model = DistributedDataParallel(model, device_ids) if runtime.world_size > 1 else model
    first_step = step

    def elapsed_s() -> float:  # wall time of the run so far (all invocations)
        return elapsed_before_s + time.perf_counter() - t_start

    def evaluate(full_pass: bool) -> dict:
        """Rank 0: the prefix scores (+ the whole files), then best.pt and last.pt."""
        nonlocal best_val_nll, best_scope, val, full
        score = validation.score(model, device, cfg.eval_events, grammar=cfg.grammar_loss)
        val = {"val_nll": score.nll, "val_scope": score.scope}
        if score.grammar_nll is not None:
            val["val_nll_grammar"] = score.grammar_nll
        if free_flag:
            val["val_nll_free"] = validation.score(model, device, cfg.eval_events, free=True).nll
        if full_pass:
            prefix_is_all = score.scope["events_per_file"] == "all"
            whole = score if prefix_is_all else validation.score(model, device, 0, grammar=cfg.grammar_loss)
            full = {"val_nll_full": whole.nll, "val_full_scope": whole.scope}
            if whole.grammar_nll is not None:
                full["val_nll_full_grammar"] = whole.grammar_nll
        if score.selection < best_val_nll:
            best_val_nll, best_scope = score.selection, score.scope
            save_checkpoint(out / "best.pt", payload())
        save_checkpoint(out / "last.pt", payload())
        return {**val, **full, "eval_s": score.seconds}

    def payload() -> dict:
        clock = elapsed_s()
        return {
            "config": model_config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": schedule.state(step, tokens_seen, clock),
            "scaler": scaler.state_dict(),
            "step": step,
            "epoch": tokens_seen / max(1, examples.num_tokens),
            "tokens_seen": tokens_seen,
            "best_val_nll": best_val_nll,
            "best_val_scope": best_scope,
            **val,
            **full,
            "rng": rng_states(device),
            "train_args": asdict(cfg),
            "data_config": asdict(data_config),
            "control_layout": layout_for(model_config.control_size) if model_config.control_size else None,
            "precision": precision,
            "init_from": init_from,
            "elapsed_s": clock,
        }

    # -- what the final evaluation will cost, timed once when a time limit applies
    synced = torch.tensor([0.0, elapsed_before_s], dtype=torch.float64)  # reserve_s, clock_s
    session_reserve_s, eval_s = 0.0, 0.0
    if is_main and (cfg.max_minutes > 0 or cfg.session_minutes > 0):
        probe = validation.score(model, device, cfg.eval_events, grammar=cfg.grammar_loss)
        estimate_s, eval_s = validation.full_pass_estimate_s(probe, cfg.eval_events), probe.seconds
        session_reserve_s = (1 + free_flag) * eval_s + SAVE_MARGIN_S
        synced[0] = session_reserve_s + estimate_s
        print(f"eval: prefix pass {eval_s:.1f} s (NLL {probe.nll:.4f}); whole files estimated "
              f"{estimate_s:.0f} s; {float(synced[0]):.0f} s of the time budget kept for the end")
    synced[1] = elapsed_s()
    if runtime.world_size > 1:
        synced = synced.to(device)  # nccl broadcasts device tensors
        dist.broadcast(synced, 0)
    reserve_s, clock_s = float(synced[0]), float(synced[1])
    schedule = Schedule(cfg.lr, cfg.warmup_steps, cfg.min_lr_ratio, cfg.max_steps, cfg.max_tokens,
                        cfg.max_minutes * 60, reserve_s)
    session = Session(cfg.session_minutes * 60, cfg.run_steps, session_reserve_s)

    logger = Logger(out, step if checkpoint is not None else None) if is_main else None
    if is_main:
        print(f"{model.num_parameters():,} parameters, {examples.num_tokens:,} training tokens, "
              f"validation {describe(validation.scope(cfg.eval_events, grammar=cfg.grammar_loss))}, "
              f"batch {batch_size}x{seq_len} on {device} x{runtime.world_size} ({precision}), "
              f"{data_config}")

    # -- the loop
    batches = prefetch_batches(examples, batch_size, cfg.seed, runtime.rank, first_step)
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not is_main, dynamic_ncols=True, mininterval=1.0)
    interval_loss, interval_tokens, interval_s, interval_forced = 0.0, 0, 0.0, 0
    last_loss = math.nan
    stop_reason = schedule.budget_over(step, tokens_seen) or schedule.time_over(clock_s, 0.0)  # stays done
    while not stop_reason:
        t_step = time.perf_counter()
        torch.manual_seed(step_seed(cfg.seed, runtime.rank, step))  # dropout masks: f(seed, rank, step)
        lr = schedule.lr_at(step, tokens_seen, clock_s)  # the same on every rank: synced inputs
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = next(batches)
        inputs, targets, controls, masks = to_device(batch, runtime, conditioned)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits, _ = ddp_model(inputs, controls)
        logits = logits.float()
        if masks is not None:  # grammar-masked loss: softmax over the allowed events only
            logits = logits.masked_fill(~masks, float("-inf"))
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1

        # One small all-reduce per step: loss and tokens of all ranks, rank 0's clock and time limits.
        n_tokens = batch.target_tokens
        now_s = time.perf_counter()  # stop while the next step (and its eval), an eval and a save fit
        next_s = (now_s - t_step) + (eval_s * (1 + free_flag) if (step + 1) % cfg.eval_every == 0 else 0.0)
        time_reason = schedule.time_over(elapsed_s(), next_s)
        session_reason = session.over(step - first_step, now_s - t_start, next_s)
        stats = torch.tensor([loss.item() * n_tokens, n_tokens, float(is_main and bool(time_reason)),
                              float(is_main and bool(session_reason)), elapsed_s() if is_main else 0.0],
                             dtype=torch.float64).to(device)
        if runtime.world_size > 1:
            dist.all_reduce(stats)
        loss_sum, n_tokens, clock_s = float(stats[0]), int(stats[1]), float(stats[4])
        last_loss = loss_sum / max(1, n_tokens)
        tokens_seen += n_tokens
        run_reason = schedule.budget_over(step, tokens_seen)  # the same on every rank
        if not run_reason and stats[2] > 0:  # rank 0's clock decides for all
            run_reason = time_reason or "time budget (rank 0)"
        stop_reason = run_reason or (session_reason or "session limit (rank 0)" if stats[3] > 0 else "")
        interval_loss, interval_tokens = interval_loss + loss_sum, interval_tokens + n_tokens
        interval_s += time.perf_counter() - t_step
        interval_forced += batch.grammar_forced
        bar.update(1)
        if is_main and (stop_reason or step % cfg.eval_every == 0 or step % cfg.log_every == 0):
            row = {"step": step, "tokens": tokens_seen, "lr": lr,
                   "progress": schedule.progress(step, tokens_seen, clock_s),
                   "train_loss": interval_loss / max(1, interval_tokens),
                   "tokens_per_s": interval_tokens / max(interval_s, 1e-9), "elapsed_s": elapsed_s(),
                   "grammar_forced": interval_forced if cfg.grammar_loss else ""}
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", tok_s=f"{row['tokens_per_s']:,.0f}")
            interval_loss, interval_tokens, interval_s, interval_forced = 0.0, 0, 0.0, 0
            if stop_reason or step % cfg.eval_every == 0:
                scores = evaluate(full_pass=bool(run_reason))  # the whole files once, when the run ends
                eval_s = scores["eval_s"]
                row.update({k: v for k, v in scores.items() if k.startswith("val_nll")})
                full_text = f", whole files {scores['val_nll_full']:.4f}" if "val_nll_full" in scores else ""
                judged = scores.get("val_nll_grammar", scores["val_nll"])  # what best.pt is chosen on
                bar.write(f"step {step}: train loss {row['train_loss']:.4f}, val NLL {judged:.4f} "
                          f"(best {best_val_nll:.4f}){full_text}, {row['tokens_per_s']:,.0f} tokens/s")
            logger.log(row)
    if is_main:
        print(f"stopped after step {step}: {stop_reason}")

    batches.close()
    bar.close()
    if logger is not None:
        logger.close()
    if runtime.world_size > 1:
        dist.barrier()  # rank 0 has saved
        dist.destroy_process_group()
    return {"step": step, "train_loss": last_loss, "val_nll": val.get("val_nll", math.nan),
            "val_nll_full": full.get("val_nll_full", math.nan), "best_val_nll": best_val_nll,
            "tokens_seen": tokens_seen, "stop_reason": stop_reason}


# ----------------------------------------------------------------------------- CLI


CHOICES = {"vocab": ("dynamics", "nodynamics"), "example": ("time", "events"),
           "device": ("auto", "cpu", "cuda"), "precision": ("bf16", "fp16", "fp32")}
HELP = {
    "data": "prepared data folder (training.prepare)",
    "out": "run folder: best.pt, last.pt, log.csv, tb/",
    "controls": "condition on note density + pitch classes (perfjam.controls)",
    "no_control_fraction": "with --controls: fraction of examples given the 'no control' vector",
    "augment": "no transposition / time-stretch",
    "batch_size": "per process; 0: 64 on CUDA, 16 on CPU",
    "seq_len": "model inputs per example; 0: 2048 on CUDA, 512 on CPU",
    "example": "events: fixed windows (no padding); time: --window-s second segments padded to --seq-len",
    "grammar_loss": "train with the grammar-masked log-softmax (perfjam.codec.grammar)",
    "max_steps": "run budget: last step (the schedule follows the first budget to end)",
    "max_tokens": "run budget: training tokens, all ranks (0: none); deterministic, for fair comparisons",
    "max_minutes": "run budget: wall minutes over all invocations, final evaluation included (0: none)",
    "session_minutes": "stop this invocation in time for an eval + checkpoint (0: none); --resume goes on",
    "run_steps": "stop this invocation after N steps; the schedule is the run's",
    "eval_events": "events scored per validation file during training (0: whole files)",
    "resume": "continue from OUT/last.pt if it exists (changed options are printed and applied)",
    "init_from": "start from the weights of a .pt checkpoint, an .onnx file or a shipped model name",
    "precision": "autocast dtype: bf16 (CPU: where native), fp16 (CUDA), fp32 (none)",
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
            kind = (lambda text: int(float(text))) if isinstance(default, int) else type(default)  # 2e7
            p.add_argument(flag, type=kind, default=default, choices=CHOICES.get(f.name), help=help_text)
    return TrainConfig(**vars(p.parse_args(argv)))


def main(argv: Sequence[str] | None = None) -> dict:
    return train(parse_args(argv))


def run_command(argv: Sequence[str] | None = None) -> int:
    """``python -m training.train``: a checkpoint that cannot be used is one line and exit 2;
    Ctrl-C stops without a traceback and says what --resume will continue from."""
    cfg = parse_args(argv)
    try:
        train(cfg)
    except CheckpointError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        last = Path(cfg.out) / "last.pt"
        kept = f"--resume continues from {last}" if last.exists() else "no checkpoint was saved yet"
        print(f"\ntrain: interrupted; {kept}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(run_command())
