"""Live (streaming) side of the codec: pedal folding, incremental encoder and decoder.

The offline functions in ``perfjam.events`` / ``perfjam.notes`` use the same pieces:
``PedalFolder`` reads MIDI files, ``EventWriter``/``EventReader`` do the indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perfjam.events import (
    EventReader,
    EventWriter,
    Vocab,
    seconds_to_step,
    step_to_seconds,
)

SUSTAIN_CC = 64


@dataclass(frozen=True, slots=True)
class TimedNote:
    """A note-on or note-off at a time in seconds."""

    time_s: float
    pitch: int
    velocity: int
    is_on: bool


class PedalFolder:
    """Folds the sustain pedal (CC64 >= 64 is down) into note lengths, causally.

    A key released while the pedal is down keeps sounding until the pedal is released or the
    same pitch is struck again. A note-on on a sounding pitch re-strikes it (off, then on).
    """

    def __init__(self, sustain: bool = True) -> None:
        self.sustain = sustain
        self.pedal_down = False
        self.held: set[int] = set()  # keys physically down
        self.sustained: set[int] = set()  # keys up, still sounding through the pedal

    @property
    def sounding(self) -> set[int]:
        return self.held | self.sustained

    def note_on(self, time_s: float, pitch: int, velocity: int) -> list[TimedNote]:
        out = []
        if pitch in self.held or pitch in self.sustained:
            out.append(TimedNote(time_s, pitch, 0, False))
        self.sustained.discard(pitch)
        self.held.add(pitch)
        out.append(TimedNote(time_s, pitch, velocity, True))
        return out

    def note_off(self, time_s: float, pitch: int) -> list[TimedNote]:
        if pitch not in self.held:
            return []
        self.held.discard(pitch)
        if self.pedal_down:
            self.sustained.add(pitch)
            return []
        return [TimedNote(time_s, pitch, 0, False)]

    def pedal(self, time_s: float, down: bool) -> list[TimedNote]:
        if not self.sustain:
            return []
        self.pedal_down = down
        if down:
            return []
        out = [TimedNote(time_s, p, 0, False) for p in sorted(self.sustained)]
        self.sustained.clear()
        return out

    def release_all(self, time_s: float) -> list[TimedNote]:
        out = [TimedNote(time_s, p, 0, False) for p in sorted(self.sounding)]
        self.held.clear()
        self.sustained.clear()
        self.pedal_down = False
        return out

    def feed_bytes(self, time_s: float, data: Sequence[int]) -> list[TimedNote]:
        """A raw MIDI channel message (any channel) -> note actions."""
        if len(data) < 3:
            return []
        kind = data[0] & 0xF0
        if kind == 0x90 and data[2] > 0:
            return self.note_on(time_s, data[1], data[2])
        if kind == 0x80 or kind == 0x90:
            return self.note_off(time_s, data[1])
        if kind == 0xB0 and data[1] == SUSTAIN_CC:
            return self.pedal(time_s, data[2] >= 64)
        return []


class StreamEncoder:
    """Timestamped MIDI messages -> events, incrementally (live input).

    ``writer`` may be shared with whoever writes the rest of the stream (the engine also feeds
    the model's own events into it with ``EventWriter.observe``).
    """

    def __init__(self, vocab: Vocab, origin_s: float = 0.0, writer: EventWriter | None = None,
                 sustain: bool = True) -> None:
        self.origin_s = origin_s
        self.writer = writer or EventWriter(vocab)
        self.folder = PedalFolder(sustain)
        self.on_step: dict[int, int] = {}

    def step_at(self, time_s: float) -> int:
        return seconds_to_step(time_s - self.origin_s)

    def encode(self, notes: Sequence[TimedNote]) -> list[int]:
        events: list[int] = []
        for note in notes:
            step = self.step_at(note.time_s)
            if note.is_on:
                self.on_step[note.pitch] = step
                events.extend(self.writer.note_on(step, note.pitch, note.velocity))
            else:
                # A note gets at least one step, as in offline encoding.
                step = max(step, self.on_step.pop(note.pitch, step - 1) + 1)
                events.extend(self.writer.note_off(step, note.pitch))
        return events

    def feed_bytes(self, time_s: float, data: Sequence[int]) -> list[int]:
        return self.encode(self.folder.feed_bytes(time_s, data))

    def note_on(self, time_s: float, pitch: int, velocity: int) -> list[int]:
        return self.encode(self.folder.note_on(time_s, pitch, velocity))

    def note_off(self, time_s: float, pitch: int) -> list[int]:
        return self.encode(self.folder.note_off(time_s, pitch))

    def pedal(self, time_s: float, down: bool) -> list[int]:
        return self.encode(self.folder.pedal(time_s, down))

    def release_all(self, time_s: float) -> list[int]:
        return self.encode(self.folder.release_all(time_s))


class StreamDecoder:
    """Events -> timestamped note actions, incrementally (the model's output)."""

    def __init__(self, vocab: Vocab, origin_s: float = 0.0) -> None:
        self.origin_s = origin_s
        self.reader = EventReader(vocab)

    @property
    def time_s(self) -> float:
        return self.origin_s + step_to_seconds(self.reader.step)

    def feed(self, index: int) -> list[TimedNote]:
        return [
            TimedNote(self.origin_s + step_to_seconds(a.step), a.pitch, a.velocity, a.is_on)
            for a in self.reader.feed(index)
        ]

    def close_all(self) -> list[TimedNote]:
        return [TimedNote(self.time_s, a.pitch, 0, False) for a in self.reader.close_all()]
