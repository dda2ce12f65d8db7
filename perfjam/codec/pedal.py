"""The sustain pedal folded into note lengths, causally (a leaf of the codec: no imports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SUSTAIN_CC = 64


@dataclass(frozen=True, slots=True)
class TimedNote:
    """A note-on or note-off at a time in seconds."""

    time_s: float
    pitch: int
    velocity: int
    is_on: bool


class PedalFolder:
    """Folds the sustain pedal (CC64 >= 64 is down) into note lengths, causally.

    A key released while the pedal is down keeps sounding until the pedal is released or the
    same pitch is struck again. A note-on on a sounding pitch re-strikes it (off, then on).
    """

    def __init__(self, sustain: bool = True) -> None:
        self.sustain = sustain
        self.pedal_down = False
        self.held: set[int] = set()  # keys physically down
        self.sustained: set[int] = set()  # keys up, still sounding through the pedal

    @property
    def sounding(self) -> set[int]:
        return self.held | self.sustained

    def note_on(self, time_s: float, pitch: int, velocity: int) -> list[TimedNote]:
        out = []
        if pitch in self.held or pitch in self.sustained:
            out.append(TimedNote(time_s, pitch, 0, False))
        self.sustained.discard(pitch)
        self.held.add(pitch)
        out.append(TimedNote(time_s, pitch, velocity, True))
        return out

    def note_off(self, time_s: float, pitch: int) -> list[TimedNote]:
        if pitch not in self.held:
            return []
        self.held.discard(pitch)
        if self.pedal_down:
            self.sustained.add(pitch)
            return []
        return [TimedNote(time_s, pitch, 0, False)]

    def pedal(self, time_s: float, down: bool) -> list[TimedNote]:
        if not self.sustain:
            return []
        self.pedal_down = down
        if down:
            return []
        out = [TimedNote(time_s, p, 0, False) for p in sorted(self.sustained)]
        self.sustained.clear()
        return out

    def release_all(self, time_s: float) -> list[TimedNote]:
        out = [TimedNote(time_s, p, 0, False) for p in sorted(self.sounding)]
        self.held.clear()
        self.sustained.clear()
        self.pedal_down = False
        return out

    def feed_bytes(self, time_s: float, data: Sequence[int]) -> list[TimedNote]:
        """A raw MIDI channel message (any channel) -> note actions."""
        if len(data) < 3:
            return []
        kind = data[0] & 0xF0
        if kind == 0x90 and data[2] > 0:
            return self.note_on(time_s, data[1], data[2])
        if kind == 0x80 or kind == 0x90:
            return self.note_off(time_s, data[1])
        if kind == 0xB0 and data[1] == SUSTAIN_CC:
            return self.pedal(time_s, data[2] >= 64)
        return []
