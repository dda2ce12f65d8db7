"""Key follows me: the pitch-class control set from what the human has just played, as the
Magenta Performance RNN browser demo sets it from its MIDI input. Pure (no threads, no I/O).

Each human note-on adds its velocity-weighted weight to its pitch class; the histogram decays
with a half-life of ``half_life_s`` (a few seconds), so the control follows a change of key
within a phrase or two. ``histogram`` is what the model is asked for: the decayed counts over
their sum, or None while nothing has been heard recently (the model then plays freely).
"""

from __future__ import annotations

import math

from perfjam.controls import NUM_PITCH_CLASSES

DEFAULT_HALF_LIFE_S = 4.0
MIN_WEIGHT = 0.5  # below this (about half a note, decayed) nothing is asked for


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
