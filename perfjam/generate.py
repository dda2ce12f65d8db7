"""Offline generation: ``perfjam generate`` writes performances to MIDI (and WAV) files.

    perfjam generate --model perfjam-dynamics --primer-pitches 60,64,67 --seconds 30 \
        --temperature 1.0 --num-outputs 4 --seed 1 --out generated [--wav]

Generation runs on ``perfjam.model`` (onnxruntime), the same path as the live app. The model
starts from the zero state, hears the primer (a MIDI file, a chord of pitches held for
``PRIMER_CHORD_S``, or a single 10 ms TIME_SHIFT when there is none) and continues it until the
generated events have advanced time by ``seconds``. The written file holds the primer followed by
the continuation; decoding closes every note. Every event is sampled from the event grammar's
distribution (``perfjam.codec.grammar``; ``--grammar-mode``, default: the model's own), so the
model never releases a pitch that is not sounding.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from perfjam.codec.events import (
    MAX_SHIFT_STEPS,
    STEPS_PER_SECOND,
    EventType,
    Note,
    Vocab,
    encode_notes,
    seconds_to_step,
)
from perfjam.codec.grammar import GrammarState
from perfjam.codec.midifile import encode_midi, events_to_midi
from perfjam.controls import PITCH_CLASS_NAMES, SCALES, control_vector, scale_histogram
from perfjam.model import DEFAULT_MODEL, NO_GRAMMAR, SAMPLING_MODES, ModelError, PerformanceModel, Sampler

PRIMER_CHORD_S = 0.5  # as Magenta's --primer_pitches: one quarter note at 120 bpm
PRIMER_VELOCITY = 100
DEFAULT_DENSITY_NOTES_PER_S = 8.0
MAX_EVENTS_PER_S = 1000  # a safety net against a model that never advances time
MAX_NOTE_S = 8.0  # as the live engine's EngineConfig.max_note_s: no note is held longer

Progress = Callable[[float], None]  # called with the seconds generated so far


def default_primer(vocab: Vocab) -> list[int]:
    """A single 10 ms TIME_SHIFT: primes the model without choosing any pitch."""
    return [vocab.index(EventType.TIME_SHIFT, 1)]


def primer_from_pitches(
    pitches: Sequence[int], vocab: Vocab, duration_s: float = PRIMER_CHORD_S
) -> list[int]:
    """A chord of ``pitches`` at time 0, held for ``duration_s``."""
    for pitch in pitches:
        if not 0 <= pitch <= 127:
            raise ValueError(f"primer pitch {pitch} outside 0..127")
    return encode_notes([Note(p, PRIMER_VELOCITY, 0.0, duration_s) for p in dict.fromkeys(pitches)], vocab)


def primer_from_midi(path: str | Path, vocab: Vocab) -> list[int]:
    events = encode_midi(path, vocab)
    if not events:
        raise ValueError(f"primer {path} has no notes")
    return events


def generate_events(
    model: PerformanceModel,
    primer_events: Sequence[int],
    seconds: float,
    temperature: float = 1.0,
    top_p: float | None = None,
    sampler: Sampler | None = None,
    control: np.ndarray | None = None,
    progress: Progress | None = None,
    max_events: int | None = None,
    max_note_s: float | None = MAX_NOTE_S,
    grammar_mode: str | None = None,
) -> list[int]:
    """The primer followed by sampled events that advance time by ``seconds``.

    Every event fed to the model (primer, sampled, forced) also advances a ``GrammarState``
    (``perfjam.codec.grammar``, from the zero state), and each event is sampled from the
    grammar's distribution: an event the encoder could never write (a NOTE_OFF of a silent
    pitch, a TIME_SHIFT after a short one, ...) has zero probability, and so has a NOTE_OFF the
    decoder would ignore (``GrammarState.effective``). ``grammar_mode`` is one of
    ``perfjam.model.SAMPLING_MODES``; None takes the model's own (``ModelInfo.grammar_mode``),
    ``"none"`` samples without the grammar (the old behaviour, for measurements).

    A note the model holds longer than ``max_note_s`` is released by a NOTE_OFF fed to the model
    (the live engine's rule for AI notes), so no sample holds a note forever.

    The model is reset, then fed the primer and every sampled event. The last TIME_SHIFT is
    shortened so the continuation lasts exactly ``seconds`` (unless ``max_events``, default
    ``MAX_EVENTS_PER_S`` per second, stops it first). ``control`` is used at every step of a
    conditioned model.
    """
    if not primer_events:
        raise ValueError("generation needs at least one primer event (see default_primer)")
    sampler = sampler or Sampler()
    vocab = model.info.vocab
    mode = model.info.grammar_mode if grammar_mode is None else grammar_mode
    if mode not in SAMPLING_MODES:
        raise ValueError(f"unknown grammar mode {mode!r}; known: {', '.join(SAMPLING_MODES)}")
    grammar = GrammarState(vocab)
    use_mask = mode != NO_GRAMMAR
    off_offset = vocab.offsets[EventType.NOTE_OFF]
    shift_offset = vocab.offsets[EventType.TIME_SHIFT]
    target_steps = seconds_to_step(seconds)
    budget = max_events if max_events is not None else max(1, int(seconds * MAX_EVENTS_PER_S))

    max_note_steps = seconds_to_step(max_note_s) if max_note_s else None
    onset_steps: dict[int, int] = {}  # sounding pitch -> step of its NOTE_ON
    step = 0

    def follow(index: int) -> None:
        nonlocal step
        grammar.feed(index)
        if index < off_offset:
            onset_steps[index] = step
        elif index < shift_offset:
            onset_steps.pop(index - off_offset, None)
        elif index < shift_offset + MAX_SHIFT_STEPS:
            step += index - shift_offset + 1

    model.reset()
    for index in primer_events:
        logits = model.step(int(index), control)
        follow(int(index))
    events = [int(i) for i in primer_events]
    elapsed_steps = 0
    for _ in range(budget):
        if max_note_steps is not None:
            for pitch in [p for p, onset in onset_steps.items() if step - onset >= max_note_steps]:
                if not grammar.is_allowed(off_offset + pitch):
                    break  # right after a VELOCITY (its NOTE_ON comes first, at the same step)
                events.append(off_offset + pitch)
                follow(off_offset + pitch)
                logits = model.step(off_offset + pitch, control)
        if elapsed_steps >= target_steps:
            break
        if use_mask:
            index = sampler.sample(logits, temperature, top_p, grammar.effective(), mode)
        else:
            index = sampler.sample(logits, temperature, top_p)
        if shift_offset <= index < shift_offset + MAX_SHIFT_STEPS:
            shift = min(index - shift_offset + 1, target_steps - elapsed_steps)
            index = shift_offset + shift - 1
            elapsed_steps += shift
            if progress is not None:
                progress(elapsed_steps / STEPS_PER_SECOND)
        events.append(index)
        follow(index)
        if elapsed_steps < target_steps:
            logits = model.step(index, control)
    return events


# ----------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"name or .onnx path (default: {DEFAULT_MODEL})")
    primer = parser.add_mutually_exclusive_group()
    primer.add_argument("--primer", type=Path, metavar="FILE.mid", help="continue this MIDI file")
    primer.add_argument("--primer-pitches", metavar="P1,P2,...", help="start from a chord, e.g. 60,64,67")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="length of each continuation (default: 30)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature; 0 = greedy")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold in (0, 1]")
    parser.add_argument("--grammar-mode", default=None, choices=SAMPLING_MODES,
                        help="how the event grammar shares out the excluded probability (default: the "
                             "model's own; 'none' samples without the grammar, for comparison only)")
    control = parser.add_argument_group("controls (conditioned models only)")
    control.add_argument("--density", type=float, default=None, metavar="NOTES_PER_S",
                         help=f"note density (default: {DEFAULT_DENSITY_NOTES_PER_S:g})")
    control.add_argument("--key", default=None, choices=PITCH_CLASS_NAMES,
                         help="key of the scale (default: C)")
    control.add_argument("--scale", default=None, choices=sorted(SCALES), help="default: chromatic")
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


def _controls(args: argparse.Namespace, model: PerformanceModel) -> np.ndarray | None:
    given = [f"--{n}" for n in ("density", "key", "scale") if getattr(args, n) is not None]
    if not model.info.has_controls:
        if given:
            ignored = ", ".join(given)
            print(f"generate: {model.info.name} has no controls; ignoring {ignored}", file=sys.stderr)
        return None
    density = args.density if args.density is not None else DEFAULT_DENSITY_NOTES_PER_S
    histogram = scale_histogram(args.key or "C", args.scale or "chromatic")
    return control_vector(density, histogram)


def _primer(args: argparse.Namespace, vocab: Vocab) -> list[int]:
    if args.primer is not None:
        return primer_from_midi(args.primer, vocab)
    if args.primer_pitches:
        try:
            pitches = [int(p) for p in args.primer_pitches.replace(" ", "").split(",") if p]
        except ValueError:
            raise ValueError(
                f"--primer-pitches must be integers like 60,64,67, not {args.primer_pitches!r}"
            ) from None
        return primer_from_pitches(pitches, vocab)
    return default_primer(vocab)


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.num_outputs < 1:
        print("generate: --seconds must be > 0 and --num-outputs >= 1", file=sys.stderr)
        return 2
    if args.top_p is not None and not 0.0 < args.top_p <= 1.0:
        print("generate: --top-p must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        model = PerformanceModel.load(args.model)
        primer = _primer(args, model.info.vocab)
    except (ModelError, ValueError, OSError, EOFError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2
    soundfont = None
    if args.wav:  # find the SoundFont before spending time on generation
        try:
            from perfjam.synth import find_soundfont  # pyfluidsynth only when WAVs are asked for

            soundfont = find_soundfont(args.soundfont)
        except (ImportError, OSError, RuntimeError) as exc:  # SynthError is a RuntimeError
            print(f"generate: cannot render WAV: {exc}", file=sys.stderr)
            return 2
    control = _controls(args, model)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    desc = f"generating {args.num_outputs} x {args.seconds:g} s"
    bar = _progress_bar(args.seconds * args.num_outputs, desc)
    written: list[Path] = []
    try:
        for i in range(args.num_outputs):
            sampler = Sampler(None if args.seed is None else args.seed + i)
            events = generate_events(
                model, primer, args.seconds, args.temperature, args.top_p, sampler, control, _updater(bar),
                grammar_mode=args.grammar_mode,
            )
            path = args.out / f"{model.info.name}-{stamp}-{i + 1:02d}.mid"
            events_to_midi(events, model.info.vocab).save(str(path))
            written.append(path)
    finally:
        bar.close()
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
    from perfjam.synth import render_midi_to_wav  # pyfluidsynth only when WAVs are asked for

    wavs = []
    for midi_path in midi_paths:
        wav_path = midi_path.with_suffix(".wav")
        render_midi_to_wav(midi_path, wav_path, soundfont=soundfont)
        wavs.append(wav_path)
    return wavs
