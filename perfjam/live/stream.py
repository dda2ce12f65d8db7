"""The model's live stream: what it has heard, its look-ahead, rollback to "now", and due AI notes.

Pure logic, no threads and no I/O: ``perfjam.engine`` owns one ``LiveStream`` on its thread and
does the sending. The stream keeps one invariant: the events fed to the model (``history``) are
exactly what was heard, in time order, with TIME_SHIFTs for the elapsed (music) time:

* human events are *committed* as soon as they are heard (``hear_human``, ``flush_human``: the
  actions of a 10 ms step are heard once it is over, in note-seq's order);
* generated events are *speculative* (``spec``): each remembers the model state, logits, writer
  and decoder state from before it, so ``rollback`` can discard what has not been played yet;
* an AI note action becomes committed when the engine sends it (``mark_sent``).

The stream is grammatical (``perfjam.codec.grammar``): a ``GrammarState`` follows every event
fed to the model (snapshotted per entry, restored on rollback), events are sampled from the
grammar's distribution, and the events the stream writes itself keep the encoder's form: a
forced TIME_SHIFT merges with a speculative short one before it and never splits a VELOCITY from
its NOTE_ON; a rollback never keeps a short TIME_SHIFT last (what follows re-emits that time).

Sampling is constrained further only where real time demands it: the model releases only its
own notes (a pitch the human sounds too is the human's: the AI's note on it ends silently at its
forced release or with the human's next event on that pitch); a TIME_SHIFT is cut at the note
length limit (the note-off is then forced) and at ``end_step``; and after silence or a human
event a forced TIME_SHIFT to ``min_step`` (real elapsed time) comes first, so no note is due
before the model has had time to compute it. A ``shaper`` (the duet's ``Accompanist``) may weight
the events further.

**Ending at a breath.** From ``end_step`` on (an answer's length reached, or the human stopped in
a duet) the model plays on until a rest of its own: ``REST_STEPS`` without a note begun. No
note begins after ``end_step + grace_steps``: what sounds then is held to the rest. What still
sounds is then released one note after another, the highest first, over about
``RELEASE_SPREAD_STEPS``: a short decrescendo, not a cut.

``Clock``, ``AiNote`` and ``HeardNote`` live in ``perfjam.live.clock``.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque

import numpy as np

from perfjam.codec.events import (
    MAX_SHIFT_STEPS,
    EventReader,
    EventType,
    EventWriter,
    NoteAction,
)
from perfjam.codec.grammar import GRAMMAR_MODES, GrammarState, mode_for_model
from perfjam.codec.stream import StreamEncoder
from perfjam.live.clock import AiNote, Clock, HeardNote

_TS, _VEL, _NOTE, _NOOP = 0, 1, 2, 3
REST_STEPS = 30  # an ending waits for the model's own rest: no note begun for 300 ms
RELEASE_SPREAD_STEPS = 30  # what sounds at the end is released over about this long...
RELEASE_STEP_RANGE = (2, 10)  # ...a note every 20-100 ms
NEVER = -(10**9)  # the step of the AI's last note-on before it has played any


class _Entry:
    __slots__ = ("seq", "event", "kind", "step_after", "model_state", "logits", "writer_state",
                 "reader_state", "ai_on_step", "same_step", "history_len", "grammar", "last_on_step", "fed")


class LiveStream:
    """One model's view of the session (see the module docstring)."""

    def __init__(self, model, clock: Clock, start_step: int = 0, max_note_steps: int = 800,
                 max_events_per_step: int = 64, history_limit: int = 1 << 22,
                 grammar_mode: str | None = None) -> None:
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
        self.last_on_step = NEVER  # the step of the AI's last note-on
        self.shaper = None  # optional: .weights(human_sounding, ai_on_step, step) -> array | None
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
        self.on0 = vocab.offsets[EventType.NOTE_ON]
        # The grammar of the stream (every event fed to the model), and how sampling uses it.
        self.grammar = GrammarState(vocab)
        self.grammar_mode = mode_for_model(model.info.metadata) if grammar_mode is None else grammar_mode
        if self.grammar_mode not in GRAMMAR_MODES:
            raise ValueError(f"unknown grammar mode {self.grammar_mode!r}; known: {', '.join(GRAMMAR_MODES)}")
        self.grammar_violations = 0  # events fed that the grammar excludes (none: see the tests)
        self.human_sounding: dict[int, int] = {}  # pitch -> human notes open on it (as the model heard)
        self.unheard: deque[NoteAction] = deque()  # human actions ready but not heard yet (``until_s``)
        self._mask = np.zeros(size, dtype=bool)  # the engine's restriction, rebuilt per sample

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
        if not self.grammar.feed(event):
            self.grammar_violations += 1
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
        if kind == _NOTE:
            self._human_note(event)
        self._feed(event, control)
        return actions

    def _human_note(self, event: int) -> None:
        """A human NOTE_ON/OFF ends the AI's note on its pitch (struck again or released in the
        stream): that note-off is sent now, not fed, not logged as heard."""
        is_on = self.on0 <= event < self.on0 + 128
        pitch = event - (self.on0 if is_on else self.off0)
        if pitch in self.reader.sounding:
            del self.reader.sounding[pitch]
            self.ai_on_step.pop(pitch, None)
            step = self.writer.step
            self.pending.append(AiNote(self.clock.time_of(step), pitch, 0, False, -1, step, True, True))
        human = self.human_sounding
        if is_on:
            human[pitch] = human.get(pitch, 0) + 1
        elif human.get(pitch, 0) > 1:
            human[pitch] -= 1
        else:
            human.pop(pitch, None)

    # --- hearing --------------------------------------------------------------------------------
    def hear_human(self, time_s: float, data, control, until_s: float = math.inf) -> list[HeardNote]:
        """A human MIDI message (bytes) heard at wall ``time_s``; the caller has rolled back to its
        step. The encoder holds a step's events until the step is over (note-seq's order within
        a step, see ``perfjam.codec.stream``); returns the note actions the model heard now."""
        self.encoder.take(self.clock.music_s(time_s), data)
        return self.flush_human(time_s, control, until_s)

    def flush_human(self, time_s: float, control, until_s: float = math.inf) -> list[HeardNote]:
        """The model hears the human actions of every step over by wall ``time_s`` (the engine
        calls this every turn; nothing may be generated past a step whose actions are held).
        Past ``perf_counter`` time ``until_s`` it stops, the rest ``unheard`` for the next call."""
        if self.encoder.pending:
            self.unheard.extend(self.encoder.ready(self.clock.music_s(time_s)))
        return self._hear_unheard(control, until_s)

    def release_human(self, time_s: float, control) -> list[HeardNote]:
        """Every human note ends (input port lost, mode or model change), heard at once."""
        self.encoder.end_all(self.clock.music_s(time_s))
        self.unheard.extend(self.encoder.ready_all())
        return self._hear_unheard(control)

    def _hear_unheard(self, control, until_s: float = math.inf) -> list[HeardNote]:
        heard, unheard = [], self.unheard
        while unheard:  # at least one action per call, whatever the time
            action = unheard.popleft()
            for event in self.writer.action(action):
                self._commit_event(event, control)
            self.same_step = 0
            heard.append(HeardNote(self.writer.step, "human", action.pitch, action.velocity, action.is_on))
            if time.perf_counter() > until_s:
                break
        return heard

    @property
    def human_pending(self) -> bool:
        """Human actions are held (their step is not over yet) or ready and not heard yet."""
        return self.encoder.pending or bool(self.unheard)

    @property
    def human_due_s(self) -> float | None:
        """Wall time at which held human actions are next heard (``flush_human``), if any."""
        if self.unheard:
            return 0.0  # now
        due_s = self.encoder.due_s
        return None if due_s is None else self.clock.origin_s + self.clock.wall_s(due_s)

    def human_sound(self) -> tuple[bool, bool]:
        """What of the human still sounds, as heard: (a key is down, the pedal holds notes)."""
        folder = self.encoder.folder
        return bool(folder.held), folder.pedal_holds

    def release_ai(self, step: int, control) -> list[AiNote]:
        """Note-offs for every sounding AI note at ``step`` (or the stream's step if later),
        heard by the model at once; the caller sends them now. Needs an empty look-ahead."""
        assert not self.spec, "roll back before releasing"
        offs = []
        for pitch in sorted(self.reader.sounding):
            if pitch in self.human_sounding:  # the human's to release: the AI's note ends silently
                del self.reader.sounding[pitch]
                at = max(step, self.writer.step)
                offs.append(AiNote(self.clock.time_of(at), pitch, 0, False, -1, at, True))
                self.ai_on_step.pop(pitch, None)
                continue
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
    def _push(self, event: int, control, silent: bool = False) -> None:
        """A speculative event; ``silent``: a note-off sent but not fed (the pitch sounds on)."""
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
        entry.grammar = self.grammar.snapshot()
        entry.last_on_step = self.last_on_step
        entry.fed = not silent
        kind = self.kinds[event]
        actions = self.reader.feed(event)
        self.writer.observe(event)
        if kind == _TS:
            self.same_step = 0
        elif not silent:
            self.same_step += 1
            if kind == _NOTE and not actions:
                kind = _NOOP
        entry.kind = kind
        entry.step_after = self.writer.step
        time_of = self.clock.time_of
        restrike = silent or len(actions) == 2
        for a in actions:
            self.pending.append(AiNote(time_of(a.step), a.pitch, a.velocity, a.is_on, seq, a.step,
                                       restrike and not a.is_on))
            if a.is_on:
                self.ai_on_step[a.pitch] = a.step
                self.last_on_step = a.step
            else:
                self.ai_on_step.pop(a.pitch, None)
        self.spec.append(entry)
        if not silent:
            self._feed(event, control)

    def _shift(self, steps: int) -> int:
        return self.shift0 + min(MAX_SHIFT_STEPS, steps) - 1

    def _take_back(self, kind: int, short_shift: bool = False) -> int | None:
        """Undo the last speculative entry if it is of ``kind`` (``short_shift``: a short one)."""
        spec = self.spec
        if not spec or spec[-1].kind != kind:
            return None
        event = spec[-1].event
        if short_shift and event >= self.shift0 + MAX_SHIFT_STEPS - 1:
            return None
        self._truncate(len(spec) - 1)
        return event

    def _push_time(self, steps: int, control) -> None:
        """TIME_SHIFTs the stream writes itself, as the encoder would: merged with a speculative
        short shift before them, never after a VELOCITY (that is pushed again after them)."""
        velocity = self._take_back(_VEL)
        short = self._take_back(_TS, short_shift=True)
        if short is not None:
            steps += self.shift_steps[short]
        while steps > 0:
            self._push(self._shift(steps), control)
            steps -= MAX_SHIFT_STEPS
        if velocity is not None:
            self._push(velocity, control)

    def _release(self, pitch: int, control) -> None:
        """A forced release (length limit, end of an answer), not after a VELOCITY either."""
        velocity = self._take_back(_VEL)
        self._push(self.off0 + pitch, control, silent=pitch in self.human_sounding)
        if velocity is not None:
            self._push(velocity, control)

    def restriction(self) -> np.ndarray:
        """The engine's rule on top of the grammar (a buffer): NOTE_OFFs only of the AI's own
        notes, only TIME_SHIFTs after ``max_events_per_step`` events in one step."""
        mask, off0, shift0 = self._mask, self.off0, self.shift0
        mask.fill(True)
        mask[off0:off0 + 128] = False
        human = self.human_sounding
        for p in self.reader.sounding:
            if p not in human:
                mask[off0 + p] = True
        if self.same_step >= self.max_events_per_step and self.grammar.is_allowed(shift0):
            mask[:shift0] = False
            mask[shift0 + MAX_SHIFT_STEPS:] = False
        return mask

    def _end_at_breath(self, control) -> bool:
        """The ending's breath has come: the highest sounding note ends, then a short wait before
        the next (False once nothing sounds)."""
        self._take_back(_VEL)  # (no note follows it any more)
        sounding = self.reader.sounding
        if not sounding:
            return False
        self._release(max(sounding), control)
        if sounding:
            low, high = RELEASE_STEP_RANGE
            self._push_time(min(high, max(low, RELEASE_SPREAD_STEPS // (len(sounding) + 1))), control)
        return True

    def generate(self, sampler, temperature: float, top_p: float | None, control,
                 min_step: int, end_step: int | None = None, grace_steps: int = 0,
                 min_p: float | None = None, note_min_p: float | None = None) -> bool:
        """Add one event to the look-ahead. False when there is nothing left to generate (from
        ``end_step`` on, the model's rest came and every AI note was released)."""
        step = self.writer.step
        deadline = min(self.ai_on_step.values()) + self.max_note_steps if self.ai_on_step else None
        if deadline is not None and step >= deadline:  # a note held too long: release it
            self._release(min(self.ai_on_step, key=self.ai_on_step.get), control)
            return True
        if step < min_step or self.logits is None:
            # Time to min_step first, but never past a forced release: one a rollback dropped
            # (it was not sent yet) comes back at its own step, not ``reaction_ms`` later.
            target = min_step if deadline is None else min(min_step, deadline)
            self._push_time(max(1, target - step), control)
            return True
        limit = deadline
        ending = end_step is not None and step >= end_step
        if ending:
            hard_step = end_step + grace_steps
            breath_step = min(self.last_on_step, hard_step) + REST_STEPS
            if step >= breath_step:
                return self._end_at_breath(control)
            if step >= hard_step:  # no note begins any more: what sounds is held to the breath
                self._take_back(_VEL)
                self._push_time(breath_step - step, control)
                return True
            limit = breath_step if limit is None else min(limit, breath_step)
        elif end_step is not None:
            limit = end_step if limit is None else min(limit, end_step)
        shaper = self.shaper
        weights = shaper.weights(self.human_sounding, self.ai_on_step, step) if shaper is not None else None
        event = sampler.sample(self.logits, temperature, top_p, self.grammar.effective(), self.grammar_mode,
                               self.restriction(), weights, min_p, None, note_min_p)
        shift = self.shift_steps[event]
        if shift and limit is not None and step + shift > limit:
            event = self._shift(limit - step)
        self._push(event, control)
        return True

    def push_forced(self, events, control) -> None:
        """Events to play as if generated (a solo primer); its TIME_SHIFTs via ``_push_time``."""
        for event in events:
            event = int(event)
            if self.kinds[event] == _TS:
                self._push_time(self.shift_steps[event], control)
            else:
                self._push(event, control)

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
        action not sent yet (and a VELOCITY left without its note). A short TIME_SHIFT is never
        the last entry kept: whatever comes next re-emits that time, merged into one shift.
        Returns the events dropped."""
        spec = self.spec
        keep = 0
        for entry in spec:
            if entry.step_after > cut_step:
                break
            if require_sent and entry.kind == _NOTE and entry.seq > self.last_sent_seq:
                break
            keep += 1
        short = self.shift0 + MAX_SHIFT_STEPS - 1
        while keep:
            fed = keep
            while fed and not spec[fed - 1].fed:
                fed -= 1  # a silent release was not heard: what was heard before it counts
            last = spec[fed - 1] if fed else None
            if last is None or not ((require_sent and last.kind == _VEL)
                                    or (last.kind == _TS and last.event < short)):
                break
            keep = fed - 1
        return self._truncate(keep)

    def _truncate(self, keep: int) -> int:
        """Keep the first ``keep`` speculative entries (the state returns to before the next)."""
        spec = self.spec
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
        self.last_on_step = first.last_on_step
        self.grammar.restore(first.grammar)
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
