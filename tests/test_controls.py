"""Control vectors: note density bins and pitch-class histograms, looking ahead from each event."""

import numpy as np
import pytest

from perfjam.codec.events import VOCAB_DYNAMICS, Note, encode_notes
from perfjam.controls import (
    CONTROL_SIZE,
    DENSITY_RESPONSE,
    NUM_DENSITY_BINS,
    control_vector,
    controls_for_events,
    density_bin,
    density_input,
    density_level,
    request_vector,
    requested_control,
    scale_histogram,
)


def test_density_bins_follow_the_edges():
    assert [density_bin(x) for x in (0.0, 0.99, 1.0, 3.0, 8.0, 70.0)] == [0, 0, 1, 2, 4, 7]


def test_scale_histogram_marks_the_scale_degrees():
    c_major = scale_histogram("C", "major")
    assert np.isclose(c_major.sum(), 1.0)
    assert [i for i in range(12) if c_major[i] > 0] == [0, 2, 4, 5, 7, 9, 11]
    assert [i for i in range(12) if scale_histogram("A", "minor")[i] > 0] == [0, 2, 4, 5, 7, 9, 11]


def test_control_vector_layout():
    v = control_vector(5.0, scale_histogram(7, "major"))
    assert v.shape == (CONTROL_SIZE,)
    assert v[:NUM_DENSITY_BINS].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert np.isclose(v[NUM_DENSITY_BINS:].sum(), 1.0)


def test_controls_describe_the_next_seconds_of_music():
    # 3 s of sparse C-major notes (2/s) then 3 s of dense chromatic notes (10/s)
    sparse = [Note(60 + (i % 3) * 2, 64, i * 0.5, i * 0.5 + 0.4) for i in range(6)]
    dense = [Note(60 + i % 12, 64, 3.0 + i * 0.1, 3.0 + i * 0.1 + 0.05) for i in range(30)]
    events = encode_notes(sparse + dense, VOCAB_DYNAMICS)
    controls = controls_for_events(events, VOCAB_DYNAMICS)
    assert controls.shape == (len(events), CONTROL_SIZE)
    assert controls[0, :NUM_DENSITY_BINS].argmax() == density_bin(6 / 3.0)
    assert controls[events.index(61), :NUM_DENSITY_BINS].argmax() == density_bin(29 / 3.0)
    first_classes = np.nonzero(controls[0, NUM_DENSITY_BINS:])[0].tolist()
    assert set(first_classes) >= {0, 2, 4}
    assert np.allclose(controls[:, NUM_DENSITY_BINS:].sum(axis=1), 1.0)


def test_a_density_asked_for_is_the_level_at_which_the_model_plays_it():
    for level, rate in DENSITY_RESPONSE:
        assert density_level(rate) == pytest.approx(level)
    assert 2.0 < density_level(4.5) < 2.5  # between the levels that give 3.68 and 5.33
    assert density_level(0.01) == 0.0 and density_level(1000.0) == DENSITY_RESPONSE[-1][0]
    levels = [density_level(x) for x in (0.5, 1, 2, 4, 8, 16, 32)]
    assert levels == sorted(levels)


def test_between_two_levels_both_bins_are_asked_for_weighted():
    assert density_input(2.0).tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(density_input(2.25), [0, 0, 0.75, 0.25, 0, 0, 0, 0])
    assert density_input(99.0).tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    c_major = scale_histogram("C", "major")
    v = request_vector(4.5, c_major)
    assert v[:NUM_DENSITY_BINS].sum() == pytest.approx(1.0) and np.count_nonzero(v[:NUM_DENSITY_BINS]) == 2
    assert np.array_equal(v[NUM_DENSITY_BINS:], control_vector(4.5, c_major)[NUM_DENSITY_BINS:])
    assert np.array_equal(requested_control(CONTROL_SIZE, 4.5, c_major), v)
