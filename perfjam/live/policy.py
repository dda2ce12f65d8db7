"""Turn-taking: when the AI plays, as a pure object (no threads, no ports, no model).

* ``call`` (call and response): the AI listens while the human plays; once every key is up and
  the human has been silent for ``gap_s`` (music time), it answers for at most ``length_s``; the
  human playing again ends the answer at once.
* ``duet``: the AI plays along from the human's first note on.
* ``solo``: the AI plays on its own (a primer first, if any); the keyboard only sounds.

The engine asks ``active`` before generating, tells ``human_note`` / ``human_struck`` what the
human did, polls ``maybe_answer`` in call mode and ``answer_done`` when an answer is complete.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perfjam.live.clock import Clock
from perfjam.live.config import MODES


@dataclass
class TurnPolicy:
    clock: Clock
    mode: str = "call"
    gap_s: float = 0.6  # call: human silence before the answer (music time)
    length_s: float = 6.0  # call: the longest answer (music time)
    reaction_steps: int = 4  # the earliest an answer may start after it is decided
    playing: bool = True  # the AI plays at all (Space in the GUI)
    answering: bool = False
    heard_since_answer: bool = False
    duet_started: bool = False
    answer_end_step: int | None = None
    last_human_s: float = -math.inf

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    def reset(self) -> None:
        """A fresh start of the mode (mode, model or play state changed, panic)."""
        self.answering = self.heard_since_answer = self.duet_started = False
        self.answer_end_step = None
        self.last_human_s = -math.inf

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.reset()

    @property
    def active(self) -> bool:
        """The AI generates now."""
        if not self.playing:
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
        """The step the current answer ends at (call mode), else None."""
        return self.answer_end_step if self.mode == "call" else None

    def state(self) -> str:
        """In words, for the status: stopped | answering | listening | waiting | playing."""
        if not self.playing:
            return "stopped"
        if self.mode == "call":
            return "answering" if self.answering else "listening"
        if self.mode == "duet" and not self.duet_started:
            return "waiting"
        return "playing"

    # --- what the human did ------------------------------------------------------------------------
    def human_note(self, time_s: float) -> None:
        """Any human note-on or note-off at wall ``time_s``: the silence starts again."""
        self.last_human_s = time_s

    def human_struck(self, ai_sounding: bool) -> bool:
        """The model heard a human note-on. True when the AI must stop now (call: the human plays
        again while it answers or its notes still sound)."""
        self.heard_since_answer = True
        self.duet_started = True
        if self.mode == "call" and (self.answering or ai_sounding):
            self.answer_done()
            return True
        return False

    # --- answers (call mode) -----------------------------------------------------------------------
    def answer_due_s(self) -> float | None:
        """Wall time at which an answer may begin (the engine wakes then), if one is waiting."""
        if self.mode == "call" and self.heard_since_answer and self.playing and not self.answering:
            return self.last_human_s + self.gap_s / self.clock.speed
        return None

    def maybe_answer(self, now_s: float, keys_down: bool) -> bool:
        """Call mode: start the answer if the human is done (every key up, ``gap_s`` of silence)."""
        due_s = self.answer_due_s()
        if due_s is None or keys_down or now_s < due_s:
            return False
        self.answering = True
        self.heard_since_answer = False
        start = self.clock.step_at(now_s) + self.reaction_steps
        self.answer_end_step = start + self.clock.steps(self.length_s)
        return True

    def answer_now(self, now_s: float) -> bool:
        """Call mode: answer now, whatever the gap (a button, a key or a foot switch)."""
        if self.mode != "call" or not self.playing or self.answering:
            return False
        self.heard_since_answer = True
        self.last_human_s = -math.inf
        return self.maybe_answer(now_s, keys_down=False)

    def answer_done(self) -> None:
        self.answering = False
        self.answer_end_step = None
