"""Follow me: what the pianist has just played, as what to ask of the model and how loud to play.
Pure (no threads, no I/O); the live engine (``perfjam.live.steering``) feeds them the pianist's
note-ons, ``perfjam generate --primer`` a primer's notes, so both ask the same.

* ``KeyFollower`` (Key follows me): the pitch-class control, as the Magenta Performance RNN browser
  demo sets it from its MIDI input. Each note-on adds its velocity-weighted weight to its pitch
  class; the histogram decays with a half-life of ``half_life_s`` (a few seconds), so the
  control follows a change of key within a phrase or two. ``histogram`` is what the model is
  asked for: the decayed counts over their sum, or None while nothing has been heard recently
  (the model then plays freely).
* ``PlayingFollower`` (density and loudness follow me): the notes begun in the ``window_s`` before
  the pianist's latest note-on (silence after a phrase does not thin it out): their density as
  played (``perfjam.musicality.onset_rate``) and their median velocity.
* ``VelocityMatch``: the AI's velocities moved so that its level sits at the pianist's (plus
  ``LOUDNESS_OFFSETS``: softer, as me, louder); the model's own dynamics (a crescendo, an
  accent) stay, measured against the average of what it has played: the mean of its first
  notes, then a moving average over about ``1 / AI_LEVEL_RATE`` notes.

Times are music seconds (the live engine's clock; a primer's own times).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np

from perfjam.controls import NUM_PITCH_CLASSES
from perfjam.musicality import onset_rate

DEFAULT_HALF_LIFE_S = 4.0
MIN_WEIGHT = 0.5  # below this (about half a note, decayed) nothing is asked for
PHRASE_WINDOW_S = 8.0  # density and loudness: the notes begun this long before the latest
MIN_DENSITY_NOTES = 2  # fewer notes give no density (nor does a chord struck once)
LOUDNESS_OFFSETS = {"softer": -12, "as me": 0, "louder": 12}  # velocity steps from the pianist's
OWN_LOUDNESS = "own"  # the model's own velocities, as they come
LOUDNESS = (*LOUDNESS_OFFSETS, OWN_LOUDNESS)
AI_LEVEL_PRIOR = 68.0  # the AI's own level before it has played (the default model's free-play median)
AI_LEVEL_RATE = 0.05  # how fast the AI's own level follows what it plays (about 20 notes)


class KeyFollower:
    def __init__(self, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        if not half_life_s > 0:
            raise ValueError(f"half_life_s must be > 0, got {half_life_s!r}")
        self.rate = math.log(2.0) / half_life_s
        self.counts = [0.0] * NUM_PITCH_CLASSES
        self.time_s: float | None = None

    def _decay_to(self, time_s: float) -> None:
        if self.time_s is not None and time_s > self.time_s:
            factor = math.exp(-self.rate * (time_s - self.time_s))
            self.counts = [c * factor for c in self.counts]
        if self.time_s is None or time_s > self.time_s:
            self.time_s = time_s

    def note_on(self, time_s: float, pitch: int, velocity: int = 100) -> None:
        self._decay_to(time_s)
        self.counts[pitch % NUM_PITCH_CLASSES] += 0.5 + velocity / 254.0  # 0.5 .. 1.0

    def histogram(self, time_s: float) -> tuple[float, ...] | None:
        """The pitch-class histogram to ask for at ``time_s`` (sums to 1), or None."""
        self._decay_to(time_s)
        total = sum(self.counts)
        if total < MIN_WEIGHT:
            return None
        return tuple(c / total for c in self.counts)

    def follow(self, time_s: float, current: tuple[float, ...] | None) -> tuple[float, ...] | None:
        """What to ask for at ``time_s``: the new histogram if it moved from ``current`` enough to
        matter (L1 distance 0.1), else ``current`` itself (the caller compares by identity)."""
        histogram = self.histogram(time_s)
        if histogram is None or current is None:
            return current if histogram is current else histogram
        moved = sum(abs(a - b) for a, b in zip(histogram, current, strict=True))
        return histogram if moved >= 0.1 else current

    def reset(self) -> None:
        self.counts = [0.0] * NUM_PITCH_CLASSES
        self.time_s = None


class Struck(NamedTuple):
    start_s: float
    pitch: int
    velocity: int


class PlayingFollower:
    """How densely and how loudly the pianist has just played (see the module docstring)."""

    def __init__(self, window_s: float = PHRASE_WINDOW_S) -> None:
        self.window_s = window_s
        self.notes: deque[Struck] = deque()

    def note_on(self, time_s: float, pitch: int, velocity: int) -> None:
        notes = self.notes
        notes.append(Struck(time_s, pitch, velocity))
        while notes and notes[0].start_s < time_s - self.window_s:
            notes.popleft()

    def notes_per_s(self) -> float | None:
        """Notes per second as played in the window, or None (too few notes to tell)."""
        if len(self.notes) < MIN_DENSITY_NOTES:
            return None
        return onset_rate(self.notes)

    def velocity(self) -> float | None:
        """The median velocity of the notes in the window, or None."""
        if not self.notes:
            return None
        return float(np.median([n.velocity for n in self.notes]))

    def reset(self) -> None:
        self.notes.clear()


class VelocityMatch:
    """The AI's velocities moved to sit at ``target`` (see the module docstring)."""

    def __init__(self, prior: float = AI_LEVEL_PRIOR, rate: float = AI_LEVEL_RATE) -> None:
        self.level = prior  # the AI's own level: the average of the velocities it chose
        self.rate = rate
        self.played_notes = 0
        self.target: float | None = None  # None: the model's own velocities

    def map(self, velocity: int) -> int:
        """The velocity to play for the model's ``velocity`` (a note-on's)."""
        if self.target is None:
            return velocity
        return max(1, min(127, int(round(velocity + self.target - self.level))))

    def played(self, velocity: int) -> None:
        """The model chose ``velocity`` for a note it played: its own level moves toward it."""
        self.played_notes += 1
        self.level += max(self.rate, 1.0 / self.played_notes) * (velocity - self.level)
