"""Free generation with and without the event grammar, against real performances.

    python -m benchmarks.grammar_sampling [--model perfjam-dynamics ...] [--seconds 120] \
        [--seeds 0 1 2 3 4] [--temperature 1.0] [--data data/asap-v2 --split test] [--out FILE.json]

For each model and sampling mode (``none``: the old behaviour, no grammar; ``renormalize``;
``type-preserving``) it generates ``--seconds`` from the default primer per seed with
``perfjam.generation.generate_events`` (notes held 8 s are released, as in the app; a conditioned
model asks for 8 notes/s) and reports, pooled over the seeds: the mean polyphony (time-weighted
sounding notes, ``perfjam.stats``), the median note length, the share of notes that reached the
8 s forced release, notes/s, the grammar violations of the stream and the NOTE_OFFs of silent
pitches (which the decoder ignores). The same statistics of the real performances of the data
split (whole files) come alongside, and the per-call cost of ``Sampler.sample`` with and
without the grammar. Prints one JSON object (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perfjam.codec.events import EventReader, EventType, Vocab
from perfjam.codec.grammar import GRAMMAR_MODES, GrammarState, violations
from perfjam.controls import control_vector
from perfjam.generation import DEFAULT_DENSITY_NOTES_PER_S, MAX_NOTE_S, default_primer, generate_events
from perfjam.model import NO_GRAMMAR, PerformanceModel, Sampler
from perfjam.stats import performance_from_events, performance_stats

MODES = (NO_GRAMMAR, *GRAMMAR_MODES)
FORCED_S = MAX_NOTE_S - 0.005  # a note this long was released by the 8 s rule


def stray_note_offs(events: Sequence[int], vocab: Vocab) -> int:
    """NOTE_OFFs of pitches the decoder has not sounding (it ignores them)."""
    reader, count = EventReader(vocab), 0
    for e in events:
        kind, pitch = vocab.event(int(e))
        count += kind == EventType.NOTE_OFF and pitch not in reader.sounding
        reader.feed(int(e))
    return count


def describe(streams: Sequence[Sequence[int]], vocab: Vocab) -> dict:
    performances = [performance_from_events(list(map(int, s)), vocab) for s in streams]
    stats = performance_stats(performances)
    lengths = np.array([n.end_s - n.start_s for p in performances for n in p.notes])
    note_offs = sum(int(np.count_nonzero((np.asarray(s) >= 128) & (np.asarray(s) < 256))) for s in streams)
    return {
        "performances": stats.performances,
        "notes": stats.notes,
        "duration_s": round(stats.duration_s, 1),
        "notes_per_s": round(stats.notes_per_s, 3),
        "polyphony_mean": round(stats.polyphony_mean, 3),
        "polyphony_max": stats.polyphony_max,
        "note_length_median_s": round(float(np.median(lengths)), 3) if len(lengths) else None,
        "forced_release_share": round(float(np.mean(lengths >= FORCED_S)), 4) if len(lengths) else None,
        "grammar_violations": sum(len(violations(s, vocab)) for s in streams),
        "stray_note_offs": sum(stray_note_offs(s, vocab) for s in streams),
        "note_offs": note_offs,
    }


def sampler_cost_us(vocab: Vocab, repeats: int = 20000) -> dict:
    """Per-call µs of Sampler.sample on a 388/356-logit vector, with and without the grammar."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=vocab.size) * 3).astype(np.float32)
    state = GrammarState(vocab)
    for e in default_primer(vocab):
        state.feed(e)
    mask, sampler = state.allowed(), Sampler(0)
    restrict = np.ones(vocab.size, bool)
    cases = {"none": lambda: sampler.sample(logits, 1.0)}
    for mode in GRAMMAR_MODES:
        cases[mode] = lambda mode=mode: sampler.sample(logits, 1.0, None, mask, mode)
        cases[f"{mode}+restrict"] = lambda mode=mode: sampler.sample(logits, 1.0, None, mask, mode, restrict)
    cases["type-preserving T=0.9 top_p=0.95"] = lambda: sampler.sample(logits, 0.9, 0.95, mask)
    return {name: round(min(timeit.repeat(f, number=repeats, repeat=3)) / repeats * 1e6, 2)
            for name, f in cases.items()}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grammar_sampling",
                                description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="name or .onnx (repeatable; default perfjam-dynamics)")
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--data", type=Path, default=Path("data/asap-v2"), help="prepared data (the real values)")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report: dict = {"settings": {k: getattr(args, k) for k in ("seconds", "seeds", "temperature", "split")},
                    "models": {}, "real": {}}
    t0 = time.perf_counter()
    for name in args.model or ["perfjam-dynamics"]:
        model = PerformanceModel.load(name)
        vocab = model.info.vocab
        control = control_vector(DEFAULT_DENSITY_NOTES_PER_S) if model.info.has_controls else None
        rows = {"default_mode": model.info.grammar_mode, "sampler_us": sampler_cost_us(vocab)}
        for mode in MODES:
            streams = [generate_events(model, default_primer(vocab), args.seconds, args.temperature, None,
                                       Sampler(seed), control, grammar_mode=mode) for seed in args.seeds]
            rows[mode] = describe(streams, vocab)
        report["models"][model.info.name] = rows
        if vocab.name not in report["real"] and args.data.is_dir():
            from training.prepare import load_prepared, split_files

            tokens, offsets = load_prepared(args.data, args.split, vocab.name)
            report["real"][vocab.name] = describe(split_files(tokens, offsets), vocab)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
