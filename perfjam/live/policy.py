"""Turn-taking: when the AI plays, as a pure object (no threads, no ports, no model).

* ``call`` (call and response): the AI listens while the human plays. A phrase is over when its
  *sound* is over: every key up and the sustain pedal up (a pedal still down holding notes
  counts as sounding for ``PEDAL_RING_S`` after the last key or pedal event, as a held piano
  sound fades). Once that silence has lasted the gap, the AI answers for ``length_s``, then on
  to its own next breath (``end_step`` and ``grace_steps``: the stream ends the answer there, see
  ``perfjam.live.stream``); the human playing again ends the answer at once. The gap is
  ``gap_s``, or longer when the phrase had rests of its own: ``ADAPTIVE_GAP`` times its longest,
  at most ``MAX_GAP_FACTOR`` times ``gap_s``.
* ``duet``: the AI plays along from the human's first note on. Once the human's sound has been
  over for ``duet_rest_s``, it rounds off at a breath too and waits for the human's next note.
* ``solo``: the AI plays on its own (a primer first, if any); the keyboard only sounds.

The engine asks ``active`` before generating, tells ``human_event`` / ``human_struck`` what the
human did and ``sound`` what still sounds, polls ``maybe_answer`` (call) and ``maybe_rest``
(duet), and calls ``answer_done`` when the stream has ended an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from perfjam.live.clock import Clock
from perfjam.live.config import MODES

PEDAL_RING_S = 3.0  # a pedal held down with nothing else happening: the sound is over after this
ADAPTIVE_GAP = 1.25  # the gap outlasts the phrase's own rests by this factor...
MAX_GAP_FACTOR = 2.5  # ...up to this many times the gap the pianist set
REST_MEMORY = 8  # the phrase's last rests that count
ANSWER_GRACE_S = 2.0  # call: after its length, an answer may begin notes this long, waiting for a breath
DUET_GRACE_S = 0.5  # duet: the same when the human has stopped
DUET_REST_S = 2.0  # duet: the human's silence after which the AI rounds off and waits


@dataclass
class TurnPolicy:
    clock: Clock
    mode: str = "call"
    gap_s: float = 0.6  # call: the shortest silence before the answer (music time)
    length_s: float = 6.0  # call: the answer's length before it looks for a breath (music time)
    reaction_steps: int = 4  # the earliest an answer may start after it is decided
    playing: bool = True  # the AI plays at all (Space in the GUI)
    paused: bool = False  # held while a take plays back (it starts afresh after)
    duet_rest_s: float = DUET_REST_S
    answering: bool = False
    heard_since_answer: bool = False
    duet_started: bool = False
    answer_end_step: int | None = None
    last_human_s: float = -math.inf  # the last key or pedal event (note-on/off, pedal down/up)
    keys_down: bool = False  # what still sounds (``sound``)
    pedal_holds: bool = False
    rests: list[float] = field(default_factory=list)  # the phrase's own silences (music s)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def reset(self) -> None:
        """A fresh start of the mode (mode, model or play state changed, panic)."""
        self.answering = self.heard_since_answer = self.duet_started = False
        self.answer_end_step = None
        self.last_human_s = -math.inf
        self.rests.clear()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.reset()

    @property
    def active(self) -> bool:
        """The AI generates now."""
        if not self.playing or self.paused:
            return False
        if self.mode == "call":
            return self.answering
        return self.mode == "solo" or self.duet_started

    @property
    def hears_human(self) -> bool:
        """The model hears the human (solo: the keyboard only sounds)."""
        return self.mode != "solo"

    @property
    def end_step(self) -> int | None:
        """The step from which the AI looks for a breath to end at (an answer's length reached,
        or the human stopped in a duet), else None."""
        return self.answer_end_step if self.mode != "solo" else None

    @property
    def grace_steps(self) -> int:
        """After ``end_step``, how long the AI may still begin notes while it looks for a breath."""
        return self.clock.steps(ANSWER_GRACE_S if self.mode == "call" else DUET_GRACE_S)

    def state(self) -> str:
        """In words, for the status: stopped | paused | answering | listening | waiting | playing."""
        if not self.playing:
            return "stopped"
        if self.paused:
            return "paused"
        if self.mode == "call":
            return "answering" if self.answering else "listening"
        if self.mode == "duet" and not self.duet_started:
            return "waiting"
        return "playing"

    # --- what the human did ------------------------------------------------------------------------
    def human_event(self, time_s: float, resumes: bool = False) -> None:
        """A human note-on or note-off, or the sustain pedal going down or up, at wall ``time_s``.
        ``resumes``: a note-on after silence (no key down, the pedal up): the rest before it was
        one of the phrase's own."""
        if resumes and self.heard_since_answer and math.isfinite(self.last_human_s):
            rest_s = (time_s - self.last_human_s) * self.clock.speed
            if rest_s < self.gap_s * MAX_GAP_FACTOR:  # (a longer one was no rest within a phrase)
                self.rests = [*self.rests[-(REST_MEMORY - 1):], rest_s]
        self.last_human_s = time_s

    def sound(self, keys_down: bool, pedal_holds: bool) -> None:
        """What of the human still sounds: a key down; the sustain pedal holding notes."""
        self.keys_down, self.pedal_holds = keys_down, pedal_holds

    def human_struck(self, ai_sounding: bool) -> bool:
        """The model heard a human note-on. True when the AI must stop now (call: the human plays
        again while it answers or its notes still sound)."""
        self.heard_since_answer = True
        self.duet_started = True
        if self.mode == "duet":
            self.answer_end_step = None  # back before the AI had rounded off: it plays on
        if self.mode == "call" and (self.answering or ai_sounding):
            self.answer_done()
            return True
        return False

    # --- answers (call mode) and rests (duet) -------------------------------------------------------
    @property
    def gap_now_s(self) -> float:
        """The silence the answer waits for (music time): ``gap_s``, or longer after a phrase with
        rests of its own."""
        longest = max(self.rests, default=0.0)
        return min(max(self.gap_s, ADAPTIVE_GAP * longest), self.gap_s * MAX_GAP_FACTOR)

    def _silent_since_s(self) -> float | None:
        """Wall time from which the human's sound is over (None: a key is down)."""
        if self.keys_down:
            return None
        ring_s = PEDAL_RING_S / self.clock.speed if self.pedal_holds else 0.0
        return self.last_human_s + ring_s

    def answer_due_s(self) -> float | None:
        """Wall time at which an answer may begin (the engine wakes then), if one is waiting."""
        if self.mode == "call" and self.heard_since_answer and self.playing and not self.paused \
                and not self.answering:
            since = self._silent_since_s()
            return None if since is None else since + self.gap_now_s / self.clock.speed
        return None

    def maybe_answer(self, now_s: float) -> bool:
        """Call mode: start the answer if the human's phrase is over (``answer_due_s``)."""
        due_s = self.answer_due_s()
        if due_s is None or now_s < due_s:
            return False
        self._begin_answer(now_s)
        return True

    def answer_now(self, now_s: float) -> bool:
        """Call mode: answer now, whatever the gap (a button, a key or a foot switch)."""
        if self.mode != "call" or not self.playing or self.paused or self.answering:
            return False
        self._begin_answer(now_s)
        return True

    def _begin_answer(self, now_s: float) -> None:
        self.answering = True
        self.heard_since_answer = False
        self.rests.clear()
        start = self.clock.step_at(now_s) + self.reaction_steps
        self.answer_end_step = start + self.clock.steps(self.length_s)

    def maybe_rest(self, now_s: float) -> bool:
        """Duet: the human has been silent for ``duet_rest_s``: the AI rounds off from now."""
        if self.mode != "duet" or not self.duet_started or self.answer_end_step is not None:
            return False
        since = self._silent_since_s()
        if since is None or now_s < since + self.duet_rest_s / self.clock.speed:
            return False
        self.answer_end_step = self.clock.step_at(now_s)
        return True

    def answer_done(self) -> None:
        """The AI has ended an answer (it listens), or rounded off a duet the human left (it
        waits for their next note)."""
        if self.mode == "duet" and self.answer_end_step is not None:
            self.duet_started = False
        self.answering = False
        self.answer_end_step = None
