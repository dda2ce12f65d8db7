"""Time in the live engine: the clock (wall time <-> model steps), the timed note records of
the stream (``AiNote``, ``HeardNote``), and constant-memory timing statistics (``TimingStat``:
rolling window + whole-run histogram)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import NamedTuple

from perfjam.codec.events import STEPS_PER_SECOND


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
