"""Evaluate a model: full-stream NLL per event on MIDI files, and sample statistics.

    python -m training.evaluate --model assets/models/NAME.onnx --midi-dir ../shared/data/asap \
        --split-csv ../shared/data/asap/split.csv --split test [--limit N] \
        [--sample-stats [--samples 4 --seconds 30 --temperature 1.0]]

``--model`` is an exported ``.onnx`` (scored step by step through ``perfjam.model``: the app's
path, slow) or a training checkpoint ``.pt`` (scored with torch by the trainer's
``training.evaluate_lib.stream_nll``: batched across files, in chunks that carry the state).
Either way each performance is encoded, streamed from the zero state through the whole file,
and every event after the first is scored; ``nll_per_event`` is the mean in nats over all
scored events of all files. Conditioned models get the controls computed from the real file
(``perfjam.controls.controls_for_events``; input i carries the control of event i + 1).

``--sample-stats`` generates ``--samples`` performances with ``perfjam.generate`` and reports
``perfjam.stats`` for them next to the same statistics of the evaluated files.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfjam.codec.events import Vocab, vocab_by_name
from perfjam.codec.midifile import encode_midi
from perfjam.controls import control_vector, controls_for_events
from perfjam.model import ModelError, PerformanceModel, Sampler
from perfjam.stats import performance_from_events, performance_stats
from training.model import PerformanceRNN


@dataclass(frozen=True)
class NllResult:
    total_nats: float
    events: int  # scored events (every event of a file but its first)

    @property
    def mean(self) -> float:
        return self.total_nats / self.events if self.events else float("nan")


def input_controls(events: np.ndarray, vocab: Vocab) -> np.ndarray:
    """Controls for the inputs ``events[:-1]``: input i carries the control of the event it
    predicts (i + 1), as in training (``training.dataset``) and Magenta."""
    return controls_for_events(events, vocab)[1:]


# ----------------------------------------------------------------------------- data


def list_midi_files(midi_dir: Path, split_csv: Path | None = None, split: str | None = None) -> list[Path]:
    """MIDI files under ``midi_dir`` (sorted), optionally those of one split of a split CSV."""
    from training.prepare import find_midi_files, plan_sources

    if split_csv is None:
        if split is not None:
            raise ValueError("--split needs --split-csv (or a prepared --data directory)")
        return [midi_dir / f for f in find_midi_files(midi_dir)]
    sources, _ = plan_sources(midi_dir, split_csv)
    return [midi_dir / s.file for s in sources if split is None or s.split == split]


def load_eval_sequences(
    vocab: Vocab,
    midi_dir: Path | None = None,
    split_csv: Path | None = None,
    split: str | None = None,
    data_dir: Path | None = None,
    limit: int | None = None,
    max_events: int | None = None,
) -> list[np.ndarray]:
    """Event arrays (int64) from MIDI files or a prepared data directory, each cut to ``max_events``."""
    if data_dir is not None:
        from training.prepare import load_prepared, split_files

        tokens, offsets = load_prepared(data_dir, split or "test", vocab.name)
        arrays = split_files(tokens, offsets)[:limit]
    elif midi_dir is not None:
        arrays = []
        for path in list_midi_files(midi_dir, split_csv, split)[:limit]:
            try:
                arrays.append(np.asarray(encode_midi(path, vocab), np.int64))
            except Exception as exc:  # a corrupt file is reported and skipped, never a crash
                print(f"evaluate: skipping {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
    else:
        raise ValueError("give a MIDI directory or a prepared data directory")
    return [np.asarray(a[:max_events], np.int64) for a in arrays if len(a) >= 2]


# ----------------------------------------------------------------------------- NLL


def torch_nll(model: PerformanceRNN, sequences: Sequence[np.ndarray], batch_files: int = 16) -> NllResult:
    """Full-stream NLL with torch (``training.evaluate_lib.stream_nll``, shared with the trainer)."""
    from training.evaluate_lib import stream_nll

    mean, events = stream_nll(model, sequences, "cpu", batch_files=batch_files)
    return NllResult(mean * events if events else 0.0, events)


def onnx_nll(
    model: PerformanceModel,
    sequences: Sequence[np.ndarray],
    progress: Callable[[int], None] | None = None,
) -> NllResult:
    """Full-stream NLL through ``perfjam.model``, one event at a time (the app's path)."""
    vocab = model.info.vocab
    total, count = 0.0, 0
    for seq in sequences:
        seq = np.asarray(seq, np.int64)
        if len(seq) < 2:
            continue
        controls = input_controls(seq, vocab) if model.info.has_controls else None
        model.reset()
        for i in range(len(seq) - 1):
            logits = model.step(int(seq[i]), None if controls is None else controls[i]).astype(np.float64)
            peak = logits.max()
            total += float(peak + np.log(np.exp(logits - peak).sum()) - logits[seq[i + 1]])
        count += len(seq) - 1
        if progress is not None:
            progress(len(seq) - 1)
    return NllResult(total, count)


# ----------------------------------------------------------------------------- sample statistics


def _onnx_for_sampling(model_path: Path, torch_model: PerformanceRNN | None, tmp: Path) -> PerformanceModel:
    if torch_model is None:
        return PerformanceModel.load(model_path)
    from training.export_onnx import build_metadata, export_model

    out = tmp / f"{model_path.stem}.onnx"
    export_model(torch_model, out, build_metadata(torch_model, {}, model_path.stem))
    return PerformanceModel.load(out)


def sample_stats(
    model: PerformanceModel,
    data: Sequence[np.ndarray],
    samples: int,
    seconds: float,
    temperature: float,
    top_p: float | None,
    seed: int | None,
) -> dict:
    """``perfjam.stats`` of ``samples`` generated performances next to those of ``data``."""
    from perfjam.generate import default_primer, generate_events

    vocab = model.info.vocab
    data_stats = performance_stats([performance_from_events(seq, vocab) for seq in data])
    control = None
    if model.info.has_controls:  # ask for the data's density, any pitch class
        control = control_vector(data_stats.notes_per_s)
    generated = []
    for i in range(samples):
        sampler = Sampler(None if seed is None else seed + i)
        events = generate_events(model, default_primer(vocab), seconds, temperature, top_p, sampler, control)
        generated.append(performance_from_events(events, vocab))
    return {
        "settings": {"samples": samples, "seconds": seconds, "temperature": temperature, "top_p": top_p},
        "samples": performance_stats(generated).to_dict(),
        "data": data_stats.to_dict(),
    }


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, type=Path, help="an exported .onnx or a training checkpoint .pt")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--midi-dir", type=Path, help="folder of MIDI files (searched recursively)")
    source.add_argument("--data", type=Path, help="a prepared data directory (training.prepare)")
    p.add_argument("--split-csv", type=Path, help="CSV with midi_performance and split columns")
    p.add_argument("--split", default=None, help="split to evaluate (default: all files; test with --data)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N files")
    p.add_argument("--max-events", type=int, default=None, help="score only the first N events of each file")
    p.add_argument("--batch-size", type=int, default=16, help="files per torch batch (.pt models)")
    p.add_argument("--sample-stats", action="store_true", help="also compare statistics of generated samples")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = evaluate(args)
    except (ModelError, ValueError, OSError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


def evaluate(args: argparse.Namespace) -> dict:
    """The JSON report of ``main`` (see the module docstring)."""
    t0 = time.perf_counter()
    torch_model: PerformanceRNN | None = None
    if args.model.suffix == ".pt":
        from training.export_onnx import load_checkpoint

        torch_model, _ = load_checkpoint(args.model)
        vocab = vocab_by_name(torch_model.config.vocab)
    else:
        onnx_model = PerformanceModel.load(args.model)
        vocab = onnx_model.info.vocab
    sequences = load_eval_sequences(
        vocab, args.midi_dir, args.split_csv, args.split, args.data, args.limit, args.max_events
    )
    if torch_model is not None:
        nll = torch_nll(torch_model, sequences, batch_files=args.batch_size)
    else:
        nll = onnx_nll(onnx_model, sequences)
    report: dict = {
        "model": str(args.model),
        "backend": "torch" if torch_model is not None else "onnxruntime",
        "vocab": vocab.name,
        "files": len(sequences),
        "events": nll.events,
        "nll_per_event": nll.mean,
        "nll_seconds": round(time.perf_counter() - t0, 2),
    }
    if args.sample_stats:
        with tempfile.TemporaryDirectory() as tmp:
            model = _onnx_for_sampling(args.model, torch_model, Path(tmp))
            report["sample_stats"] = sample_stats(
                model, sequences, args.samples, args.seconds, args.temperature, args.top_p, args.seed
            )
    return report


if __name__ == "__main__":
    sys.exit(main())
