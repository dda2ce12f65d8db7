"""Live (streaming) side of the codec: the incremental encoder (the model's output is decoded
incrementally by ``perfjam.codec.events.EventReader``).

``StreamEncoder`` gives exactly the offline encoding (``perfjam.codec.events.encode_notes`` of
``perfjam.codec.midifile.read_notes``) of the same messages. note-seq orders the actions of one
10 ms step by their notes' unquantized starts, which a live encoder cannot know until the step is
over (a note-off arriving after a note-on in the same step goes first), so it holds the actions of
the steps not yet over: ``take`` a message, then ``ready(time_s)`` gives those of every step over
by ``time_s``, in note-seq's order, and ``ready_all`` the rest at the end of a stream. Messages
must come in time order; messages of one instant may come in any order (``PedalFolder`` applies
note-seq's order within an instant).
"""

from __future__ import annotations

from collections.abc import Sequence

from perfjam.codec.events import (
    STEPS_PER_SECOND,
    EventWriter,
    NoteAction,
    Vocab,
    seconds_to_step,
)
from perfjam.codec.pedal import PedalFolder, TimedNote

_READY_MARGIN_S = 1e-6  # past a step's end, so that seconds_to_step surely gives the next step


class StreamEncoder:
    """Timestamped MIDI messages -> events, incrementally (live input), equal to offline encoding.

    ``writer`` may be shared with whoever writes the rest of the stream (the engine also feeds
    the model's own events into it with ``EventWriter.observe``).
    """

    def __init__(self, vocab: Vocab, origin_s: float = 0.0, writer: EventWriter | None = None,
                 sustain: bool = True) -> None:
        self.origin_s = origin_s
        self.writer = writer or EventWriter(vocab)
        self.folder = PedalFolder(sustain)
        self.held: dict[int, list[tuple[tuple[float, int, bool], NoteAction]]] = {}  # step -> actions

    def step_at(self, time_s: float) -> int:
        return seconds_to_step(time_s - self.origin_s)

    # --- actions (what the engine uses) -------------------------------------------------------------
    def take(self, time_s: float, data: Sequence[int]) -> None:
        """A raw MIDI channel message at ``time_s``; its actions wait for their step to be over."""
        self._hold(self.folder.take(time_s, data))

    def is_silent(self, data: Sequence[int]) -> bool:
        """``take``-ing this message adds no action (see ``PedalFolder.is_silent``)."""
        return self.folder.is_silent(data)

    def end_all(self, time_s: float | None = None) -> None:
        """Every note ends at ``time_s`` (a lost input port), by default at the last note or pedal
        event (the end of a file, see ``PedalFolder.release_all``)."""
        self._hold(self.folder.release_all(time_s))

    def ready(self, time_s: float) -> list[NoteAction]:
        """The actions of every step over by ``time_s``, in note-seq's order (then forgotten)."""
        self._hold(self.folder.advance(time_s))
        limit = self.step_at(time_s)
        return self._release([step for step in self.held if step < limit])

    def ready_all(self) -> list[NoteAction]:
        """Every action held, at once (the end of a stream)."""
        self._hold(self.folder.finish())
        return self._release(list(self.held))

    @property
    def pending(self) -> bool:
        return bool(self.held) or self.folder.instant is not None

    @property
    def due_s(self) -> float | None:
        """When ``ready`` will next give something: the end of the earliest step held."""
        steps = list(self.held)
        if self.folder.instant is not None:
            steps.append(self.step_at(self.folder.instant.time_s))
        if not steps:
            return None
        return self.origin_s + (min(steps) + 0.5) / STEPS_PER_SECOND + _READY_MARGIN_S

    def _hold(self, notes: Sequence[TimedNote]) -> None:
        for note in notes:
            start_s = note.note_start_s
            if note.is_on:
                step = self.step_at(note.time_s)
            else:  # a note gets at least one step, as in offline encoding
                step = max(self.step_at(note.time_s), self.step_at(start_s) + 1)
            action = NoteAction(step, note.pitch, note.velocity if note.is_on else 0, note.is_on)
            self.held.setdefault(step, []).append(((start_s, note.pitch, not note.is_on), action))

    def _release(self, steps: list[int]) -> list[NoteAction]:
        actions: list[NoteAction] = []
        for step in sorted(steps):
            keyed = self.held.pop(step)
            keyed.sort(key=lambda item: item[0])  # stable: equal keys keep their arrival order
            actions.extend(action for _, action in keyed)
        return actions
