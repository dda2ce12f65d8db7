"""Training throughput of the Performance RNN on CPU, against what the CPU's matmul reaches.

    python -m benchmarks.train_throughput                      # 3x512 and 2x512, batch 16x512, 2 threads
    python -m benchmarks.train_throughput --configs 3x512 --batch-sizes 16,32 --variants fp32,bf16

Prints one JSON object. Per (config, batch, variant): ``tokens_per_s`` (median over
``--repeats``; the variants alternate within each repeat, so a busy machine hits them alike),
``gflop_per_s`` achieved, the matmul ``roofline_tokens_per_s`` and ``roofline_ratio``. One
step is what ``training.train`` does: embedding, LSTM, head, cross-entropy, backward, gradient
clipping, AdamW, on random tokens (``python -m training.dataset`` measures the data side).

FLOPs: an LSTM layer's forward costs ``2 * 4H * (in + H)`` per token, the head ``2 * H * V``;
training is counted as 3x forward. The roofline times those FLOPs at the GFLOP/s that
``torch.matmul`` reaches on the same shapes in the same dtype: the input projection
``[B*T, in] x [in, 4H]`` (one GEMM over the window), the per-step recurrent GEMM
``[B, H] x [H, 4H]`` and the head ``[B*T, H] x [H, V]``. Of the recurrence's three passes, two
are per step (forward ``h W``, backward ``dg W^T``) and the weight gradient is one GEMM over the
window; other backward GEMMs are taken to run as fast as their forward shapes. oneDNN's LSTM
keeps the recurrent weights packed across steps and can beat ``torch.matmul`` on the per-step
shape, so ``roofline_ratio`` may exceed 1; ``peak_ratio`` (against the best GEMM rate measured,
the CPU's practical ceiling) is the bound that holds.

Variants: ``fp32`` (nn.LSTM: oneDNN on CPU, the trainer in fp32), ``bf16`` (the same under bf16
autocast: the trainer's default where the CPU has AVX512-BF16/AMX), ``native`` (oneDNN off:
ATen's own LSTM), ``cell-loop`` (one GEMM for the input projections of the whole window, then a
Python loop of cells over time, on nn.LSTM's weights; ``max_abs_diff`` checks it against nn.LSTM).
A benchmark, never a test: the numbers depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.live_latency import emit
from training.model import ModelConfig, PerformanceRNN

VOCAB_SIZE = 388
VARIANTS = ("fp32", "bf16", "native", "cell-loop")


def parse_config(text: str) -> tuple[int, int]:
    layers, hidden = text.lower().split("x")
    return int(layers), int(hidden)


def lstm_flops_per_token(layers: int, hidden: int, embedding: int) -> float:
    """Training FLOPs per token (3x forward) of the LSTM and the head."""
    inputs = [embedding] + [hidden] * (layers - 1)
    forward = sum(2 * 4 * hidden * (i + hidden) for i in inputs) + 2 * hidden * VOCAB_SIZE
    return 3.0 * forward


def matmul_gflop_per_s(m: int, k: int, n: int, dtype: torch.dtype, min_s: float = 0.3) -> float:
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    flop = 2.0 * m * k * n
    a @ b
    reps, best = max(1, int(2e9 / flop)), float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        n_done = 0
        while time.perf_counter() - t0 < min_s / 3:
            for _ in range(reps):
                a @ b
            n_done += reps
        best = min(best, (time.perf_counter() - t0) / n_done)
    return flop / best / 1e9


def roofline(layers: int, hidden: int, embedding: int, batch: int, seq_len: int, dtype: torch.dtype) -> dict:
    """Tokens/s if every GEMM of a training step ran at matmul speed on its shape."""
    rows, gates = batch * seq_len, 4 * hidden
    shapes = {"input_projection_in_embedding": (rows, embedding, gates),
              "input_projection_in_hidden": (rows, hidden, gates),
              "recurrent_per_step": (batch, hidden, gates),
              "head": (rows, hidden, VOCAB_SIZE)}
    speed = {name: matmul_gflop_per_s(*shape, dtype) for name, shape in shapes.items()}
    seconds = 0.0
    for layer in range(layers):
        name = "input_projection_in_embedding" if layer == 0 else "input_projection_in_hidden"
        in_size = embedding if layer == 0 else hidden
        seconds += 3 * 2 * rows * in_size * gates / (speed[name] * 1e9)
        recurrent = 2 * rows * hidden * gates
        seconds += 2 * recurrent / (speed["recurrent_per_step"] * 1e9)  # forward, backward data
        seconds += recurrent / (speed["input_projection_in_hidden"] * 1e9)  # weight gradient: one GEMM
    seconds += 3 * 2 * rows * hidden * VOCAB_SIZE / (speed["head"] * 1e9)
    flops = lstm_flops_per_token(layers, hidden, embedding) * rows
    return {"matmul_gflop_per_s": {k: round(v, 1) for k, v in speed.items()},
            "gemm_peak_gflop_per_s": round(max(speed.values()), 1),
            "roofline_gflop_per_s": round(flops / seconds / 1e9, 1),
            "roofline_tokens_per_s": round(rows / seconds, 1)}


def cell_loop_lstm(lstm: torch.nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """nn.LSTM's forward (zero state, batch_first) as one input GEMM per layer + a cell loop."""
    for layer in range(lstm.num_layers):
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
        bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
        projected = torch.addmm(bias, x.flatten(0, 1), w_ih.t()).view(x.shape[0], x.shape[1], -1)
        h = x.new_zeros(x.shape[0], lstm.hidden_size)
        c = torch.zeros_like(h)
        outputs = []
        for t in range(x.shape[1]):
            i, f, g, o = torch.addmm(projected[:, t], h, w_hh.t()).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        x = torch.stack(outputs, dim=1)
    return x


def make_step(model: PerformanceRNN, variant: str, tokens: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def forward() -> torch.Tensor:
        if variant == "cell-loop":
            return model.head(cell_loop_lstm(model.lstm, model.embed(inputs)))
        bf16 = variant == "bf16"
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            return model(inputs)[0]

    def step() -> None:
        mkldnn = torch.backends.mkldnn.flags(enabled=variant != "native")
        with mkldnn:
            loss = F.cross_entropy(forward().float().flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def cell_loop_difference(layers: int, hidden: int, embedding: int) -> float:
    """Max |output difference| of the cell loop against nn.LSTM on a short batch (fp32)."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(embedding, hidden, num_layers=layers, batch_first=True)
    x = torch.randn(2, 16, embedding)
    with torch.no_grad():
        return float((cell_loop_lstm(lstm, x) - lstm(x)[0]).abs().max())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="3x512,2x512", help="LAYERSxHIDDEN, comma-separated")
    p.add_argument("--embedding", type=int, default=256)
    p.add_argument("--batch-sizes", default="16", help="comma-separated")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variants", default="fp32,bf16", help=f"comma-separated, of {', '.join(VARIANTS)}")
    p.add_argument("--steps", type=int, default=3, help="timed steps per variant and repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-roofline", action="store_true")
    p.add_argument("--out", type=Path, help="also write the JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    if unknown := set(variants) - set(VARIANTS):
        p.error(f"unknown variants {sorted(unknown)}")
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": args.threads,
                    "interop_threads": torch.get_num_interop_threads(),
                    "mkldnn": torch.backends.mkldnn.is_available(),
                    "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
                    "amx": torch.cpu._is_amx_tile_supported(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "load_avg_1m_before": round(os.getloadavg()[0], 2)},
        "seq_len": args.seq_len, "embedding": args.embedding, "steps": args.steps, "repeats": args.repeats,
        "results": [],
    }
    if "cell-loop" in variants:
        report["cell_loop_max_abs_diff_vs_nn_lstm"] = cell_loop_difference(2, 64, 32)
    for config in args.configs.split(","):
        layers, hidden = parse_config(config)
        flops_per_token = lstm_flops_per_token(layers, hidden, args.embedding)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            tokens = torch.randint(0, VOCAB_SIZE, (batch, args.seq_len + 1))
            steps = {}
            for variant in variants:
                torch.manual_seed(0)
                model = PerformanceRNN(ModelConfig(layers=layers, hidden=hidden, embedding=args.embedding,
                                                   dropout=0.0))
                steps[variant] = make_step(model, variant, tokens)
                steps[variant]()  # warm-up (oneDNN primitives, allocator)
            samples: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(args.repeats):  # A/B: alternate the variants
                for variant in variants:
                    t0 = time.perf_counter()
                    for _ in range(args.steps):
                        steps[variant]()
                    samples[variant].append(args.steps * batch * args.seq_len / (time.perf_counter() - t0))
                    print(f"{config} batch {batch} {variant}: {samples[variant][-1]:,.0f} tokens/s",
                          file=sys.stderr, flush=True)
            roofs = {}
            if not args.no_roofline:
                roofs = {dtype: roofline(layers, hidden, args.embedding, batch, args.seq_len, dtype)
                         for dtype in (torch.float32, torch.bfloat16)}
            for variant in variants:
                median = statistics.median(samples[variant])
                row = {"config": config, "batch": batch, "variant": variant,
                       "tokens_per_s": round(median, 1),
                       "tokens_per_s_samples": [round(s) for s in samples[variant]],
                       "gflop_per_s": round(median * flops_per_token / 1e9, 1)}
                if roofs:
                    roof = roofs[torch.bfloat16 if variant == "bf16" else torch.float32]
                    row |= roof | {"roofline_ratio": round(median / roof["roofline_tokens_per_s"], 3),
                                   "peak_ratio": round(row["gflop_per_s"] / roof["gemm_peak_gflop_per_s"], 3)}
                report["results"].append(row)
    report["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    emit(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
