"""perfjam.follow: the key, density and loudness asked of the model follow what the pianist just
played; the AI's velocities sit at the pianist's level."""

from __future__ import annotations

import pytest

from perfjam.controls import PITCH_CLASS_NAMES, SCALES
from perfjam.follow import PHRASE_WINDOW_S, KeyFollower, PlayingFollower, VelocityMatch


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


def test_the_density_followed_is_the_phrase_as_played_and_silence_after_it_does_not_thin_it():
    follower = PlayingFollower()
    assert follower.notes_per_s() is None and follower.velocity() is None
    for i in range(12):  # 2 notes/s: a note every half second
        follower.note_on(i * 0.5, 60 + i % 5, 40)
    assert follower.notes_per_s() == pytest.approx(2.0)
    assert follower.velocity() == 40  # (silence adds nothing: the same at any time later)
    for i in range(30):  # then a dense phrase, 3-note chords 5 times a second
        for pitch in (60, 64, 67):
            follower.note_on(20.0 + i * 0.2, pitch, 90)
    assert follower.notes_per_s() == pytest.approx(15.0), "the old phrase is out of the window"
    assert follower.velocity() == 90
    assert max(n.start_s for n in follower.notes) - min(n.start_s for n in follower.notes) <= PHRASE_WINDOW_S


def test_one_chord_has_no_density():
    follower = PlayingFollower()
    for pitch in (60, 64, 67):
        follower.note_on(1.0, pitch, 80)
    assert follower.notes_per_s() is None and follower.velocity() == 80


def test_the_ais_velocities_sit_at_the_target_and_keep_their_own_shape():
    match = VelocityMatch(prior=68.0)
    assert match.map(90) == 90, "no target: the model's own velocities"
    model_crescendo = [70, 80, 90, 100, 110] * 8
    for v in model_crescendo:
        match.played(v)
    assert match.level == pytest.approx(90, abs=4)
    match.target = 45.0  # a soft pianist
    mapped = [match.map(v) for v in model_crescendo[:5]]
    assert mapped == sorted(mapped) and mapped[4] - mapped[0] == 40, "the crescendo stays"
    assert abs(sorted(mapped)[2] - 45) <= 4, "its middle sits at the pianist's level"
    match.target = 5.0
    assert match.map(60) == 1, "never below 1 (nor above 127)"


def test_the_ais_own_level_is_its_first_notes_mean_before_a_moving_average():
    match = VelocityMatch(prior=68.0)
    match.played(100)
    assert match.level == 100, "its first note, not the prior"
    match.played(80)
    assert match.level == 90
