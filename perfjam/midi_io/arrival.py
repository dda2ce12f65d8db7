"""Arrival times of polled MIDI messages (no rtmidi here: pure arithmetic, tested on its own).

rtmidi gives each queued message the time since the previous one (``delta_s``), read from the
MIDI system's clock when the message arrived: under JACK, ``jack_get_time()`` in the process
cycle that delivered it (CLOCK_MONOTONIC_RAW, microseconds); under ALSA, the sequencer queue's
time. Summed, the deltas give every arrival up to one unknown offset: arrival = offset + elapsed.
Each poll brackets that offset: a message that a poll returned (ending at ``upper_s``) and that
was not there when the last empty poll began (``lower_s``) arrived in [lower_s, upper_s]. The
offset is kept as the intersection of all brackets, widened by ``drift_ppm`` per second for the
slow drift between the MIDI clock and ``perf_counter`` (CLOCK_MONOTONIC, which NTP slews).
A stamp is the middle of that interval, so it always lies in its own bracket and is off by at
most ``error_s`` (half the interval); one prompt poll after a message is enough to make it tight
for all the messages that follow, however late the owner polls them.
"""

from __future__ import annotations

import math

DEFAULT_DRIFT_PPM = 200.0  # well above the NTP slew seen between the two clocks (< 1 ppm here)


class ArrivalClock:
    """``stamp(delta_s, lower_s, upper_s) -> arrival time_s``; ``reset()`` when the port reopens."""

    __slots__ = ("drift", "elapsed_s", "low_s", "high_s", "last_s")

    def __init__(self, drift_ppm: float = DEFAULT_DRIFT_PPM) -> None:
        self.drift = drift_ppm * 1e-6
        self.reset()

    def reset(self) -> None:
        self.elapsed_s = 0.0  # the MIDI clock's time since the first message, summed deltas
        self.low_s = -math.inf  # bounds of offset = arrival - elapsed
        self.high_s = math.inf
        self.last_s = 0.0

    @property
    def error_s(self) -> float:
        """The most the last stamp can be off (half the width of the offset interval)."""
        return (self.high_s - self.low_s) / 2 if self.high_s != math.inf else math.inf

    def stamp(self, delta_s: float, lower_s: float, upper_s: float) -> float:
        self.elapsed_s += delta_s
        elapsed = self.elapsed_s
        low, high = lower_s - elapsed, upper_s - elapsed
        if self.high_s != math.inf:
            widen = (upper_s - self.last_s) * self.drift
            kept_low, kept_high = self.low_s - widen, self.high_s + widen
            if kept_low <= high and low <= kept_high:
                low, high = max(low, kept_low), min(high, kept_high)
            # else the clocks jumped apart (or an API restarted its deltas): this bracket alone
        self.low_s, self.high_s, self.last_s = low, high, upper_s
        return elapsed + (low + high) / 2
