"""Per-event step latency of the Performance RNN: onnxruntime fp32 / int8 vs torch eager.

    python -m benchmarks.step_latency --random --layers 3 --hidden 512 --embedding 256
    python -m benchmarks.step_latency --model assets/models/NAME.onnx [--checkpoint runs/NAME/best.pt]
    python -m benchmarks.step_latency --random --sweep     # the table of variants for a 3x512 model

Prints one JSON object: per variant ``p50_ms``, ``p99_ms``, ``max_ms``, ``mean_ms`` of one
``step`` and ``events_per_s`` (1000 / mean: what one core sustains). Each variant is warmed up,
then stepped ``--steps`` times on events sampled from its own output. The onnxruntime variants
go through ``perfjam.model.PerformanceModel`` (IO binding, one intra-op thread) unless the
variant says otherwise; ``sample`` adds ``Sampler.sample`` (temperature 1, top-p 0.95) to a
step, which is the per-event cost of the live engine. A benchmark, never a test: results depend
on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # training/ runs from the checkout (it is not installed)

from perfjam.model import PerformanceModel, Sampler  # noqa: E402


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    embedding: int
    control_size: int = 0


def latency_summary(samples_ns: list[int]) -> dict[str, float]:
    ms = np.asarray(samples_ns, np.float64) / 1e6
    mean_ms = float(ms.mean())
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "max_ms": round(float(ms.max()), 4),
        "mean_ms": round(mean_ms, 4),
        "events_per_s": round(1000.0 / mean_ms, 1),
        "steps": len(ms),
    }


def time_loop(
    step: Callable[[int], np.ndarray], vocab_size: int, steps: int, warmup: int
) -> dict[str, float]:
    """Time ``step(token) -> logits`` on a walk of tokens sampled from the model's own logits."""
    sampler = Sampler(0)
    token = 60 % vocab_size
    timings: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup + steps):
        t0 = clock()
        logits = step(token)
        t1 = clock()
        if i >= warmup:
            timings.append(t1 - t0)
        token = sampler.sample(logits, 1.0, 0.95)
    return latency_summary(timings)


def session_options(threads: int = 1, level: str = "all") -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    return options


def bench_perfjam(
    path: Path, steps: int, warmup: int, threads: int = 1, level: str = "all", with_sampling: bool = False
) -> dict[str, float]:
    """``PerformanceModel.step`` (IO binding), optionally with its own session options."""
    model = PerformanceModel.load(path)
    if threads != 1 or level != "all":
        options = session_options(threads, level)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model = PerformanceModel(session, model.info)
    control = _control(model.info.control_size)
    sampler = Sampler(1)

    def step(token: int) -> np.ndarray:
        logits = model.step(token, control)
        if with_sampling:
            sampler.sample(logits, 1.0, 0.95)
        return logits

    return time_loop(step, model.info.vocab.size, steps, warmup)


def bench_plain_run(path: Path, steps: int, warmup: int) -> dict[str, float]:
    """``InferenceSession.run`` with a feed dict (no IO binding), state passed back each step."""
    info = PerformanceModel.load(path).info
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    h = np.zeros((info.layers, 1, info.hidden), np.float32)
    feed = {"token": np.zeros(1, np.int64), "h": h, "c": h.copy()}
    if info.has_controls:
        feed["control"] = _control(info.control_size)[None, :]

    def step(token: int) -> np.ndarray:
        feed["token"][0] = token
        logits, feed["h"], feed["c"] = session.run(None, feed)
        return logits[0]

    return time_loop(step, info.vocab.size, steps, warmup)


def bench_torch(checkpoint: Path, steps: int, warmup: int) -> dict[str, float]:
    import torch

    from training.export_onnx import load_checkpoint

    torch.set_num_threads(1)
    model, _ = load_checkpoint(checkpoint)
    h, c = model.zero_state(1)
    size = model.config.control_size
    control = torch.from_numpy(_control(size)).view(1, -1) if size else None
    token_buffer = torch.zeros(1, dtype=torch.int64)

    def step(token: int) -> np.ndarray:
        nonlocal h, c
        token_buffer[0] = token
        logits, h, c = model.step(token_buffer, h, c, control)
        return logits[0].numpy()

    with torch.inference_mode():
        return time_loop(step, model.config.vocab_size, steps, warmup)


def _control(size: int) -> np.ndarray | None:
    if not size:
        return None
    from perfjam.controls import control_vector

    return control_vector(6.0)


def prepare_random(shape: Shape, workdir: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    """A random-init checkpoint of ``shape``, exported (parity-checked) with its int8 sibling."""
    from training.export_onnx import export_checkpoint, write_random_checkpoint
    from training.model import ModelConfig

    config = ModelConfig(layers=shape.layers, hidden=shape.hidden, embedding=shape.embedding,
                         control_size=shape.control_size)
    stem = f"random-{shape.layers}x{shape.hidden}-e{shape.embedding}" + ("-c" if shape.control_size else "")
    checkpoint = write_random_checkpoint(workdir / f"{stem}.pt", config, seed)
    result = export_checkpoint(checkpoint, workdir / f"{stem}.onnx", int8=True)
    assert result.int8_path is not None
    return checkpoint, result.path, result.int8_path


def bench_model(onnx_path: Path, int8_path: Path | None, checkpoint: Path | None, args) -> dict:
    variants: dict[str, dict] = {}
    variants["ort_fp32"] = bench_perfjam(onnx_path, args.steps, args.warmup)
    if int8_path is not None:
        variants["ort_int8"] = bench_perfjam(int8_path, args.steps, args.warmup)
    if checkpoint is not None and not args.no_torch:
        variants["torch_eager"] = bench_torch(checkpoint, args.steps, args.warmup)
    elif not args.no_torch:
        variants["torch_eager"] = {"skipped": "needs --checkpoint (or --random) for the torch weights"}
    return variants


def sweep(args, workdir: Path) -> dict:
    """The variants that decide how a 3x512 model gets under 0.5 ms p99 on a small CPU."""
    rows: dict[str, dict] = {}
    base = Shape(3, 512, 256)
    checkpoint, fp32, int8 = prepare_random(base, workdir)
    n, w = args.steps, args.warmup
    rows["3x512 e256 fp32 (app path: iobinding, 1 thread, opt all)"] = bench_perfjam(fp32, n, w)
    rows["3x512 e256 fp32 plain session.run"] = bench_plain_run(fp32, n, w)
    rows["3x512 e256 fp32 opt basic"] = bench_perfjam(fp32, n, w, level="basic")
    rows["3x512 e256 fp32 opt disabled"] = bench_perfjam(fp32, n, w, level="disable")
    rows["3x512 e256 fp32 2 intra-op threads"] = bench_perfjam(fp32, n, w, threads=2)
    rows["3x512 e256 int8 (app path)"] = bench_perfjam(int8, n, w)
    rows["3x512 e256 int8 plain session.run"] = bench_plain_run(int8, n, w)
    rows["3x512 e256 int8 + sampling (top-p 0.95)"] = bench_perfjam(int8, n, w, with_sampling=True)
    rows["3x512 e256 fp32 + sampling (top-p 0.95)"] = bench_perfjam(fp32, n, w, with_sampling=True)
    if not args.no_torch:
        rows["3x512 e256 torch eager (1 thread)"] = bench_torch(checkpoint, n, w)
    for shape in (Shape(3, 512, 64), Shape(2, 512, 256), Shape(3, 384, 256), Shape(3, 256, 256),
                  Shape(3, 512, 256, control_size=20)):
        _, s_fp32, s_int8 = prepare_random(shape, workdir)
        label = f"{shape.layers}x{shape.hidden} e{shape.embedding}"
        label += " controls" if shape.control_size else ""
        rows[f"{label} fp32"] = bench_perfjam(s_fp32, n, w)
        rows[f"{label} int8"] = bench_perfjam(s_int8, n, w)
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="an exported .onnx (its .int8.onnx sibling if present)")
    source.add_argument("--random", action="store_true", help="random init of --layers/--hidden/--embedding")
    p.add_argument("--checkpoint", type=Path, help="the training checkpoint of --model (for torch eager)")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--embedding", type=int, default=256)
    p.add_argument("--control-size", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000, help="timed steps per variant (>= 2000 recommended)")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--no-int8", action="store_true", help="skip the int8 variant")
    p.add_argument("--no-torch", action="store_true", help="skip torch eager")
    p.add_argument("--sweep", action="store_true", help="with --random: the whole investigation table")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "onnxruntime": ort.__version__, "load_avg_1m": round(os.getloadavg()[0], 2)},
        "steps": args.steps,
        "warmup": args.warmup,
    }
    with tempfile.TemporaryDirectory(prefix="perfjam-bench-") as tmp:
        workdir = Path(tmp)
        if args.sweep:
            report["variants"] = sweep(args, workdir)
        else:
            report["model"], onnx_path, int8_path, checkpoint = _resolve(args, workdir)
            report["variants"] = bench_model(onnx_path, None if args.no_int8 else int8_path, checkpoint, args)
    report["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))
    return 0


def _resolve(args, workdir: Path) -> tuple[str, Path, Path | None, Path | None]:
    if args.random:
        shape = Shape(args.layers, args.hidden, args.embedding, args.control_size)
        checkpoint, fp32, int8 = prepare_random(shape, workdir)
        return f"random {shape.layers}x{shape.hidden} embedding {shape.embedding}", fp32, int8, checkpoint
    path: Path = args.model
    int8 = path.with_name(path.name.removesuffix(".onnx") + ".int8.onnx")
    if not int8.is_file() and not args.no_int8:
        from training.export_onnx import quantize_int8

        int8 = quantize_int8(path, workdir / int8.name)  # quantized on the fly
    return str(path), path, int8, args.checkpoint


if __name__ == "__main__":
    sys.exit(main())
