"""perfjam.midi_io.arrival.ArrivalClock: arrival times rebuilt from the MIDI clock's deltas and
the brackets the polls give (pure arithmetic, no MIDI system needed)."""

from __future__ import annotations

import math
import random

from perfjam.midi_io.arrival import ArrivalClock


def simulate(arrivals_s: list[float], poll_s: float, busy: list[tuple[float, float]] = (),
             drift_ppm: float = 0.0, seed: int = 0):
    """A reader polling every ``poll_s`` (except during ``busy`` stretches) a queue filled at
    ``arrivals_s`` on a MIDI clock running ``drift_ppm`` fast. Returns (true, stamp, error) per
    message."""
    rng = random.Random(seed)
    clock = ArrivalClock()
    out, t, last_empty, i, previous_midi = [], 0.0, 0.0, 0, None
    while i < len(arrivals_s):
        if any(a <= t < b for a, b in busy):
            t = next(b for a, b in busy if a <= t < b)
        start = t
        while i < len(arrivals_s) and arrivals_s[i] <= t:
            midi = arrivals_s[i] * (1 + drift_ppm * 1e-6)
            delta = 0.0 if previous_midi is None else midi - previous_midi
            previous_midi = midi
            t += 2e-6  # each get_message
            out.append((arrivals_s[i], clock.stamp(delta, last_empty, t), clock.error_s))
            i += 1
        if t == start:
            last_empty = start
        t += poll_s * rng.uniform(0.9, 1.1)
    return out


def test_stamps_lie_in_their_bracket_and_get_tight():
    rng = random.Random(1)
    arrivals = sorted(rng.uniform(0.0, 20.0) for _ in range(2000))
    results = simulate(arrivals, poll_s=0.0005)
    errors = [abs(stamp - true) for true, stamp, _ in results]
    assert max(errors) <= 0.0006  # never worse than one poll
    assert sorted(errors)[len(errors) // 2] < 0.00005  # and mostly far better
    assert all(abs(stamp - true) <= bound + 1e-9 for true, stamp, bound in results[1:])


def test_a_late_reader_still_stamps_the_true_arrival():
    """The reader is busy for 40 ms at times (a model step, a GIL held elsewhere): messages that
    arrived then keep their own times instead of the time they were read."""
    arrivals = [i * 0.013 for i in range(1, 400)]
    busy = [(k * 0.5, k * 0.5 + 0.04) for k in range(1, 10)]
    results = simulate(arrivals, poll_s=0.0005, busy=busy)
    late = [(true, stamp) for true, stamp, _ in results if any(a <= true < b for a, b in busy)]
    assert len(late) > 20
    assert max(abs(stamp - true) for true, stamp in late) < 0.0002


def test_clock_drift_and_jumps_are_absorbed():
    arrivals = [i * 0.02 for i in range(1, 3000)]  # a minute
    results = simulate(arrivals, poll_s=0.0005, drift_ppm=150.0)
    assert max(abs(stamp - true) for true, stamp, _ in results) <= 0.0006
    clock = ArrivalClock()
    clock.stamp(0.0, 10.0, 10.001)
    clock.stamp(0.01, 10.0105, 10.0112)
    # the MIDI clock restarted its deltas (e.g. a reopened port): the bracket alone decides
    stamp = clock.stamp(0.0, 20.0, 20.0004)
    assert 20.0 <= stamp <= 20.0004 and clock.error_s <= 0.0002
    clock.reset()
    assert math.isinf(clock.error_s)
