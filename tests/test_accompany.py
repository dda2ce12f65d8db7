"""perfjam.live.accompany: in a duet the AI leaves the pianist's notes room and does not drone."""

from __future__ import annotations

import numpy as np
import pytest

from perfjam.codec.events import VOCAB_DYNAMICS, EventType
from perfjam.follow import Struck
from perfjam.live.accompany import (
    CLASH_WEIGHT,
    OUT_OF_HARMONY_WEIGHT,
    OUT_OF_REGISTER_WEIGHT,
    RELEASE_GROWTH,
    SOFT_HOLD_STEPS,
    UNISON_WEIGHT,
    Accompanist,
)

ON0, OFF0 = VOCAB_DYNAMICS.offsets[EventType.NOTE_ON], VOCAB_DYNAMICS.offsets[EventType.NOTE_OFF]


def test_nothing_to_leave_room_for_weights_nothing():
    assert Accompanist(VOCAB_DYNAMICS).weights({}, {64: 100}, 150) is None


def test_notes_a_semitone_a_seventh_or_a_ninth_from_the_pianists_are_unlikely():
    w = Accompanist(VOCAB_DYNAMICS).weights({60: 1}, {}, 0)
    for clash in (59, 61, 49, 71, 47, 73):
        assert w[ON0 + clash] == pytest.approx(CLASH_WEIGHT), clash
    assert w[ON0 + 60] == pytest.approx(UNISON_WEIGHT)
    for consonant in (48, 52, 55, 64, 67, 72):
        assert w[ON0 + consonant] == 1.0
    assert np.all(w[OFF0:] == 1.0), "only note-ons are weighted for the pianist"


def test_an_ai_note_held_long_is_ever_likelier_to_end():
    acc = Accompanist(VOCAB_DYNAMICS)
    w = acc.weights({}, {40: 0, 52: 250}, SOFT_HOLD_STEPS + 100)
    assert w[OFF0 + 40] == pytest.approx(RELEASE_GROWTH)  # held a second past the soft limit
    assert w[OFF0 + 52] == 1.0  # held 0.5 s


def test_it_keeps_to_the_pianists_harmony_and_near_their_hands():
    acc = Accompanist(VOCAB_DYNAMICS)
    c_major_chord = [Struck(9.0 + i * 0.1, p, 70) for i, p in enumerate((48, 60, 64, 67, 72))]
    acc.follow([Struck(1.0, 61, 70), *c_major_chord], now_s=10.0)  # (the C# is long past)
    w = acc.weights({}, {}, 0)
    assert w[ON0 + 55] == 1.0 and w[ON0 + 76] == 1.0  # G and E: in the chord, near the hands
    assert w[ON0 + 62] == pytest.approx(OUT_OF_HARMONY_WEIGHT)  # D: not played just now
    assert w[ON0 + 61] == pytest.approx(OUT_OF_HARMONY_WEIGHT)
    assert w[ON0 + 96] == pytest.approx(OUT_OF_REGISTER_WEIGHT)  # C7: two octaves above their highest
    assert w[ON0 + 98] == pytest.approx(OUT_OF_HARMONY_WEIGHT * OUT_OF_REGISTER_WEIGHT)
    acc.follow([], now_s=20.0)
    assert acc.weights({}, {}, 0) is None, "nothing heard: nothing to keep to"
