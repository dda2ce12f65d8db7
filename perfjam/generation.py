"""Generation as a library: primers (what the model hears first) and sampled continuations.

``perfjam generate`` (``perfjam.generate``, the CLI only), the live engine (a solo primer, the
note-length rule), the listening report and the evaluation use it; it runs on ``perfjam.model``.

A primer is a single 10 ms TIME_SHIFT (``default_primer``), a chord (``primer_from_pitches``) or
a MIDI file (``load_primer``). A file brings at most its last ``PRIMER_MAX_S`` seconds and its
last ``PRIMER_MAX_NOTES`` notes, each note at most ``MAX_NOTE_S`` long, so that no file makes the
model (or the live AI) play thousands of notes at once or hear hours of silence; ``Primer.cut``
says in one line what was left out. A file that cannot be used raises ``PrimerError`` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from perfjam.codec.midifile import MidiFileError, read_notes
from perfjam.controls import DEFAULT_NOTES_PER_S, requested_control
from perfjam.follow import KeyFollower, PlayingFollower
from perfjam.model import NO_GRAMMAR, SAMPLING_MODES, PerformanceModel, Sampler

PRIMER_CHORD_S = 0.5  # as Magenta's --primer_pitches: one quarter note at 120 bpm
PRIMER_VELOCITY = 100
DEFAULT_DENSITY_NOTES_PER_S = DEFAULT_NOTES_PER_S  # a conditioned model's density when one is asked for
MAX_EVENTS_PER_S = 1000  # a safety net against a model that never advances time
MAX_NOTE_S = 8.0  # no note is held longer: generated, live AI (EngineConfig.max_note_s) or primer
PRIMER_MAX_S = 10.0  # a primer file brings its last 10 s...
PRIMER_MAX_NOTES = 400  # ...and at most its last 400 notes (40 notes/s for 10 s: more than a pianist)

Progress = Callable[[float], None]  # called with the seconds generated so far


class PrimerError(ValueError):
    """A primer file that cannot be used; the message is one line naming the file and the reason."""


@dataclass(frozen=True)
class Primer:
    """A primer taken from a file: its events, and what was left out of the file."""

    events: tuple[int, ...]
    notes: int  # notes kept
    file_notes: int  # notes in the file
    duration_s: float  # from the start of the kept part to its last note's end
    shortened: int = 0  # notes held longer than MAX_NOTE_S, cut to it

    @property
    def cut(self) -> str | None:
        """One line saying what was left out ("primer: kept the last 10.0 s (312 of 10,000 notes)"),
        or None when the primer is the whole file."""
        parts = []
        if self.notes < self.file_notes:
            kept = f"{self.notes:,} of {self.file_notes:,} notes"
            parts.append(f"kept the last {self.duration_s:.1f} s ({kept})")
        if self.shortened:
            plural = "s" if self.shortened > 1 else ""
            parts.append(f"{self.shortened:,} note{plural} shortened to {MAX_NOTE_S:g} s")
        return "primer: " + "; ".join(parts) if parts else None


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


def primer_from_notes(notes: Sequence[Note], vocab: Vocab) -> Primer:
    """The bounded primer of a performance (``notes`` sorted by start, as ``read_notes`` gives them).

    Every note is cut to ``MAX_NOTE_S``; then only the notes that start in the last
    ``PRIMER_MAX_S`` before the last note's end are kept, and of those the last
    ``PRIMER_MAX_NOTES``. The primer starts where the kept part starts (its time 0): the end of
    the file less ``PRIMER_MAX_S`` (or time 0 for a shorter file), or the first kept note when
    the note limit cut it."""
    if not notes:
        raise ValueError("a primer needs at least one note")
    end_s = max(min(n.end_s, n.start_s + MAX_NOTE_S) for n in notes)
    origin_s = max(0.0, end_s - PRIMER_MAX_S)
    kept = [n for n in notes if n.start_s >= origin_s]  # never empty: MAX_NOTE_S < PRIMER_MAX_S
    if len(kept) > PRIMER_MAX_NOTES:
        kept = kept[-PRIMER_MAX_NOTES:]
        origin_s = kept[0].start_s
    shortened = sum(n.end_s - n.start_s > MAX_NOTE_S for n in kept)
    kept = [Note(n.pitch, n.velocity, n.start_s - origin_s, min(n.end_s, n.start_s + MAX_NOTE_S) - origin_s)
            for n in kept]
    events = tuple(encode_notes(kept, vocab))
    return Primer(events, len(kept), len(notes), end_s - origin_s, shortened)


def load_primer(path: str | Path, vocab: Vocab) -> Primer:
    """The bounded primer of a MIDI file (``primer_from_notes``); ``PrimerError`` naming the file
    for one that is missing, unreadable, corrupt, of an unsupported type or without notes."""
    try:
        notes = read_notes(path)
    except MidiFileError as exc:
        raise PrimerError(str(exc)) from None
    if not notes:
        raise PrimerError(f"{path}: no notes to continue")
    return primer_from_notes(notes, vocab)


def primer_requests(notes: Sequence[Note]) -> tuple[float | None, tuple[float, ...] | None]:
    """What the live engine would ask for after hearing ``notes`` (Follow me, ``perfjam.follow``):
    the density (notes/s) and pitch-class histogram at the last note-on, either None where the
    notes tell nothing."""
    key, playing = KeyFollower(), PlayingFollower()
    for n in sorted(notes, key=lambda n: n.start_s):
        key.note_on(n.start_s, n.pitch, n.velocity)
        playing.note_on(n.start_s, n.pitch, n.velocity)
    last_s = max((n.start_s for n in notes), default=0.0)
    return playing.notes_per_s(), key.histogram(last_s)


def primer_control(control_size: int, notes: Sequence[Note], follow_density: bool = True,
                   follow_key: bool = True) -> np.ndarray | None:
    """The control a conditioned model plays a primer's continuation with: the primer's density
    and key followed (each unless turned off), or free play where neither applies."""
    notes_per_s, histogram = primer_requests(notes)
    return requested_control(control_size, notes_per_s if follow_density else None,
                             histogram if follow_key else None)


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
    min_p: float | None = None,
    memory=None,
    note_min_p: float | None = None,
) -> list[int]:
    """The primer followed by sampled events that advance time by ``seconds``.

    Every event fed to the model (primer, sampled, forced) also advances a ``GrammarState``
    (``perfjam.codec.grammar``, from the zero state), and each event is sampled from the
    grammar's distribution: an event the encoder could never write (a NOTE_OFF of a silent
    pitch, a TIME_SHIFT after a short one, ...) has zero probability, and so has a NOTE_OFF the
    decoder would ignore (``GrammarState.effective``). ``grammar_mode`` is one of
    ``perfjam.model.SAMPLING_MODES``; None takes the model's own (``ModelInfo.grammar_mode``),
    ``"none"`` samples without the grammar (the old behaviour, for measurements).

    ``memory`` (for measurements: a fresh ``training.motif.MotifMemory``) hears every NOTE_ON of
    the primer and of the continuation, and its prediction is mixed into each sampled distribution.

    A note the model holds longer than ``max_note_s`` is released by a NOTE_OFF fed to the model
    (the live engine's rule for AI notes), so no sample holds a note forever.

    The model is reset, then fed the primer and every sampled event. The last TIME_SHIFT is
    shortened so the continuation lasts exactly ``seconds`` after the primer (unless
    ``max_events``, default ``MAX_EVENTS_PER_S`` per second, stops it first). ``control`` is used
    at every step of a conditioned model. A model that outputs non-finite logits raises
    ``perfjam.model.ModelError``.
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
            if memory is not None:
                memory.note_on(index)
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
            index = sampler.sample(logits, temperature, top_p, grammar.effective(), mode, min_p=min_p,
                                   memory=memory, note_min_p=note_min_p)
        else:
            index = sampler.sample(logits, temperature, top_p, min_p=min_p, memory=memory,
                                   note_min_p=note_min_p)
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
