"""Performance event codec (Magenta's Performance RNN layout).

Vocabulary with dynamics (388 events)::

    0..127    NOTE_ON(pitch)
    128..255  NOTE_OFF(pitch)
    256..355  TIME_SHIFT(1..100 steps of 10 ms)
    356..387  VELOCITY(bin 1..32), bin = (velocity - 1) // 4 + 1

The variant without dynamics (356 events) drops the VELOCITY range and decodes every note
at ``DEFAULT_VELOCITY``.

One core serves both the offline and the live paths:

* ``EventWriter`` turns note actions at a step into event indices (TIME_SHIFTs for the
  elapsed steps, a VELOCITY event when the bin changes, then the NOTE_ON/NOTE_OFF).
* ``EventReader`` turns event indices back into ``NoteAction``s; a NOTE_ON on a sounding
  pitch re-strikes it (off, then on), a NOTE_OFF of a silent pitch is ignored, and
  ``close_all`` ends every note still open, so nothing ever hangs.
This module is pure (no MIDI library). ``perfjam.codec.pedal`` folds the sustain pedal into
note lengths, ``perfjam.codec.stream`` holds the live encoder/decoder and
``perfjam.codec.midifile`` reads and writes MIDI files; imports run that way only.

Quantization and order, as note-seq's ``quantize_note_sequence_absolute`` and
``Performance``: a time becomes step ``floor(time_s * 100 + 0.5)`` (halves round up); a note
ending in the step it began ends one step later. Notes are ranked by their *unquantized* start
time, then pitch (a rolled chord keeps its order even within one 10 ms step), and the actions by
(step, rank, is_off). Within a step, then, every note-off comes first (its note began in an
earlier step), in the order its notes began, and then the note-ons in the order they were played.
The live encoder (``perfjam.codec.stream``) holds a step's events until the step is over, so it
gives exactly the same order.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CODEC_VERSION = 2  # 1: a step by pitch, halves to even; 2: note-seq (order, rounding, pairing, pedal)
STEPS_PER_SECOND = 100
MAX_SHIFT_STEPS = 100
NUM_VELOCITY_BINS = 32
NUM_PITCHES = 128
DEFAULT_VELOCITY = 64


class EventType(enum.IntEnum):
    NOTE_ON = 0
    NOTE_OFF = 1
    TIME_SHIFT = 2
    VELOCITY = 3


@dataclass(frozen=True)
class _Range:
    type: EventType
    min_value: int
    max_value: int


_RANGES_DYNAMICS = (
    _Range(EventType.NOTE_ON, 0, NUM_PITCHES - 1),
    _Range(EventType.NOTE_OFF, 0, NUM_PITCHES - 1),
    _Range(EventType.TIME_SHIFT, 1, MAX_SHIFT_STEPS),
    _Range(EventType.VELOCITY, 1, NUM_VELOCITY_BINS),
)


@dataclass(frozen=True)
class Vocab:
    """A table of event ranges; index = offset of the range + (value - min_value)."""

    name: str
    ranges: tuple[_Range, ...]
    offsets: dict[EventType, int] = field(init=False, repr=False, compare=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        offsets: dict[EventType, int] = {}
        offset = 0
        for r in self.ranges:
            offsets[r.type] = offset
            offset += r.max_value - r.min_value + 1
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "size", offset)

    @property
    def dynamics(self) -> bool:
        return EventType.VELOCITY in self.offsets

    def index(self, event_type: EventType, value: int) -> int:
        r = self._range(event_type)
        if not r.min_value <= value <= r.max_value:
            raise ValueError(f"{event_type.name} value {value} outside {r.min_value}..{r.max_value}")
        return self.offsets[event_type] + value - r.min_value

    def event(self, index: int) -> tuple[EventType, int]:
        for r in self.ranges:
            offset = self.offsets[r.type]
            if offset <= index <= offset + r.max_value - r.min_value:
                return r.type, index - offset + r.min_value
        raise ValueError(f"event index {index} outside 0..{self.size - 1} of vocabulary {self.name!r}")

    def _range(self, event_type: EventType) -> _Range:
        for r in self.ranges:
            if r.type == event_type:
                return r
        raise ValueError(f"vocabulary {self.name!r} has no {event_type.name} events")

    def describe(self, index: int) -> str:
        event_type, value = self.event(index)
        return f"{event_type.name}({value})"


VOCAB_DYNAMICS = Vocab("dynamics", _RANGES_DYNAMICS)
VOCAB_NO_DYNAMICS = Vocab("nodynamics", _RANGES_DYNAMICS[:3])
VOCABS = {v.name: v for v in (VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS)}


def vocab_by_name(name: str) -> Vocab:
    try:
        return VOCABS[name]
    except KeyError:
        raise ValueError(f"unknown vocabulary {name!r}; known: {', '.join(VOCABS)}") from None


def velocity_to_bin(velocity: int) -> int:
    """MIDI velocity 1..127 -> bin 1..32."""
    return (max(1, min(127, velocity)) - 1) // 4 + 1


def bin_to_velocity(velocity_bin: int) -> int:
    """Bin 1..32 -> the lowest MIDI velocity of the bin."""
    return (velocity_bin - 1) * 4 + 1


def seconds_to_step(time_s: float) -> int:
    """The nearest step; a time halfway between two steps goes to the later one (as note-seq)."""
    return math.floor(time_s * STEPS_PER_SECOND + 0.5)


def step_to_seconds(step: int) -> float:
    return step / STEPS_PER_SECOND


@dataclass(frozen=True, slots=True)
class Note:
    """A note of a performance, in seconds (the offline codec's input and output)."""

    pitch: int
    velocity: int
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class NoteAction:
    step: int
    pitch: int
    velocity: int
    is_on: bool


class EventWriter:
    """Note actions -> event indices. State is (step, velocity_bin): cheap to save and restore."""

    def __init__(self, vocab: Vocab, step: int = 0, velocity_bin: int = 0) -> None:
        self.vocab = vocab
        self.step = step
        self.velocity_bin = velocity_bin  # 0: no VELOCITY event emitted yet

    @property
    def state(self) -> tuple[int, int]:
        return self.step, self.velocity_bin

    @state.setter
    def state(self, value: tuple[int, int]) -> None:
        self.step, self.velocity_bin = value

    def advance_to(self, step: int) -> list[int]:
        """TIME_SHIFT events up to ``step`` (a step in the past is clamped to now)."""
        events: list[int] = []
        shift_offset = self.vocab.offsets[EventType.TIME_SHIFT]
        while step > self.step:
            shift = min(MAX_SHIFT_STEPS, step - self.step)
            events.append(shift_offset + shift - 1)
            self.step += shift
        return events

    def note_on(self, step: int, pitch: int, velocity: int) -> list[int]:
        events = self.advance_to(step)
        if self.vocab.dynamics:
            velocity_bin = velocity_to_bin(velocity)
            if velocity_bin != self.velocity_bin:
                events.append(self.vocab.index(EventType.VELOCITY, velocity_bin))
                self.velocity_bin = velocity_bin
        events.append(self.vocab.index(EventType.NOTE_ON, pitch))
        return events

    def note_off(self, step: int, pitch: int) -> list[int]:
        events = self.advance_to(step)
        events.append(self.vocab.index(EventType.NOTE_OFF, pitch))
        return events

    def observe(self, index: int) -> None:
        """Follow an event written elsewhere (e.g. sampled by the model) into this stream."""
        event_type, value = self.vocab.event(index)
        if event_type == EventType.TIME_SHIFT:
            self.step += value
        elif event_type == EventType.VELOCITY:
            self.velocity_bin = value

    def action(self, action: NoteAction) -> list[int]:
        if action.is_on:
            return self.note_on(action.step, action.pitch, action.velocity)
        return self.note_off(action.step, action.pitch)


class EventReader:
    """Event indices -> note actions. Keeps the sounding pitches so no note can hang."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self.step = 0
        self.velocity = DEFAULT_VELOCITY
        self.sounding: dict[int, int] = {}  # pitch -> velocity

    @property
    def state(self) -> tuple[int, int, dict[int, int]]:
        return self.step, self.velocity, dict(self.sounding)

    @state.setter
    def state(self, value: tuple[int, int, dict[int, int]]) -> None:
        self.step, self.velocity, sounding = value
        self.sounding = dict(sounding)

    def feed(self, index: int) -> list[NoteAction]:
        event_type, value = self.vocab.event(index)
        if event_type == EventType.TIME_SHIFT:
            self.step += value
            return []
        if event_type == EventType.VELOCITY:
            self.velocity = bin_to_velocity(value)
            return []
        if event_type == EventType.NOTE_ON:
            actions = []
            if value in self.sounding:  # re-strike
                actions.append(NoteAction(self.step, value, 0, False))
            self.sounding[value] = self.velocity
            actions.append(NoteAction(self.step, value, self.velocity, True))
            return actions
        if self.sounding.pop(value, None) is None:
            return []  # NOTE_OFF of a silent pitch
        return [NoteAction(self.step, value, 0, False)]

    def close_all(self, step: int | None = None) -> list[NoteAction]:
        """Note-offs for every sounding pitch (at ``step``, default now)."""
        end = self.step if step is None else step
        actions = [NoteAction(end, p, 0, False) for p in sorted(self.sounding)]
        self.sounding.clear()
        return actions


def quantize_note(start_s: float, end_s: float) -> tuple[int, int]:
    """Start and end steps of a note; a note gets at least one step."""
    start = seconds_to_step(start_s)
    return start, max(seconds_to_step(end_s), start + 1)


def note_actions(notes: Iterable) -> list[NoteAction]:
    """note-seq's order: notes ranked by (unquantized start, pitch), actions by (step, rank, is_off)."""
    ranked = sorted(notes, key=lambda n: (n.start_s, n.pitch))
    keyed = []
    for rank, n in enumerate(ranked):
        start, end = quantize_note(n.start_s, n.end_s)
        keyed.append(((start, rank, False), NoteAction(start, n.pitch, n.velocity, True)))
        keyed.append(((end, rank, True), NoteAction(end, n.pitch, 0, False)))
    keyed.sort(key=lambda item: item[0])
    return [action for _, action in keyed]


def encode_notes(notes: Iterable, vocab: Vocab = VOCAB_DYNAMICS) -> list[int]:
    """Notes (objects with pitch, velocity, start_s, end_s) -> event indices."""
    writer = EventWriter(vocab)
    events: list[int] = []
    for action in note_actions(notes):
        events.extend(writer.action(action))
    return events


def decode_actions(events: Sequence[int], vocab: Vocab = VOCAB_DYNAMICS) -> list[NoteAction]:
    """Event indices -> note actions, every note closed at the end."""
    reader = EventReader(vocab)
    actions: list[NoteAction] = []
    for index in events:
        actions.extend(reader.feed(int(index)))
    last_step = reader.step
    if reader.sounding:
        # Give notes opened by the final events one step so they are not zero-length.
        last_on = max((a.step for a in actions if a.is_on), default=last_step)
        last_step = max(last_step, last_on + 1)
    actions.extend(reader.close_all(last_step))
    return actions
