"""The model's live stream: what it has heard, its look-ahead, rollback to "now", and due AI notes.

Pure logic, no threads and no I/O: ``perfjam.engine`` owns one ``LiveStream`` on its thread and
does the sending. The stream keeps one invariant: the events fed to the model (``history``) are
exactly what was heard, in time order, with TIME_SHIFTs for the elapsed (music) time:

* human events are *committed* as soon as they are heard (``hear_human``);
* generated events are *speculative* (``spec``): each remembers the model state, logits, writer
  and decoder state from before it, so ``rollback`` can discard what has not been played yet;
* an AI note action becomes committed when the engine sends it (``mark_sent``).

Sampling is constrained only where real time demands it: the model may not release a pitch it
is not sounding (that would be an event nobody hears); a TIME_SHIFT is cut short at the note
length limit (the note-off is then forced) and at the end of a call-and-response answer; and
after silence or a human event the stream is first advanced with a forced TIME_SHIFT to
``min_step`` (the real elapsed time: nobody played in between) so that no note is due before
the model has had time to compute it.

Also ``TimingStat``: constant-memory timing statistics (rolling window + whole-run histogram).
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from perfjam.codec.events import MAX_SHIFT_STEPS, STEPS_PER_SECOND, EventReader, EventType, EventWriter
from perfjam.codec.pedal import TimedNote
from perfjam.codec.stream import StreamEncoder

_TS, _VEL, _NOTE, _NOOP = 0, 1, 2, 3


@dataclass(frozen=True)
class Clock:
    """Wall clock (perf_counter seconds) <-> model steps. ``speed`` > 1 runs music faster than
    real time (accelerated test and benchmark sessions); it is 1.0 in the app."""

    origin_s: float
    speed: float = 1.0

    def music_s(self, time_s: float) -> float:
        return (time_s - self.origin_s) * self.speed

    def step_at(self, time_s: float) -> int:
        return int(round((time_s - self.origin_s) * self.speed * STEPS_PER_SECOND))

    def time_of(self, step: int) -> float:
        return self.origin_s + step / (STEPS_PER_SECOND * self.speed)

    def steps(self, seconds: float) -> int:
        """A music duration -> steps."""
        return int(round(seconds * STEPS_PER_SECOND))

    def wall_s(self, music_seconds: float) -> float:
        """A music duration -> wall-clock seconds."""
        return music_seconds / self.speed


class AiNote(NamedTuple):
    """An AI note action due at ``time_s`` (perf_counter) = ``step`` on the clock."""

    time_s: float
    pitch: int
    velocity: int  # 0 for a note-off
    is_on: bool
    seq: int  # the stream entry it came from
    step: int
    restrike: bool = False  # the note-off of a re-strike (the stream has only the NOTE_ON)


class HeardNote(NamedTuple):
    """A note action the model heard, as played (tests compare these with ``history``)."""

    step: int
    source: str  # "human" | "ai"
    pitch: int
    velocity: int
    is_on: bool


class _Entry:
    __slots__ = ("seq", "event", "kind", "step_after", "model_state", "logits", "writer_state",
                 "reader_state", "ai_on_step", "same_step", "history_len")


class LiveStream:
    """One model's view of the session (see the module docstring)."""

    def __init__(self, model, clock: Clock, start_step: int = 0, max_note_steps: int = 800,
                 max_events_per_step: int = 64, history_limit: int = 1 << 22) -> None:
        self.model = model
        self.vocab = vocab = model.vocab
        self.clock = clock
        self.writer = EventWriter(vocab, step=start_step)
        self.encoder = StreamEncoder(vocab, 0.0, writer=self.writer)  # fed music seconds
        self.reader = EventReader(vocab)
        self.reader.step = start_step
        self.start_step = start_step
        self.max_note_steps = max_note_steps
        self.max_events_per_step = max_events_per_step
        self.history_limit = history_limit
        self.history = array("H")
        self.history_dropped = 0  # events trimmed from the front of a very long history
        self.spec: deque[_Entry] = deque()
        self.pending: deque[AiNote] = deque()
        self.logits: np.ndarray | None = None  # the distribution of the next event
        self.ai_on_step: dict[int, int] = {}  # sounding AI pitch -> step of its note-on
        self.same_step = 0  # generated events since the stream last advanced time
        self.seq = 0
        self.last_sent_seq = -1
        self.steps_fed = 0
        size = vocab.size
        kinds = [_NOOP] * size
        self.shift_steps = [0] * size
        for index in range(size):
            event_type, value = vocab.event(index)
            kinds[index] = {EventType.TIME_SHIFT: _TS, EventType.VELOCITY: _VEL}.get(event_type, _NOTE)
            if event_type == EventType.TIME_SHIFT:
                self.shift_steps[index] = value
        self.kinds = kinds
        self.shift0 = vocab.offsets[EventType.TIME_SHIFT]
        self.off0 = vocab.offsets[EventType.NOTE_OFF]

    # --- bookkeeping ----------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self.writer.step

    @property
    def horizon_s(self) -> float:
        """Wall time up to which everything has been generated."""
        return self.clock.time_of(self.writer.step)

    @property
    def ai_sounding(self) -> list[int]:
        return sorted(self.reader.sounding)

    def _feed(self, event: int, control) -> None:
        self.logits = self.model.step(event, control)
        self.history.append(event)
        self.steps_fed += 1
        if len(self.history) > self.history_limit:
            half = self.history_limit // 2
            del self.history[:half]
            self.history_dropped += half
            for entry in self.spec:
                entry.history_len -= half

    def _commit_event(self, event: int, control) -> list:
        """A heard (non-speculative) event: decoder follows time and velocity, model hears it."""
        kind = self.kinds[event]
        actions = self.reader.feed(event) if kind != _NOTE else []
        self._feed(event, control)
        return actions

    # --- hearing --------------------------------------------------------------------------------
    def hear_human(self, time_s: float, data, control) -> list[HeardNote]:
        """A human MIDI message (bytes) heard at wall ``time_s``; the caller has rolled back.
        Returns the note actions the model heard (pedal folded in)."""
        notes = self.encoder.folder.feed_bytes(self.clock.music_s(time_s), data)
        return self._hear_timed(notes, control)

    def release_human(self, time_s: float, control) -> list[HeardNote]:
        """Every human note ends (input port lost, mode or model change)."""
        return self._hear_timed(self.encoder.folder.release_all(self.clock.music_s(time_s)), control)

    def _hear_timed(self, notes: list[TimedNote], control) -> list[HeardNote]:
        heard = []
        for note in notes:
            for event in self.encoder.encode([note]):
                self._commit_event(event, control)
            self.same_step = 0
            heard.append(HeardNote(self.writer.step, "human", note.pitch, note.velocity, note.is_on))
        return heard

    def human_keys_down(self) -> bool:
        return bool(self.encoder.folder.held)

    def release_ai(self, step: int, control) -> list[AiNote]:
        """Note-offs for every sounding AI note at ``step`` (or the stream's step if later),
        heard by the model at once; the caller sends them now. Needs an empty look-ahead."""
        assert not self.spec, "roll back before releasing"
        offs = []
        for pitch in sorted(self.reader.sounding):
            for event in self.writer.note_off(step, pitch):
                for action in self.reader.feed(event):
                    time_s = self.clock.time_of(action.step)
                    offs.append(AiNote(time_s, action.pitch, 0, False, -1, action.step))
                self._feed(event, control)
            self.ai_on_step.pop(pitch, None)
        return offs

    def catch_up(self, now_step: int, control) -> None:
        """While idle: one TIME_SHIFT(100) per second of silence keeps the model current, exactly
        as the greedy encoding of the same silence."""
        if not self.spec and not self.pending:
            while now_step - self.writer.step >= MAX_SHIFT_STEPS:
                for event in self.writer.advance_to(self.writer.step + MAX_SHIFT_STEPS):
                    self._commit_event(event, control)

    # --- generation -----------------------------------------------------------------------------
    def _push(self, event: int, control) -> None:
        entry = _Entry()
        entry.seq = seq = self.seq
        self.seq += 1
        entry.event = event
        entry.model_state = self.model.snapshot() if self.logits is not None else _ZERO
        entry.logits = self.logits
        entry.writer_state = self.writer.state
        entry.reader_state = self.reader.state
        entry.ai_on_step = dict(self.ai_on_step)
        entry.same_step = self.same_step
        entry.history_len = len(self.history)
        kind = self.kinds[event]
        actions = self.reader.feed(event)
        self.writer.observe(event)
        if kind == _TS:
            self.same_step = 0
        else:
            self.same_step += 1
            if kind == _NOTE and not actions:
                kind = _NOOP
        entry.kind = kind
        entry.step_after = self.writer.step
        time_of = self.clock.time_of
        restrike = len(actions) == 2
        for a in actions:
            self.pending.append(AiNote(time_of(a.step), a.pitch, a.velocity, a.is_on, seq, a.step,
                                       restrike and not a.is_on))
            if a.is_on:
                self.ai_on_step[a.pitch] = a.step
            else:
                self.ai_on_step.pop(a.pitch, None)
        self.spec.append(entry)
        self._feed(event, control)

    def _shift(self, steps: int) -> int:
        return self.shift0 + min(MAX_SHIFT_STEPS, steps) - 1

    def generate(self, sampler, temperature: float, top_p: float | None, control,
                 min_step: int, end_step: int | None = None) -> bool:
        """Add one event to the look-ahead. False when there is nothing left to generate
        (``end_step`` reached and every AI note released)."""
        step = self.writer.step
        if step < min_step or self.logits is None:
            self._push(self._shift(max(1, min_step - step)), control)
            return True
        limit = end_step
        if self.ai_on_step:
            deadline = min(self.ai_on_step.values()) + self.max_note_steps
            if step >= deadline:  # a note held too long: release it
                pitch = min(self.ai_on_step, key=self.ai_on_step.get)
                self._push(self.off0 + pitch, control)
                return True
            limit = deadline if limit is None else min(limit, deadline)
        if end_step is not None and step >= end_step:
            if not self.reader.sounding:
                return False
            self._push(self.off0 + min(self.reader.sounding), control)
            return True
        logits = self.logits.copy()
        # The model may only release its own notes.
        sounding = self.reader.sounding
        saved = [logits[self.off0 + p] for p in sounding]
        logits[self.off0:self.off0 + 128] = -np.inf
        for p, value in zip(sounding, saved, strict=True):
            logits[self.off0 + p] = value
        if self.same_step >= self.max_events_per_step:  # a model that never advances time
            logits[: self.shift0] = -np.inf
            logits[self.shift0 + MAX_SHIFT_STEPS:] = -np.inf
        event = sampler.sample(logits, temperature, top_p)
        shift = self.shift_steps[event]
        if shift and limit is not None and step + shift > limit:
            event = self._shift(limit - step)
        self._push(event, control)
        return True

    def push_forced(self, events, control) -> None:
        """Events to play as if generated (a solo primer); TIME_SHIFTs included."""
        for event in events:
            self._push(int(event), control)

    # --- playing and rolling back ---------------------------------------------------------------
    def mark_sent(self, seq: int) -> None:
        """The engine sent the actions of entry ``seq``: it and everything before are heard."""
        if seq > self.last_sent_seq:
            self.last_sent_seq = seq
        spec = self.spec
        while spec and spec[0].seq <= seq:
            spec.popleft()

    def rollback(self, cut_step: int, require_sent: bool = True) -> int:
        """Discard the look-ahead after ``cut_step`` and, with ``require_sent``, every note
        action not sent yet (and a VELOCITY left without its note). Returns the events dropped."""
        spec = self.spec
        keep = 0
        for entry in spec:
            if entry.step_after > cut_step:
                break
            if require_sent and entry.kind == _NOTE and entry.seq > self.last_sent_seq:
                break
            keep += 1
        if require_sent:
            while keep and spec[keep - 1].kind == _VEL:
                keep -= 1
        dropped = len(spec) - keep
        if not dropped:
            return 0
        first = spec[keep]
        if first.model_state is _ZERO:
            self.model.reset()
        else:
            self.model.restore(first.model_state)
        self.logits = first.logits
        self.writer.state = first.writer_state
        self.reader.state = first.reader_state
        self.ai_on_step = first.ai_on_step
        self.same_step = first.same_step
        del self.history[first.history_len:]
        for _ in range(dropped):
            spec.pop()
        pending = self.pending
        while pending and pending[-1].seq >= first.seq:
            pending.pop()
        return dropped

    def commit(self) -> None:
        """Whatever is left of the look-ahead is heard (call after a rollback to "now")."""
        self.spec.clear()

    def discard_to_now(self, now_step: int) -> int:
        """Roll back to what has been played by ``now_step`` and commit it."""
        dropped = self.rollback(now_step, require_sent=True)
        self.commit()
        return dropped


_ZERO = object()  # marks "the model's zero state" in an entry


# --- timing statistics ---------------------------------------------------------------------------
_BIN_MS = 0.01  # histogram resolution
_BINS = 10_000  # 0 .. 100 ms; above goes to the last bin (the max is kept exactly)


class TimingStat:
    """Durations in seconds in, milliseconds out."""

    def __init__(self, window: int = 1024) -> None:
        self.window = array("d", [0.0]) * window
        self.size = window
        self.index = 0
        self.count = 0
        self.max_ms = 0.0
        self.hist = array("L", [0]) * _BINS

    def add(self, seconds: float) -> None:
        ms = seconds * 1000.0
        if ms < 0.0:
            ms = 0.0
        self.window[self.index] = ms
        self.index = (self.index + 1) % self.size
        self.count += 1
        if ms > self.max_ms:
            self.max_ms = ms
        b = int(ms / _BIN_MS)
        self.hist[b if b < _BINS else _BINS - 1] += 1

    def recent(self, q: float) -> float:
        """Percentile ``q`` (0..100) of the rolling window, ms (0.0 when empty)."""
        n = min(self.count, self.size)
        if not n:
            return 0.0
        values = sorted(self.window[:n] if self.count < self.size else self.window)
        return values[min(n - 1, int(q / 100.0 * n))]

    def overall(self, q: float) -> float:
        """Percentile ``q`` over the whole run from the histogram (to 0.01 ms), ms."""
        if not self.count:
            return 0.0
        target = q / 100.0 * self.count
        seen = 0
        for b, c in enumerate(self.hist):
            seen += c
            if c and seen >= target:
                return min(self.max_ms, (b + 1) * _BIN_MS)
        return self.max_ms

    def summary(self) -> dict:
        return {
            "count": self.count,
            "p50_ms": round(self.overall(50), 3),
            "p99_ms": round(self.overall(99), 3),
            "max_ms": round(self.max_ms, 3),
        }

    def reset(self) -> None:
        self.__init__(self.size)
