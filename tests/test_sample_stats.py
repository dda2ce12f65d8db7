"""training.sample_stats: broken-sound detectors, the overlap area and samples against data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfjam.codec.events import Note
from perfjam.generation import MAX_NOTE_S
from perfjam.stats import LONG_NOTE_S
from training import sample_stats
from training.sample_stats import Described, describe_all, overlap_area


def _line(pitches, step_s: float = 0.1, start_s: float = 0.0, length_s: float = 0.08,
          velocity: int = 80) -> list[Note]:
    return [Note(p, velocity, start_s + i * step_s, start_s + i * step_s + length_s)
            for i, p in enumerate(pitches)]


# ----------------------------------------------------------------------------- detectors


def test_trill_runs_exact():
    trill = _line([60, 62] * 10)  # 20 notes: 19 alternations
    [run] = sample_stats.trill_runs(trill, 16)
    assert (run.pitches, run.alternations, run.start_s) == ((60, 62), 19, 0.0)
    assert run.end_s == pytest.approx(1.9)
    assert sample_stats.trill_runs(trill, 19) == []  # "more than N" is strict
    assert [r.alternations for r in sample_stats.trill_runs(trill, 18)] == [19]


def test_trill_runs_split_share_a_note_and_ignore_chords():
    runs = sample_stats.trill_runs(_line([60, 62, 60, 62, 64, 62, 64, 62]), 0)
    assert [(r.pitches, r.alternations) for r in runs] == [((60, 62), 3), ((62, 64), 4)]
    # a melody with a broken third: no run longer than two alternations
    assert max(r.alternations for r in sample_stats.trill_runs(_line([60, 62, 64, 62, 60, 59, 57]), 0)) == 2
    # the same two-note chord struck 20 times is no trill (only the step from one chord to the next)
    dyads = [n for i in range(20) for n in _line([60, 62], step_s=0.0, start_s=0.2 * i)]
    assert {r.alternations for r in sample_stats.trill_runs(dyads, 0)} == {1}
    assert sample_stats.trill_runs(dyads, 1) == []
    # a trill interrupted by another pitch: two runs, neither over 16
    broken = _line([60, 62] * 5 + [67] + [60, 62] * 5)
    assert sample_stats.trill_runs(broken, 16) == []
    assert max(r.alternations for r in sample_stats.trill_runs(broken, 0)) == 9
    assert sample_stats.trill_runs([], 0) == [] and sample_stats.trill_runs(_line([60]), 0) == []


def test_repetitions_of_one_or_two_pitches_longer_than_4_s():
    [(start, end, pitches)] = sample_stats.repetitions(_line([60, 62] * 30))  # 5.9 s of a trill
    assert (start, pitches) == (0.0, (60, 62)) and end == pytest.approx(5.9)
    assert [r[2] for r in sample_stats.repetitions(_line([60] * 50))] == [(60,)]  # one key, 4.9 s
    assert sample_stats.repetitions(_line([60, 62] * 20)) == []  # 3.9 s: not longer than 4 s
    assert sample_stats.repetitions(_line([60, 62, 64] * 30)) == []  # three pitches
    # a repeated dyad counts (the trill detector ignores it); a trill moving on shares its turning note
    dyads = [n for i in range(30) for n in _line([60, 67], step_s=0.0, start_s=0.2 * i)]
    assert [r[2] for r in sample_stats.repetitions(dyads)] == [(60, 67)]
    runs = sample_stats.repetitions(_line([60, 62] * 25 + [64, 62] * 25))
    assert [(r[0], r[2]) for r in runs] == [(0.0, (60, 62)), (pytest.approx(4.9), (62, 64))]
    # two notes far apart are a silence, not a repetition
    assert sample_stats.repetitions([Note(60, 80, 0.0, 0.1), Note(60, 80, 6.0, 6.1)]) == []


def test_silences_exact():
    notes = [Note(60, 80, 0.0, 1.0), Note(64, 80, 0.5, 2.0), Note(67, 80, 6.0, 7.0), Note(72, 80, 7.5, 8.0)]
    assert sample_stats.silences(notes) == [(2.0, 6.0)]
    assert sample_stats.silences(notes, end_s=12.0) == [(2.0, 6.0), (8.0, 12.0)]
    assert sample_stats.silences(notes, longer_than_s=0.4) == [(2.0, 6.0), (7.0, 7.5)]
    assert sample_stats.silences(notes, longer_than_s=4.0) == []  # "longer than" is strict
    assert sample_stats.silences([Note(60, 80, 4.0, 5.0)]) == [(0.0, 4.0)]  # a silent start counts
    assert sample_stats.silences([Note(60, 80, 0.0, 1.0), Note(60, 80, 4.0, 5.0)]) == []  # exactly 3 s
    assert sample_stats.silences([], end_s=5.0) == [(0.0, 5.0)]
    held = [Note(48, 80, 0.0, 20.0), Note(60, 80, 1.0, 1.5), Note(62, 80, 15.0, 16.0)]
    assert sample_stats.silences(held) == []  # a held note covers the gap between the others


def test_describe_counts_what_sounds_broken():
    notes = _line([60, 62] * 10) + [Note(36, 80, 2.0, 2.0 + LONG_NOTE_S + 1.0)] + _line([70], start_s=17.0)
    stats = sample_stats.describe(notes, unclosed=1, seconds=25.0)
    assert (stats["longest_trill"], stats["trills"]) == (19, 1)
    assert stats["longest_silence_s"] == pytest.approx(25.0 - 17.08)
    # silent from 13 s (the long note ends) to 17 s and after 17.08 s
    assert (stats["silences"], stats["long_notes"]) == (2, 1)
    assert (stats["unclosed_notes"], stats["stuck_notes"]) == (1, 2)
    assert (stats["longest_repetition_s"], stats["repetitions"]) == (1.9, 0)


def test_forced_releases_are_the_notes_held_to_max_note_s():
    notes = [Note(60, 80, 0.0, MAX_NOTE_S), Note(62, 80, 1.0, 1.0 + MAX_NOTE_S - 0.01),
             Note(64, 80, 2.0, 2.0 + MAX_NOTE_S - 0.02), Note(65, 80, 3.0, 3.5)]
    stats = sample_stats.describe(notes, 0, 10.0)
    assert stats["forced_releases"] == 2
    share = sample_stats.forced_release_share([stats, sample_stats.describe(_line([60] * 4), 0, 10.0)])
    assert share == {"notes": 2, "of": 8, "share": 0.25, "at_least_s": MAX_NOTE_S - 0.01}


# ----------------------------------------------------------------------------- overlap


def test_overlap_of_identical_distributions_is_1():
    values = np.random.default_rng(0).lognormal(-2.0, 1.0, 500)  # IOI-like: skewed, positive
    assert overlap_area(values, values) == pytest.approx(1.0)
    assert overlap_area([64] * 10, [64] * 3) == pytest.approx(1.0)  # all tied: one bin


def test_overlap_of_disjoint_distributions_is_0():
    values = np.random.default_rng(1).normal(0.0, 1.0, 300)
    assert overlap_area(values, values + 100.0) == 0.0
    assert overlap_area(values, values - 100.0) == 0.0  # below the data's range too
    assert overlap_area([0] * 10, [1] * 10) == overlap_area([1] * 10, [0] * 10) == 0.0
    assert overlap_area([3, 4, 5], [1, 2], bins=2) == 0.0
    assert overlap_area([], [1.0]) is None and overlap_area([1.0], []) is None


def test_overlap_of_partly_shared_distributions():
    # half the samples' mass on the data's two upper values: exactly one half
    assert overlap_area([0, 1, 2, 3] * 10, [2, 3, 4, 5] * 10) == pytest.approx(0.5)
    # two unit normals one standard deviation apart share 2 * Phi(-1/2) = 0.617 of their area;
    # binning can only add to it (twenty bins: by at most a bin's mass)
    rng = np.random.default_rng(2)
    overlap = overlap_area(rng.normal(0.0, 1.0, 20000), rng.normal(1.0, 1.0, 20000))
    shared = 1.0 + math.erf(-0.5 / math.sqrt(2.0))  # 2 * Phi(-1/2)
    assert shared - 0.01 < overlap < shared + 0.03


def test_overlap_bins_follow_the_smaller_set():
    assert sample_stats.overlap_bins(8) == 4 and sample_stats.overlap_bins(3) == 2
    assert sample_stats.overlap_bins(10_000) == sample_stats.OVERLAP_BINS


# ----------------------------------------------------------------------------- samples against data


def _performances(velocity: int = 80, count: int = 12) -> list[Described]:
    """``count`` 10-s performances of a C-major line at 4-8 notes/s (the same rates for any velocity)."""
    rng = np.random.default_rng(0)
    return [describe_all(_line([60 + (0, 2, 4, 5, 7, 9, 11)[i % 7] for i in range(int(10 * rate))],
                               step_s=1 / rate, length_s=0.5 / rate, velocity=velocity), 0, 10.0)
            for rate in rng.uniform(4.0, 8.0, count)]


def test_samples_like_the_data_pass_with_full_overlap():
    data = _performances()
    comparison = sample_stats.compare(data, data)
    assert set(comparison) == {*sample_stats.STATS, *sample_stats.NOTE_STATS}
    for key, row in comparison.items():
        assert row["overlap"] == pytest.approx(1.0) and row["passes"], key
        assert row["per"] == ("note" if key in sample_stats.NOTE_STATS else "segment")
        assert 0.0 <= row["overlap_if_perfect"] <= 1.0
    assert comparison["notes_per_s"]["bins"] == 6 and comparison["velocity"]["bins"] == 20
    assert len(comparison["ioi_s"]["samples"]) == len(data)  # per-sample medians
    checks = sample_stats.checks([d.stats for d in data], [d.stats for d in data])
    assert sample_stats.verdict(comparison, checks) == []


def test_louder_samples_fail_on_velocity_and_say_why():
    data, loud = _performances(), _performances(velocity=120)
    comparison = sample_stats.compare(loud, data)
    velocity = comparison["velocity"]
    assert (velocity["overlap"], velocity["median"]) == (0.0, 120)
    assert not velocity["passes"] and velocity["flag"]
    assert comparison["notes_per_s"]["passes"] and comparison["ioi_s"]["overlap"] == pytest.approx(1.0)
    checks = sample_stats.checks([d.stats for d in loud], [d.stats for d in data])
    assert [f.split(":")[0] for f in sample_stats.verdict(comparison, checks)] == ["velocity"]
    stuck = [describe_all([Note(60, 80, 0.0, MAX_NOTE_S)], 0, 10.0)]
    checks = sample_stats.checks([d.stats for d in stuck], [d.stats for d in data])
    assert "forced_releases in 1/1 samples" in sample_stats.verdict(sample_stats.compare(stuck, data), checks)
    no_data = sample_stats.compare(loud, [])["velocity"]
    assert no_data == {"per": "note", "samples": [120.0] * 12, "median": 120}
