"""Evaluate a model: full-stream NLL per event on MIDI files, and sample statistics.

    python -m training.evaluate --model assets/models/NAME.onnx --midi-dir ../shared/data/asap \
        --split-csv ../shared/data/asap/split.csv --split test [--limit N] \
        [--sample-stats [--samples 4 --seconds 30 --temperature 1.0]]

``--model`` is an exported ``.onnx`` (scored step by step through ``perfjam.model``: the app's
path, slow) or a training checkpoint ``.pt`` (scored with torch by the trainer's
``training.evaluate_lib.stream_nll``: batched across files, in chunks that carry the state).
Either way each performance is encoded, streamed from the zero state through the whole file,
and every event after the first is scored; ``nll_per_event`` is the mean in nats over all
scored events of all files (the full vocabulary: comparable with published figures), and
``nll_per_event_grammar`` the same under the distribution the app samples from: the events the
grammar allows (``perfjam.codec.grammar``, from the zero state), the excluded mass given back in
the model's own mode (``grammar_mode``; ``nll_per_event_by_grammar_mode`` has both modes).
``grammar_violations`` counts the scored events the grammar excludes (must be 0; any makes the
grammar NLL infinite). ``nll_per_event_app`` is the NLL of the distribution the app samples from
by default before truncation (``perfjam.sampling.distribution``: the grammar; with ``--memory`` the
motif memory mixed in, ``training.motif``; ``app_sampling`` says which), and ``truncated_fraction`` the share
of the true next events that the app's default temperature / min-p / top-p would never sample
(a default that cuts away real music shows up there): scored through ONNX, the app's path (a
``.pt`` checkpoint is exported for it with ``--app``). Conditioned models get the controls
computed from the real file (``perfjam.controls.controls_for_events``; input i carries the control
of event i + 1).

``--sample-stats`` generates ``--samples`` performances with ``perfjam.generation`` and reports
``perfjam.stats`` for them next to the same statistics of the evaluated files.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perfjam.codec.events import vocab_by_name
from perfjam.codec.grammar import GRAMMAR_MODES, mode_for_model
from perfjam.controls import control_vector
from perfjam.model import SAMPLING_MODES, ModelError, PerformanceModel, Sampler
from perfjam.stats import performance_from_events, performance_stats
from training.model import PerformanceRNN
from training.scoring import AppSampling, load_eval_sequences, onnx_nll, torch_nll


def _progress_bar(total_events: int):
    """A tqdm bar on stderr for the step-by-step ONNX pass (None without tqdm)."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total_events, desc="scoring", unit="event", unit_scale=True, file=sys.stderr,
                mininterval=2.0)


# ----------------------------------------------------------------------------- sample statistics


def _onnx_for_sampling(model_path: Path, torch_model: PerformanceRNN | None, checkpoint: dict | None,
                       tmp: Path) -> PerformanceModel:
    if torch_model is None:
        return PerformanceModel.load(model_path)
    from training.export_onnx import build_metadata, export_model

    out = tmp / f"{model_path.stem}.onnx"
    export_model(torch_model, out, build_metadata(torch_model, checkpoint or {}, model_path.stem))
    return PerformanceModel.load(out)


def sample_stats(
    model: PerformanceModel,
    data: Sequence[np.ndarray],
    samples: int,
    seconds: float,
    temperature: float,
    top_p: float | None,
    seed: int | None,
    grammar_mode: str | None = None,
) -> dict:
    """``perfjam.stats`` of ``samples`` generated performances next to those of ``data``
    (sampled through the grammar in ``grammar_mode``, default the model's own)."""
    from perfjam.generation import default_primer, generate_events

    vocab = model.info.vocab
    data_stats = performance_stats([performance_from_events(seq, vocab) for seq in data])
    control = None
    if model.info.has_controls:  # ask for the data's density, any pitch class
        control = control_vector(data_stats.notes_per_s)
    generated = []
    for i in range(samples):
        sampler = Sampler(None if seed is None else seed + i)
        events = generate_events(model, default_primer(vocab), seconds, temperature, top_p, sampler, control,
                                 grammar_mode=grammar_mode)
        generated.append(performance_from_events(events, vocab))
    return {
        "settings": {"samples": samples, "seconds": seconds, "temperature": temperature, "top_p": top_p,
                     "grammar_mode": model.info.grammar_mode if grammar_mode is None else grammar_mode},
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
    p.add_argument("--free", action="store_true",
                   help="conditioned models: score with the 'no control' vector (how the app plays by "
                        "default) instead of the file's own controls")
    p.add_argument("--app", action="store_true",
                   help=".pt checkpoints: also score the app's distribution (exported to ONNX for it)")
    p.add_argument("--memory", action="store_true",
                   help="score the app's distribution with the motif memory mixed in (training.motif: "
                        "measured, not in the app)")
    p.add_argument("--sample-stats", action="store_true", help="also compare statistics of generated samples")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grammar-mode", default=None, choices=SAMPLING_MODES,
                   help="grammar mode for --sample-stats (default: the model's own; 'none': no grammar)")
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


def _onnx_pass(model: PerformanceModel, sequences, modes, free: bool, app: AppSampling):
    bar = _progress_bar(sum(len(s) - 1 for s in sequences))
    try:
        return onnx_nll(model, sequences, bar.update if bar is not None else None, modes, free, app)
    finally:
        if bar is not None:
            bar.close()


def evaluate(args: argparse.Namespace) -> dict:
    """The JSON report of ``main`` (see the module docstring)."""
    t0 = time.perf_counter()
    torch_model: PerformanceRNN | None = None
    checkpoint: dict | None = None
    if args.model.suffix == ".pt":
        from training.export_onnx import grammar_loss_of, load_checkpoint

        torch_model, checkpoint = load_checkpoint(args.model)
        vocab = vocab_by_name(torch_model.config.vocab)
        mode = mode_for_model({"grammar_loss": grammar_loss_of(checkpoint)})
    else:
        onnx_model = PerformanceModel.load(args.model)
        vocab = onnx_model.info.vocab
        mode = onnx_model.info.grammar_mode
    modes = (mode, *[m for m in GRAMMAR_MODES if m != mode])
    sequences = load_eval_sequences(
        vocab, args.midi_dir, args.split_csv, args.split, args.data, args.limit, args.max_events
    )
    app = dataclasses.replace(AppSampling.app_default(), memory=args.memory)
    app_nll = None
    if torch_model is not None:
        nll = torch_nll(torch_model, sequences, batch_files=args.batch_size, grammar_modes=modes,
                        free=args.free)
        if args.app:
            with tempfile.TemporaryDirectory() as tmp:
                exported = _onnx_for_sampling(args.model, torch_model, checkpoint, Path(tmp))
                app_nll = _onnx_pass(exported, sequences, (mode,), args.free, app)
    else:
        nll = app_nll = _onnx_pass(onnx_model, sequences, modes, args.free, app)
    report: dict = {
        "model": str(args.model),
        "backend": "torch" if torch_model is not None else "onnxruntime",
        "controls": "no-control (free)" if args.free else "the file's",
        "vocab": vocab.name,
        "files": len(sequences),
        "events": nll.events,
        "nll_per_event": nll.mean,
        "nll_per_event_grammar": nll.grammar_mean(mode),
        "grammar_mode": mode,
        "nll_per_event_by_grammar_mode": {m: nll.grammar_mean(m) for m in modes},
        "grammar_violations": nll.violations,
        "nll_per_event_app": app_nll.app_mean if app_nll is not None else None,
        "truncated_fraction": app_nll.truncated_fraction if app_nll is not None else None,
        "app_sampling": dataclasses.asdict(app),
        "nll_seconds": round(time.perf_counter() - t0, 2),
    }
    if args.sample_stats:
        with tempfile.TemporaryDirectory() as tmp:
            model = _onnx_for_sampling(args.model, torch_model, checkpoint, Path(tmp))
            report["sample_stats"] = sample_stats(
                model, sequences, args.samples, args.seconds, args.temperature, args.top_p, args.seed,
                args.grammar_mode,
            )
    return report


if __name__ == "__main__":
    sys.exit(main())
