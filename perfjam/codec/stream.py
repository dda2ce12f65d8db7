"""Live (streaming) side of the codec: incremental encoder and decoder.

The offline functions in ``perfjam.codec.events`` / ``perfjam.codec.midifile`` use the same pieces:
``PedalFolder`` folds the pedal, ``EventWriter``/``EventReader`` do the indices.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfjam.codec.events import (
    EventReader,
    EventWriter,
    Vocab,
    seconds_to_step,
    step_to_seconds,
)
from perfjam.codec.pedal import PedalFolder, TimedNote


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
