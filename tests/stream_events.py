"""Test helpers over the live codec: a ``StreamEncoder`` that returns the events it writes (the
engine writes them into the model's stream itself), and an incremental decoder to timed notes."""

from __future__ import annotations

from collections.abc import Sequence

from perfjam.codec.events import EventReader, NoteAction, Vocab, step_to_seconds
from perfjam.codec.pedal import TimedNote
from perfjam.codec.stream import StreamEncoder


class EventStreamEncoder(StreamEncoder):
    """The real encoder; each call returns the events of the steps over by then."""

    def write(self, actions: Sequence[NoteAction]) -> list[int]:
        return [event for action in actions for event in self.writer.action(action)]

    def feed_bytes(self, time_s: float, data: Sequence[int]) -> list[int]:
        self.take(time_s, data)
        return self.flush(time_s)

    def flush(self, time_s: float) -> list[int]:
        return self.write(self.ready(time_s))

    def release_all(self, time_s: float | None = None) -> list[int]:
        """Every note ends (see ``end_all``); returns every event still held."""
        self.end_all(time_s)
        return self.write(self.ready_all())


class StreamDecoder:
    """Events -> timestamped note actions, incrementally."""

    def __init__(self, vocab: Vocab, origin_s: float = 0.0) -> None:
        self.origin_s = origin_s
        self.reader = EventReader(vocab)

    def feed(self, index: int) -> list[TimedNote]:
        return [TimedNote(self.origin_s + step_to_seconds(a.step), a.pitch, a.velocity, a.is_on)
                for a in self.reader.feed(index)]

    def close_all(self) -> list[TimedNote]:
        time_s = self.origin_s + step_to_seconds(self.reader.step)
        return [TimedNote(time_s, a.pitch, 0, False) for a in self.reader.close_all()]
