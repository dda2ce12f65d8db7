"""training.motif.MotifMemory: a figure heard before predicts how it goes on, a step higher too."""

from __future__ import annotations

import numpy as np
import pytest

from training.motif import MotifMemory


def heard(pitches) -> MotifMemory:
    memory = MotifMemory()
    for p in pitches:
        memory.note_on(p)
    return memory


def test_a_figure_heard_before_predicts_its_next_note_transposed():
    memory = heard([60, 64, 67, 72, 62, 66, 69])  # C E G C, then D F# A...
    predicted, seen = memory.predict()
    assert predicted == {74: 1.0} and seen == 1  # ...D, as C E G went on to C
    assert heard([60, 61, 62]).predict() == ({}, 0), "a context never heard before says nothing"


def test_the_mix_goes_inside_the_note_on_mass_and_leaves_the_rest():
    memory = heard([60, 64, 67, 72, 62, 66, 69])
    p = np.full(388, 1.0 / 388)
    mixed = memory.mix(p, 0)
    assert mixed.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(mixed[128:], p[128:])  # every other event keeps its probability
    weight = memory.weight(1)
    assert mixed[74] == pytest.approx((1 - weight) / 388 + weight * 128 / 388)
    assert mixed[75] == pytest.approx((1 - weight) / 388)
    assert heard([60]).mix(p, 0) is p, "nothing to say: unchanged"


def test_truncate_takes_back_exactly_what_was_added():
    memory = heard([60, 64, 67, 72, 62])
    mark = memory.mark()
    table = {k: dict(v) for k, v in memory.table.items()}
    for p in (66, 69, 74, 70):
        memory.note_on(p)
    memory.truncate(mark)
    assert memory.pitches == [60, 64, 67, 72, 62]
    assert {k: dict(v) for k, v in memory.table.items()} == table


def test_a_long_stream_is_forgotten_from_the_front(monkeypatch):
    monkeypatch.setattr("training.motif.MAX_NOTES", 10)
    memory = heard(range(40, 80))
    assert len(memory.pitches) == 10 and memory.mark() == 40
    fresh = heard(range(70, 80))
    assert memory.table == fresh.table
