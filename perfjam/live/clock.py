"""Time in the live engine: the clock (wall time <-> model steps) and the timed note records of
the stream (``AiNote``: due to be sent, ``HeardNote``: what the model heard)."""

from __future__ import annotations

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
    by_human: bool = False  # ended by the human's action on its pitch: sent once that step is heard


class HeardNote(NamedTuple):
    """A note action the model heard, as played (tests compare these with ``history``)."""

    step: int
    source: str  # "human" | "ai"
    pitch: int
    velocity: int
    is_on: bool
