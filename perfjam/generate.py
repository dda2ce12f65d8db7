"""``perfjam generate``: writes performances to MIDI (and WAV) files; the command line only.

    perfjam generate --model perfjam-dynamics --primer-pitches 60,64,67 --seconds 30 \
        --temperature 1.0 --num-outputs 4 --seed 1 --out generated [--wav]

The generation itself is ``perfjam.generation`` (on ``perfjam.model``, the same path as the live
app). The model starts from the zero state, hears the primer (a MIDI file, bounded as
``perfjam.generation.load_primer`` says, a chord of pitches held for ``PRIMER_CHORD_S``, or a
single 10 ms TIME_SHIFT when there is none) and continues it for ``--seconds`` of music after the
primer, whatever the primer file's tempo. The written file holds the primer followed by the
continuation; decoding closes every note. Every event is sampled from the event grammar's
distribution (``perfjam.codec.grammar``; ``--grammar-mode``, default: the model's own). A
conditioned model continues a primer at its density and in its key, as the live engine follows
a pianist (``perfjam.generation.primer_requests``; ``--no-follow-density``, ``--no-follow-key``),
unless ``--density`` / ``--key`` / ``--scale`` ask otherwise; with no primer and none of them it
plays freely (its "no control" input) when it has one.
Bad input (a model, a primer file) gets one line on stderr naming the file and why, and exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perfjam.cli_options import seed_problem
from perfjam.codec.events import Vocab
from perfjam.codec.midifile import decode_events, events_to_midi
from perfjam.controls import PITCH_CLASS_NAMES, SCALES, requested_control, scale_histogram
from perfjam.generation import (
    DEFAULT_DENSITY_NOTES_PER_S,
    PrimerError,
    Progress,
    default_primer,
    generate_events,
    load_primer,
    primer_from_pitches,
    primer_requests,
)
from perfjam.model import DEFAULT_MODEL, SAMPLING_MODES, ModelError, PerformanceModel, Sampler
from perfjam.sampling import DEFAULT_NOTE_MIN_P, DEFAULT_TEMPERATURE

MAX_SECONDS = 3600.0  # an hour of music per performance
MAX_OUTPUTS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"name or .onnx path (default: {DEFAULT_MODEL})")
    primer = parser.add_mutually_exclusive_group()
    primer.add_argument("--primer", type=Path, metavar="FILE.mid", help="continue this MIDI file")
    primer.add_argument("--primer-pitches", metavar="P1,P2,...", help="start from a chord, e.g. 60,64,67")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="seconds of music generated after the primer (default: 30)")
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                        help=f"0 = greedy (default: the app's, {DEFAULT_TEMPERATURE:g})")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold in (0, 1]")
    parser.add_argument("--note-min-p", type=float, default=DEFAULT_NOTE_MIN_P,
                        help="keep the note-ons with at least this share of the likeliest note-on's "
                             f"probability (default {DEFAULT_NOTE_MIN_P:g}, the app's; 0: off)")
    parser.add_argument("--min-p", type=float, default=None,
                        help="keep the events with at least this share of the likeliest one's probability")
    parser.add_argument("--grammar-mode", default=None, choices=SAMPLING_MODES,
                        help="how the event grammar shares out the excluded probability (default: the "
                             "model's own; 'none' samples without the grammar, for comparison only)")
    control = parser.add_argument_group(
        "controls (conditioned models only; a primer's density and key are followed, otherwise with "
        "none of them the model plays freely, or, for a model without the no-control input, at "
        f"{DEFAULT_DENSITY_NOTES_PER_S:g} notes/s)")
    control.add_argument("--density", type=float, default=None, metavar="NOTES_PER_S",
                         help="note density (default: the primer's; with --key/--scale and no primer: "
                              f"{DEFAULT_DENSITY_NOTES_PER_S:g})")
    control.add_argument("--key", default=None, choices=PITCH_CLASS_NAMES,
                         help="key of the scale (default: C)")
    control.add_argument("--scale", default=None, choices=sorted(SCALES), help="default: chromatic")
    control.add_argument("--no-follow-density", dest="follow_density", action="store_false",
                         help="do not continue at the primer's density")
    control.add_argument("--no-follow-key", dest="follow_key", action="store_false",
                         help="do not continue in the primer's key")
    parser.add_argument("--num-outputs", type=int, default=1, metavar="N", help="performances to write")
    parser.add_argument("--seed", type=int, default=None, help="random seed (output i uses seed + i)")
    parser.add_argument("--out", type=Path, default=Path("generated"),
                        help="output folder (default: generated)")
    parser.add_argument("--wav", action="store_true", help="also render WAV files with FluidSynth")
    parser.add_argument("--soundfont", type=Path, default=None, help="SF2 for --wav (default: found)")


class _LineProgress:
    """A minimal stderr progress line for when tqdm is not installed."""

    def __init__(self, total: float, desc: str) -> None:
        self.total, self.desc, self.n, self._shown = total, desc, 0.0, -1

    def update(self, delta: float) -> None:
        self.n += delta
        percent = int(100 * self.n / self.total) if self.total else 100
        if percent != self._shown:
            self._shown = percent
            print(f"\r{self.desc}: {percent:3d}% ({self.n:.1f}/{self.total:.1f} s)", end="", file=sys.stderr)

    def close(self) -> None:
        print(file=sys.stderr)


def _updater(bar) -> Progress:
    """A ``Progress`` callback that advances ``bar`` by the seconds generated since the last call."""
    done_s = 0.0

    def progress(generated_s: float) -> None:
        nonlocal done_s
        bar.update(generated_s - done_s)
        done_s = generated_s

    return progress


def _progress_bar(total_s: float, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return _LineProgress(total_s, desc)
    return tqdm(total=total_s, desc=desc, unit="s", bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s")


def _controls(args: argparse.Namespace, model: PerformanceModel, primer: list[int]) -> np.ndarray | None:
    given = [f"--{n}" for n in ("density", "key", "scale") if getattr(args, n) is not None]
    if not model.info.has_controls:
        if given:
            ignored = ", ".join(given)
            print(f"generate: {model.info.name} has no controls; ignoring {ignored}", file=sys.stderr)
        return None
    notes_per_s = args.density
    histogram = None
    if args.key is not None or args.scale is not None:
        histogram = scale_histogram(args.key or "C", args.scale or "chromatic")
    if args.primer is not None or args.primer_pitches:  # continue the primer as the engine follows
        followed_density, followed_key = primer_requests(decode_events(primer, model.info.vocab))
        if notes_per_s is None and args.follow_density:
            notes_per_s = followed_density
        if histogram is None and args.follow_key:
            histogram = followed_key
    return requested_control(model.info.control_size, notes_per_s, histogram)


def _primer(args: argparse.Namespace, vocab: Vocab) -> list[int]:
    """The primer's events (PrimerError / ValueError for bad input); says what a file lost."""
    if args.primer is not None:
        primer = load_primer(args.primer, vocab)
        if primer.cut:
            print(primer.cut, file=sys.stderr)
        return list(primer.events)
    if args.primer_pitches:
        try:
            pitches = [int(p) for p in args.primer_pitches.replace(" ", "").split(",") if p]
        except ValueError:
            raise ValueError(
                f"--primer-pitches must be integers like 60,64,67, not {args.primer_pitches!r}"
            ) from None
        return primer_from_pitches(pitches, vocab)
    return default_primer(vocab)


def bounds_problem(args: argparse.Namespace) -> str | None:
    """No runaway: at most ``MAX_SECONDS`` per performance and ``MAX_OUTPUTS`` of them; seeds >= 0."""
    if args.seconds > MAX_SECONDS or args.num_outputs > MAX_OUTPUTS:
        return f"at most --seconds {MAX_SECONDS:g} and --num-outputs {MAX_OUTPUTS}"
    return seed_problem(args.seed, args.num_outputs)


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.seconds) and args.seconds > 0) or args.num_outputs < 1:
        print("generate: --seconds must be a number > 0 and --num-outputs >= 1", file=sys.stderr)
        return 2
    if problem := bounds_problem(args):
        print(f"generate: {problem}", file=sys.stderr)
        return 2
    if not math.isfinite(args.temperature) or args.temperature < 0:
        print("generate: --temperature must be a number >= 0", file=sys.stderr)
        return 2
    if args.top_p is not None and not 0.0 < args.top_p <= 1.0:
        print("generate: --top-p must be in (0, 1]", file=sys.stderr)
        return 2
    for flag, value in (("--min-p", args.min_p), ("--note-min-p", args.note_min_p)):
        if value is not None and not 0.0 <= value <= 1.0:
            print(f"generate: {flag} must be in [0, 1]", file=sys.stderr)
            return 2
    try:
        model = PerformanceModel.load(args.model)
        primer = _primer(args, model.info.vocab)
    except (ModelError, PrimerError, ValueError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    soundfont = None
    if args.wav:  # find the SoundFont before spending time on generation
        try:
            from perfjam.synth import find_soundfont, require_fluidsynth  # only when WAVs are asked for

            require_fluidsynth()  # before spending time on generation
            soundfont = find_soundfont(args.soundfont)
        except (ImportError, OSError, RuntimeError) as exc:  # SynthError is a RuntimeError
            print(f"generate: cannot render WAV: {exc}", file=sys.stderr)
            return 2
    control = _controls(args, model, primer)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=args.out).close()  # a read-only folder is refused before generating
    except OSError as exc:
        print(f"generate: cannot write into {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stamp = time.strftime("%Y%m%d-%H%M%S")
    desc = f"generating {args.num_outputs} x {args.seconds:g} s"
    bar = _progress_bar(args.seconds * args.num_outputs, desc)
    written: list[Path] = []
    failure: BaseException | None = None
    try:
        for i in range(args.num_outputs):
            sampler = Sampler(None if args.seed is None else args.seed + i)
            try:
                events = generate_events(model, primer, args.seconds, args.temperature, args.top_p, sampler,
                                         control, _updater(bar), grammar_mode=args.grammar_mode,
                                         min_p=args.min_p, note_min_p=args.note_min_p or None)
            except ModelError as exc:  # e.g. non-finite logits: a broken model file
                failure = exc
                break
            path = args.out / f"{model.info.name}-{stamp}-{i + 1:02d}.mid"
            try:
                events_to_midi(events, model.info.vocab).save(str(path))
            except OSError as exc:  # e.g. the disk filled up
                failure = OSError(f"cannot write {path}: {exc.strerror or exc}")
                break
            written.append(path)
    except KeyboardInterrupt:  # Ctrl-C: what was written stays, without a traceback
        failure = KeyboardInterrupt()
    finally:
        bar.close()
    if isinstance(failure, KeyboardInterrupt):
        for path in written:
            print(path)
        print(f"generate: interrupted; {len(written)} of {args.num_outputs} written", file=sys.stderr)
        return 130
    if failure is not None:
        print(f"generate: {failure}", file=sys.stderr)
        return 2
    if args.wav:
        try:
            written += _render_wavs(written, soundfont)
        except (ImportError, OSError, RuntimeError) as exc:  # SynthError is a RuntimeError
            print(f"generate: WAV rendering failed: {exc}", file=sys.stderr)
            for path in written:
                print(path)
            return 1
    for path in written:
        print(path)
    return 0


def _render_wavs(midi_paths: Sequence[Path], soundfont: Path | None) -> list[Path]:
    from perfjam.render import render_midi_to_wav  # pyfluidsynth only when WAVs are asked for

    wavs = []
    for midi_path in midi_paths:
        wav_path = midi_path.with_suffix(".wav")
        render_midi_to_wav(midi_path, wav_path, soundfont=soundfont)
        wavs.append(wav_path)
    return wavs
