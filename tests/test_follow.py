"""perfjam.follow: the pitch-class control follows what the human just played."""

from __future__ import annotations

import pytest

from perfjam.controls import PITCH_CLASS_NAMES, SCALES
from perfjam.follow import KeyFollower


def _top(histogram, n: int) -> set[str]:
    ranked = sorted(range(12), key=lambda i: -histogram[i])
    return {PITCH_CLASS_NAMES[i] for i in ranked[:n]}


def test_nothing_heard_asks_for_nothing():
    assert KeyFollower().histogram(10.0) is None


def test_a_scale_played_is_the_histogram_asked_for():
    follower = KeyFollower()
    for i, step in enumerate(SCALES["major"]):
        follower.note_on(i * 0.2, 60 + 7 + step)  # G major
    histogram = follower.histogram(2.0)
    assert histogram is not None and sum(histogram) == pytest.approx(1.0)
    assert _top(histogram, 7) == {"G", "A", "B", "C", "D", "E", "F#"}


def test_the_control_follows_a_change_of_key_and_fades_in_silence():
    follower = KeyFollower(half_life_s=2.0)
    for i in range(20):
        follower.note_on(i * 0.25, 60 + (0, 4, 7)[i % 3])  # C major triad for 5 s
    for i in range(20):
        follower.note_on(5.0 + i * 0.25, 61 + (0, 4, 7)[i % 3])  # then C# major for 5 s
    assert _top(follower.histogram(10.0), 3) == {"C#", "F", "Ab"}
    assert follower.histogram(40.0) is None, "15 half-lives of silence: free play again"


def test_half_life_must_be_positive():
    with pytest.raises(ValueError):
        KeyFollower(0.0)


def test_follow_keeps_the_current_request_until_it_moves_enough():
    follower = KeyFollower()
    assert follower.follow(0.0, None) is None
    follower.note_on(0.0, 60)
    first = follower.follow(0.1, None)
    assert first is not None and _top(first, 1) == {"C"}
    follower.note_on(0.2, 60)
    assert follower.follow(0.3, first) is first, "the same pitch class again: no change"
    for i in range(6):
        follower.note_on(0.4 + i * 0.1, 66)
    moved = follower.follow(1.0, first)
    assert moved is not first and _top(moved, 1) == {"F#"}
