"""Listen to models: samples as MIDI + WAV + piano roll, statistics against the data, broken-sound checks.

    python -m training.listen --model perfjam-dynamics [--model perfjam-control ...] --out reports/NAME \
        [--samples 4 --seconds 30 --temperature 1.0 --seed 0] [--data-dir data/asap-v2 --split test] \
        [--density 2 8 --key C --scale major] [--sweep 1 2 4 8 16 --sweep-seconds 20 --sweep-samples 2]

The model card's report (``MODEL``: the default model, ``perfjam.model.DEFAULT_MODEL``, at
temperature 1.0, free play): ``python -m training.listen --model MODEL --out reports/NAME --samples 8
--seconds 30 --data-dir data/asap-v2 --split test``.

Each model gives ``--samples`` samples of ``--seconds`` from the default primer (sample i: seed + i).
A conditioned model plays freely in its first set, as the app does by default
(``perfjam.controls.requested_control`` with nothing asked: the no-control vector, or
``DEFAULT_NOTES_PER_S`` at any pitch class for a model trained before the flag), then one set per
``--density`` (none unless given) at ``--key``/``--scale`` (default C chromatic); each set reports
its ``control`` and ``control_vector``. A sample ends with a *release tail* (the model runs on with
NOTE_ONs masked until every note is released, at most ``LONG_NOTE_S``): a note still open after it
is stuck, one merely cut off at the end is not.

``summary.json``/``summary.md`` (and, printed, each set's verdict and headline statistics) put the
samples' statistics next to the 5/50/95th percentiles over ``--seconds`` segments of the data split
(the notes starting in a segment, at full length) with the overlap area of the two distributions
and a ``passes`` flag per statistic, the notes held to the forced release, and what sounds broken
(trills, repetitions, silences, long and stuck notes; with the data's rate): see
``training.sample_stats``. A set ``passes`` when its headline statistics do and no sample has a
repetition, silence or forced release (``failed`` says why not). For conditioned models the
density is swept (achieved notes/s per request) and the share of notes in the scale measured at
two keys.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from tqdm import tqdm

from perfjam.codec.events import STEPS_PER_SECOND, EventReader, EventType
from perfjam.codec.grammar import GrammarState
from perfjam.codec.midifile import decode_events, events_to_midi
from perfjam.controls import (
    DEFAULT_NOTES_PER_S,
    DENSITY_BIN_EDGES,
    NO_CONTROL_INDEX,
    PITCH_CLASS_NAMES,
    SCALES,
    control_vector,
    requested_control,
    scale_histogram,
)
from perfjam.generation import DEFAULT_DENSITY_NOTES_PER_S, MAX_NOTE_S, default_primer, generate_events
from perfjam.model import NO_GRAMMAR, SAMPLING_MODES, ModelError, PerformanceModel, Sampler
from perfjam.stats import LONG_NOTE_S, Performance, performance_stats
from training.listen_report import headline_lines, write_markdown
from training.sample_stats import (
    CHECKS,
    Described,
    checks,
    compare,
    data_segments,
    describe,  # noqa: F401  (re-exported for tests/test_shipped_models.py)
    describe_all,
    forced_release_share,
    verdict,
)

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

SWEEP_DENSITIES = (1.0, 2.0, 4.0, 8.0, 16.0)
SCALE_KEYS = ("C", "F#")  # C major and F# major share only two pitch classes
BLACK_KEYS = {1, 3, 6, 8, 10}
Progress = Callable[[float], None]


def scale_share(notes: Sequence, key: int | str, scale: str) -> float:
    """The share of notes whose pitch class is in the scale (nan without notes)."""
    tonic = PITCH_CLASS_NAMES.index(key) if isinstance(key, str) else int(key)
    classes = {(tonic + d) % 12 for d in SCALES[scale]}
    return float(np.mean([n.pitch % 12 in classes for n in notes])) if notes else float("nan")


# ----------------------------------------------------------------------------- generation


@dataclass
class Sample:
    events: list[int]
    notes: list
    unclosed_notes: int  # notes still sounding after the release tail
    seconds: float  # primer + continuation (the release tail comes after)


def sample_performance(model: PerformanceModel, seconds: float, temperature: float = 1.0,
                       seed: int | None = None, control: np.ndarray | None = None,
                       progress: Progress | None = None, tail: bool = True,
                       max_events_per_s: float | None = None, grammar_mode: str | None = None) -> Sample:
    """``seconds`` generated from the default primer, then (``tail``) the release tail: the model
    runs on with only TIME_SHIFTs and NOTE_OFFs of sounding pitches allowed, until nothing sounds
    or ``LONG_NOTE_S`` has passed. ``max_events_per_s`` bounds the work (the sample then ends early).
    Sampling goes through the event grammar as ``perfjam.generation`` (``grammar_mode``, default the
    model's own), the tail too."""
    vocab, sampler = model.info.vocab, Sampler(seed)
    mode = model.info.grammar_mode if grammar_mode is None else grammar_mode
    primer = default_primer(vocab)
    budget = None if max_events_per_s is None else max(1, int(seconds * max_events_per_s))
    events = generate_events(model, primer, seconds, temperature, None, sampler, control, progress, budget,
                             grammar_mode=mode)
    shift0, off0 = vocab.offsets[EventType.TIME_SHIFT], vocab.offsets[EventType.NOTE_OFF]
    steps = sum(e - shift0 + 1 for e in events if shift0 <= e < shift0 + 100)
    reader = EventReader(vocab)
    grammar = GrammarState(vocab)
    onset_steps: dict[int, int] = {}
    for index in events:
        grammar.feed(index)
        for action in reader.feed(index):
            if action.is_on:
                onset_steps[action.pitch] = action.step
    # generate_events feeds every event but the one that reached the end (unless its budget ran out)
    tail_steps, tail_budget, last = 0, round(LONG_NOTE_S * STEPS_PER_SECOND), events[-1]
    max_note_steps = round(MAX_NOTE_S * STEPS_PER_SECOND)
    while tail and reader.sounding and tail_steps < tail_budget and steps > round(seconds * STEPS_PER_SECOND):
        logits = model.step(last, control)
        overdue = [p for p in reader.sounding if reader.step - onset_steps.get(p, 0) >= max_note_steps]
        if overdue:  # generate_events' rule: no note is held longer than MAX_NOTE_S
            last = off0 + overdue[0]
            reader.feed(last)
            grammar.feed(last)
            events.append(last)
            continue
        allowed = np.zeros(vocab.size, bool)
        allowed[shift0 : shift0 + 100] = True
        allowed[[off0 + p for p in reader.sounding]] = True
        if mode == NO_GRAMMAR:
            last = sampler.sample(np.where(allowed, logits, -np.inf), temperature)
        else:
            last = sampler.sample(logits, temperature, None, allowed & grammar.effective(), mode)
        if shift0 <= last < shift0 + 100:
            last = shift0 + min(last - shift0 + 1, tail_budget - tail_steps) - 1
            tail_steps += last - shift0 + 1
        reader.feed(last)
        grammar.feed(last)
        events.append(last)
    return Sample(events, decode_events(events, vocab), len(reader.sounding), steps / STEPS_PER_SECOND)


def density_sweep(model: PerformanceModel, densities: Sequence[float] = SWEEP_DENSITIES,
                  seconds: float = 20.0, samples: int = 2, temperature: float = 1.0, seed: int = 0,
                  pitch_histogram: np.ndarray | None = None, progress: Progress | None = None,
                  max_events_per_s: float | None = None) -> list[dict]:
    """Achieved notes/s (onsets / ``seconds``) per requested density, over ``samples`` seeds."""
    if not model.info.has_controls:
        raise ValueError(f"model {model.info.name!r} has no controls: no density sweep")
    rows = []
    edges = (0.0, *DENSITY_BIN_EDGES, float("inf"))
    for density in densities:
        control = control_vector(density, pitch_histogram)
        achieved = [len(sample_performance(model, seconds, temperature, seed + i, control, progress, False,
                                           max_events_per_s).notes) / seconds for i in range(samples)]
        b = int(np.searchsorted(DENSITY_BIN_EDGES, density, side="right"))  # perfjam.controls.density_bin
        rows.append({"requested": density, "bin": [edges[b], edges[b + 1]],
                     "achieved": float(np.mean(achieved)), "per_sample": [round(a, 3) for a in achieved]})
    return rows


def scale_check(model: PerformanceModel, keys: Sequence[str] = SCALE_KEYS, scale: str = "major",
                density: float = DEFAULT_DENSITY_NOTES_PER_S, seconds: float = 20.0, samples: int = 2,
                temperature: float = 1.0, seed: int = 0, progress: Progress | None = None) -> list[dict]:
    """Per requested key: the share of notes in its scale and in the other keys' scales (None
    without notes)."""
    rows = []
    for key in keys:
        control = control_vector(density, scale_histogram(key, scale))
        notes = []
        for i in range(samples):
            notes += sample_performance(model, seconds, temperature, seed + i, control, progress, False).notes
        share = {k: round(scale_share(notes, k, scale), 4) if notes else None for k in keys}
        rows.append({"key": key, "scale": scale, "notes": len(notes), "in_scale": share.pop(key),
                     "in_other_keys": share, "chance": round(len(SCALES[scale]) / 12, 4)})
    return rows


# ----------------------------------------------------------------------------- piano roll


def render_piano_roll(notes: Sequence, png_path: str | Path, title: str, end_s: float | None = None) -> Path:
    """A piano roll PNG: black-key rows shaded, notes coloured and faded by velocity, a velocity lane."""
    end_s = max([end_s or 0.0, *(n.end_s for n in notes)]) or 1.0
    low = min((n.pitch for n in notes), default=60) - 2
    high = max((n.pitch for n in notes), default=72) + 2
    fig, (roll, lane) = plt.subplots(2, 1, figsize=(12, 5.5), dpi=100, sharex=True,
                                     gridspec_kw={"height_ratios": [5, 1], "hspace": 0.05})
    for pitch in range(low, high + 1):
        if pitch % 12 in BLACK_KEYS:
            roll.axhspan(pitch - 0.5, pitch + 0.5, color="#e4e4ea", lw=0)
        elif pitch % 12 == 0:
            roll.axhline(pitch - 0.5, color="#b0b0c0", lw=0.6)
    loudness = np.clip((np.array([n.velocity for n in notes], np.float64) - 16) / 96, 0, 1)
    colours = plt.get_cmap("plasma")(0.1 + 0.8 * loudness)
    if len(notes):
        colours[:, 3] = 0.35 + 0.65 * loudness
        starts = np.array([n.start_s for n in notes])
        roll.barh([n.pitch for n in notes], [n.end_s - n.start_s for n in notes], left=starts, height=0.8,
                  color=colours, edgecolor=colours[:, :3] * 0.6, linewidth=0.3)
        lane.vlines(starts, 0, [n.velocity for n in notes], colors=colours, lw=1.2)
    roll.set(xlim=(0, end_s), ylim=(low - 0.5, high + 0.5), ylabel="pitch", title=title)
    c_rows = [p for p in range(low, high + 1) if p % 12 == 0]
    roll.set_yticks(c_rows, [f"C{p // 12 - 1}" for p in c_rows])
    lane.set(ylim=(0, 128), yticks=[0, 64, 127], ylabel="velocity", xlabel="time (s)")
    fig.savefig(png_path, bbox_inches="tight")
    plt.close(fig)
    return Path(png_path)


# ----------------------------------------------------------------------------- one model


def _bar_progress(bar: tqdm) -> Progress:
    """A ``Progress`` for several generations in a row (each restarts its seconds at 0)."""
    last = 0.0

    def progress(generated_s: float) -> None:
        nonlocal last
        delta = generated_s - (last if generated_s >= last else 0.0)
        bar.update(max(0.0, min(delta, bar.total - bar.n)))  # float sums must not overshoot the total
        last = generated_s

    return progress


def sample_sets(control_size: int, density: Sequence[float] | None, key: str,
                scale: str) -> list[tuple[str, str, dict | None, np.ndarray | None]]:
    """(label, file infix, control settings, control vector) of a model's sample sets: a model
    without controls has one; a conditioned model free play first (``requested_control`` with nothing
    asked: the no-control vector, or ``DEFAULT_NOTES_PER_S`` for a model without the flag), then
    one set per requested ``density`` at ``key``/``scale``."""
    if not control_size:
        return [("default primer, no controls", "", None, None)]
    if control_size > NO_CONTROL_INDEX:
        free = ("free play (no control)", {"free": True, "no_control": True})
    else:  # trained before the flag: the app asks it for the old default
        free = (f"free play (no flag: {DEFAULT_NOTES_PER_S:g} notes/s, chromatic)",
                {"free": True, "no_control": False, "density": DEFAULT_NOTES_PER_S, "key": None,
                 "scale": "chromatic"})
    sets = [(free[0], "", free[1], requested_control(control_size))]
    for d in density or []:
        settings = {"free": False, "no_control": False, "density": d, "key": key, "scale": scale}
        sets.append((f"density {d:g} notes/s, {key} {scale}", f"d{d:g}-", settings,
                     requested_control(control_size, d, scale_histogram(key, scale))))
    return sets


def listen_to_model(model: PerformanceModel, args: argparse.Namespace, data: list[Described],
                    soundfont: Path | None, stem: str) -> dict:
    """Samples, files and the report entry of one model (``args`` as parsed by ``build_parser``)."""
    from perfjam.render import render_midi_to_wav

    info, key, scale = model.info, args.key or "C", args.scale or "chromatic"
    sets = sample_sets(info.control_size, args.density, key, scale)
    sweep_runs = args.sweep_samples * (len(args.sweep) + len(args.scale_keys)) if info.has_controls else 0
    total_s = len(sets) * args.samples * args.seconds + sweep_runs * args.sweep_seconds
    bar = tqdm(total=total_s, desc=info.name, unit="s", bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s")
    progress = _bar_progress(bar)
    report: dict = {k: getattr(info, k) for k in ("layers", "hidden", "control_size", "quantized", "val_nll",
                                                  "test_nll", "test_nll_grammar")}
    report["grammar_mode"] = args.grammar_mode or info.grammar_mode
    report.update(model=info.name, path=str(info.path), vocab=info.vocab.name, data_segments=len(data),
                  sets=[])
    try:
        for label, infix, settings, control in sets:
            rows, performances, described = [], [], []
            for i in range(args.samples):
                seed = args.seed + i
                sample = sample_performance(model, args.seconds, args.temperature, seed, control, progress,
                                            grammar_mode=args.grammar_mode)
                path = args.out / f"{stem}-{infix}{i + 1:02d}"
                events_to_midi(sample.events, info.vocab).save(str(path.with_suffix(".mid")))
                audio = render_midi_to_wav(path.with_suffix(".mid"), path.with_suffix(".wav"), soundfont)
                described.append(describe_all(sample.notes, sample.unclosed_notes, sample.seconds))
                stats = described[-1].stats
                title = f"{stem} · T={args.temperature:g} · {stats['notes_per_s']:.1f} notes/s"
                title += f" · {label}" if settings else ""
                render_piano_roll(sample.notes, path.with_suffix(".png"), title, sample.seconds)
                rows.append({"name": path.name, "seed": seed, "wav_rms": round(audio.rms, 5),
                             "wav_peak": round(audio.peak, 4), "broken": [c for c in CHECKS if stats[c]],
                             "stats": stats})
                performances.append(Performance(sample.notes, sample.unclosed_notes))
            comparison = compare(described, data, args.seed)
            checked = checks([d.stats for d in described], [d.stats for d in data])
            failed = verdict(comparison, checked)
            report["sets"].append({
                "label": label, "control": settings,
                "control_vector": None if control is None else [round(float(v), 4) for v in control],
                "samples": rows, "checks": checked, "pooled": performance_stats(performances).to_dict(),
                "forced_release": forced_release_share([d.stats for d in described]),
                "comparison": comparison, "flags": [k for k, v in comparison.items() if v.get("flag")],
                "passes": not failed, "failed": failed})
        if info.has_controls and args.sweep_samples > 0:
            sweep = density_sweep(model, args.sweep, args.sweep_seconds, args.sweep_samples, args.temperature,
                                  args.seed, scale_histogram(key, scale), progress)
            report["density_sweep"] = sweep
            report["density_monotonic"] = bool(np.all(np.diff([row["achieved"] for row in sweep]) > 0))
            density = args.density[0] if args.density else DEFAULT_DENSITY_NOTES_PER_S
            report["scale"] = scale_check(model, args.scale_keys, args.scale or "major", density,
                                          args.sweep_seconds, args.sweep_samples, args.temperature, args.seed,
                                          progress)
    finally:
        bar.close()
    return report


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.listen", description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", required=True, help="name or .onnx path (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="report folder, e.g. reports/NAME")
    p.add_argument("--samples", type=int, default=4, help="samples per set (free play, each --density)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each sample and data segment")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="sample i uses seed + i")
    p.add_argument("--grammar-mode", default=None, choices=SAMPLING_MODES,
                   help="samples' grammar mode (default: each model's own; 'none': no grammar)")
    p.add_argument("--data-dir", type=Path, default=Path("data/asap-v2"), help="prepared data")
    p.add_argument("--split", default="test")
    p.add_argument("--data-limit", type=int, default=None, help="use the split's first N files")
    p.add_argument("--density", type=float, nargs="+", default=None, metavar="NOTES_PER_S",
                   help="conditioned models: a sample set per density, after free play (default: none)")
    p.add_argument("--key", default=None, choices=PITCH_CLASS_NAMES, help="default C")
    p.add_argument("--scale", default=None, choices=sorted(SCALES), help="default chromatic (check: major)")
    p.add_argument("--sweep", type=float, nargs="+", default=list(SWEEP_DENSITIES), metavar="NOTES_PER_S")
    p.add_argument("--sweep-seconds", type=float, default=20.0)
    p.add_argument("--sweep-samples", type=int, default=2, help="seeds per sweep point (0: none)")
    p.add_argument("--scale-keys", nargs=2, default=list(SCALE_KEYS), choices=PITCH_CLASS_NAMES)
    p.add_argument("--soundfont", type=Path, default=None, help="SF2 for the WAVs (default: found)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.samples < 1 or args.seconds <= 0 or args.sweep_seconds <= 0 or args.sweep_samples < 0:
        print("listen: needs --samples >= 1, --seconds > 0, --sweep-seconds > 0, --sweep-samples >= 0",
              file=sys.stderr)
        return 2
    try:
        from perfjam.synth import find_soundfont

        soundfont = find_soundfont(args.soundfont)
        models = [PerformanceModel.load(m) for m in args.model]
    except (ModelError, OSError, RuntimeError) as exc:  # SynthError is a RuntimeError
        print(f"listen: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("samples", "seconds", "temperature", "seed")}
    summary: dict = {"settings": settings, "data": {"dir": str(args.data_dir), "split": args.split},
                     "models": []}
    data: dict[str, list[Described]] = {}  # vocabulary name -> described data segments
    stems: set[str] = set()
    for model in models:
        vocab = model.info.vocab
        if vocab.name not in data:
            try:
                segments = data_segments(args.data_dir, args.split, vocab, args.seconds, args.data_limit)
                data[vocab.name] = [describe_all(s, 0, args.seconds) for s in segments]
            except (OSError, ValueError) as exc:
                summary["data"]["error"] = f"no data to compare with: {exc}"
                print(f"listen: {summary['data']['error']}", file=sys.stderr)
                data[vocab.name] = []
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", model.info.path.name.removesuffix(".onnx")).strip("-")
        stem = stem if stem not in stems else f"{stem}-{len(stems) + 1}"
        stems.add(stem)
        summary["models"].append(listen_to_model(model, args, data[vocab.name], soundfont, stem))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(headline_lines(summary)))
    print(write_markdown(summary, args.out / "summary.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
