"""perfjam.live.steering.Steering without threads or a model: what the AI is asked for follows the
pianist, and the foot switch answers on its press only."""

from __future__ import annotations

import numpy as np
import pytest

from perfjam.controls import CONTROL_SIZE, NO_CONTROL_INDEX, NUM_DENSITY_BINS, density_input, density_level
from perfjam.live.config import EngineConfig
from perfjam.live.steering import DUET_CORRECTION_PRIOR, Steering


def steering(**config) -> Steering:
    s = Steering(EngineConfig(**config))
    s.set_model(CONTROL_SIZE)
    return s


def play_phrase(s: Steering, notes_per_s: float, velocity: int, start_s: float = 0.0, seconds: float = 4.0):
    for i in range(int(seconds * notes_per_s) + 1):
        s.human_note_on(start_s + i / notes_per_s, (60, 62, 64, 65, 67)[i % 5], velocity)


def test_nothing_played_plays_freely():
    s = steering()
    s.follow(1.0)
    assert s.control[NO_CONTROL_INDEX] == 1.0 and s.velocity.target is None


def test_the_density_and_loudness_of_a_sparse_soft_phrase_are_followed():
    s = steering()
    play_phrase(s, 2.0, 41)
    assert s.follow(4.5)
    np.testing.assert_allclose(s.control[:NUM_DENSITY_BINS], density_input(density_level(2.0)))
    assert s.control[NO_CONTROL_INDEX] == 0.0
    assert s.velocity.target == 41, "as loud as the pianist"
    s.set_loudness("softer")
    assert s.velocity.target == 29
    s.set_loudness("own")
    assert s.velocity.target is None


def test_a_duet_asks_for_a_fraction_of_the_pianists_density():
    s = steering(mode="duet", duet_density=0.5)
    play_phrase(s, 4.0, 80)
    s.follow(4.5)  # (nothing played by the AI yet: the correction is where it starts)
    assert s.followed_notes_per_s == pytest.approx(2.0 * DUET_CORRECTION_PRIOR)


def test_a_density_picked_by_hand_wins_and_following_can_be_turned_off():
    s = steering(notes_per_s=12.0)
    play_phrase(s, 2.0, 60)
    s.follow(4.5)
    np.testing.assert_allclose(s.control[:NUM_DENSITY_BINS], density_input(density_level(12.0)))
    s = steering(follow_density=False, follow_key=False)
    play_phrase(s, 2.0, 60)
    s.follow(4.5)
    assert s.control[NO_CONTROL_INDEX] == 1.0


def test_the_answer_pedal_fires_on_its_press_only():
    s = steering(answer_cc=67)
    assert [s.answers_now(67, v) for v in (0, 70, 90, 127, 80, 30, 100)] == \
        [False, True, False, False, False, False, True]
    assert not s.answers_now(64, 127), "another controller"
    assert not steering().answers_now(67, 127), "none by default"


def test_a_duet_that_plays_more_than_it_was_asked_for_asks_for_less():
    s = steering(mode="duet", duet_density=0.5)
    play_phrase(s, 4.0, 80, seconds=30.0)  # the pianist plays 4 notes/s: 2 asked of the AI
    asked, played = [], 0
    for t in range(80):  # status turns, 4 a second, while the AI plays 6 notes/s
        now_s = 10.0 + t * 0.25
        while 10.0 + played / 6 <= now_s:
            s.ai_played(10.0 + played / 6, 70)
            played += 1
        s.follow(now_s)
        asked.append(s.followed_notes_per_s)
    assert s.duet_correction < DUET_CORRECTION_PRIOR and asked[-1] < asked[0], "corrected downwards"
    assert s.duet_correction >= 0.2
