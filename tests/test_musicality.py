"""perfjam.musicality: the figures a partner is judged by, on small hand-made passages."""

from __future__ import annotations

import pytest

from perfjam import musicality as mu
from perfjam.codec.events import Note


def line(pitches, step_s=0.25, length_s=0.2, velocity=64, start_s=0.0):
    starts = [start_s + i * step_s for i in range(len(pitches))]
    return [Note(p, velocity, t, t + length_s) for p, t in zip(pitches, starts, strict=True)]


C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72]


def test_the_key_of_a_scale_and_of_a_cadence():
    assert mu.estimate_key(line(C_MAJOR_SCALE + [67, 64, 60])) == (0, "major")
    a_minor = line([57, 60, 64, 57, 62, 65, 56, 59, 64, 57, 60, 64], length_s=0.24)
    assert mu.estimate_key(a_minor) == (9, "minor")
    assert mu.estimate_key([]) is None
    assert mu.key_name((8, "major")) == "Ab major" and mu.key_name(None) == "-"


def test_pitch_class_correlation_is_one_for_the_same_classes_and_low_for_a_tritone_away():
    scale = line(C_MAJOR_SCALE)
    assert mu.pitch_class_correlation(scale, line([p + 12 for p in C_MAJOR_SCALE])) == pytest.approx(1.0)
    far = mu.pitch_class_correlation(scale, line([p + 6 for p in C_MAJOR_SCALE]))
    assert far < 0.2
    assert mu.pitch_class_correlation(scale, []) == 0.0


def test_texture_figures():
    chord = [Note(p, 80, 0.0, 1.0) for p in (48, 64, 67)]
    assert mu.pitch_range(chord) == 19 and mu.pitches_used(chord) == 3
    assert mu.polyphony(chord) == pytest.approx(3.0)
    assert mu.polyphony(chord + [Note(72, 80, 2.0, 3.0)]) == pytest.approx(2.0)  # 3 for 1 s, 1 for 1 s
    assert mu.pitch_class_entropy(line([60] * 4)) == 0.0
    assert mu.pitch_class_entropy(line(range(60, 72))) == pytest.approx(3.585, abs=1e-3)
    assert mu.scale_consistency(line(C_MAJOR_SCALE)) == 1.0
    assert mu.scale_consistency(line(range(60, 72))) == pytest.approx(7 / 12)
    assert mu.median_velocity(line([60, 62], velocity=50)) == 50
    assert mu.notes_per_s(line(C_MAJOR_SCALE), 2.0) == 4.0


def test_the_rate_as_played_counts_each_beat_and_each_note_of_a_chord():
    assert mu.onset_rate(line(C_MAJOR_SCALE, step_s=0.25)) == pytest.approx(4.0)
    chords = [Note(p, 64, t, t + 0.4) for t in (0.0, 0.5, 1.0) for p in (60, 64, 67)]
    assert mu.onset_rate(chords) == pytest.approx(6.0)  # three notes every half second
    assert mu.onset_rate(line([60])) is None and mu.onset_rate([]) is None


def test_a_repeated_motif_recurs_and_a_transposed_one_too_but_a_run_does_not():
    motif = [60, 64, 62, 65, 64]  # 4 intervals: +4 -2 +3 -1
    assert mu.recurring_figures(line(motif)) == 0.0
    twice = mu.recurring_figures(line(motif + [p + 5 for p in motif]))
    # 9 intervals -> 6 figures; the second statement's figure is the first's
    assert twice == pytest.approx(1 / 6)
    assert mu.recurring_figures(line(range(48, 72, 2))) == pytest.approx(7 / 8)  # a whole-tone run: +2 +2 ...
    assert mu.recurring_figures(line([60, 67, 61, 66, 58, 70, 55])) == 0.0


def test_notes_in_a_chord_are_read_low_to_high():
    chord_then_note = [Note(67, 80, 0.0, 1.0), Note(60, 80, 0.001, 1.0), Note(64, 80, 0.5, 1.0)]
    assert [n.pitch for n in mu.onset_order(chord_then_note)] == [60, 67, 64]


def test_clashes_count_semitones_sevenths_and_ninths_against_sounding_notes_only():
    human = [Note(60, 80, 0.0, 2.0), Note(67, 80, 0.0, 1.0)]
    ai = [Note(61, 70, 0.5, 0.8),  # semitone above C: clash
          Note(71, 70, 0.5, 0.8),  # major 7th above C: clash
          Note(73, 70, 0.5, 0.8),  # minor 9th above C: clash
          Note(68, 70, 1.5, 1.8),  # a semitone above G, but G has ended: no clash
          Note(64, 70, 0.5, 0.8)]  # a third: no clash
    assert mu.clash_rate(ai, human) == pytest.approx(3 / 5)
    assert mu.clash_rate([], human) is None
    assert mu.own_clash_rate([Note(60, 80, 0.0, 1.0), Note(61, 80, 0.5, 1.0), Note(64, 80, 2.0, 3.0)]) \
        == pytest.approx(1 / 3)  # C# begins while C sounds; C began alone, and so did E
