"""Musical figures of notes, the way a musician would judge a partner: pure numpy, no I/O.

Notes are anything with ``pitch``, ``velocity``, ``start_s`` and ``end_s`` (``perfjam.codec.events.Note``).
The benchmarks (``benchmarks/partner.py``), the sampling sweep and the evaluation use them; the
definitions are written once, here:

* **pitch classes**: ``pitch_class_histogram`` counts note-ons per pitch class;
  ``pitch_class_correlation`` is the Pearson correlation of two such histograms (1: the same
  pitch classes in the same proportions; about 0 for unrelated music);
* **key**: ``estimate_key`` is the Krumhansl–Schmuckler key finder: the duration-weighted
  pitch-class profile (durations capped at ``KEY_DURATION_CAP_S``, so a pedalled bass does not
  outweigh a phrase) correlated with the Krumhansl–Kessler profiles of the 24 major and minor keys;
* **texture**: ``pitch_range`` (semitones from lowest to highest), ``pitches_used``,
  ``pitch_class_entropy`` (bits, as muspy), ``scale_consistency`` (the largest share of notes in
  one major/minor scale, as muspy), ``polyphony`` (mean notes sounding while any sounds, as
  muspy), ``notes_per_s``, ``median_duration_s``, ``median_velocity``;
* **density as played**: ``onset_rate`` is the notes begun per second over the span of the
  onsets (the notes of the last onset are not counted: a regular rhythm of N beats and its
  N - 1 intervals gives its own rate), the figure "Follow me" asks for and a partner is judged by;
* **recurring figures**: ``recurring_figures`` reads the note-ons in order (by onset, then
  pitch, as the event stream has them) as a sequence of intervals, and gives the share of
  ``FIGURE_INTERVALS``-interval figures that already occurred earlier in the passage (a repeated
  motif, an Alberti bass, a sequence a step higher is not one: intervals, not pitches, so a
  transposed figure recurs too);
* **clashes**: an onset *clashes* with a note sounding at that moment when they are a semitone, a
  major seventh or a minor ninth apart (``CLASH_INTERVALS``); ``clash_rate(notes, against)`` is
  the share of ``notes``' onsets that clash with a note of ``against`` (the AI against the
  pianist), ``own_clash_rate(notes)`` the same within one part (a piece against itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

NUM_PITCH_CLASSES = 12
KEY_DURATION_CAP_S = 2.0
FIGURE_INTERVALS = 4
CLASH_INTERVALS = (1, 11, 13)  # semitone, major seventh, minor ninth
ONSET_STEP_S = 0.01  # onsets within one 10 ms step are one onset (a chord)
MODES = ("major", "minor")
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982), tonic first
_KK = {
    "major": np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
    "minor": np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17]),
}
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)

Notes = Sequence[Any]
Key = tuple[int, str]  # (tonic pitch class, "major" | "minor")


def key_name(key: Key | None) -> str:
    """(8, "major") -> "Ab major"; None -> "-"."""
    return "-" if key is None else f"{NOTE_NAMES[key[0]]} {key[1]}"


# --- pitch classes and key -------------------------------------------------------------------------
def pitch_class_histogram(notes: Iterable[Any], weight: str = "count") -> np.ndarray:
    """Note-ons per pitch class (``weight="duration"``: their durations, capped)."""
    histogram = np.zeros(NUM_PITCH_CLASSES)
    for n in notes:
        if weight == "count":
            histogram[n.pitch % NUM_PITCH_CLASSES] += 1.0
        else:
            histogram[n.pitch % NUM_PITCH_CLASSES] += min(max(n.end_s - n.start_s, 0.0), KEY_DURATION_CAP_S)
    return histogram


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def pitch_class_correlation(a: Notes, b: Notes) -> float:
    """Pearson correlation of the two parts' pitch-class histograms (0 when either is empty or flat)."""
    return _correlation(pitch_class_histogram(a), pitch_class_histogram(b))


def estimate_key(notes: Notes) -> Key | None:
    """The Krumhansl–Schmuckler key of ``notes`` (None without notes)."""
    profile = pitch_class_histogram(notes, "duration")
    if not profile.any():
        return None
    best, best_r = None, -np.inf
    for mode in MODES:
        for tonic in range(NUM_PITCH_CLASSES):
            r = _correlation(profile, np.roll(_KK[mode], tonic))
            if r > best_r:
                best, best_r = (tonic, mode), r
    return best


# --- texture ---------------------------------------------------------------------------------------
def pitch_range(notes: Notes) -> int:
    return max(n.pitch for n in notes) - min(n.pitch for n in notes) if notes else 0


def pitches_used(notes: Notes) -> int:
    return len({n.pitch for n in notes})


def pitch_class_entropy(notes: Notes) -> float:
    """Entropy of the pitch-class histogram, in bits (0: one pitch class; log2 12 = 3.58: all equal)."""
    histogram = pitch_class_histogram(notes)
    total = histogram.sum()
    if total == 0:
        return 0.0
    p = histogram[histogram > 0] / total
    return float(-(p * np.log2(p)).sum())


def scale_consistency(notes: Notes) -> float:
    """The largest share of the notes that lie in one major (or its relative minor) scale."""
    if not notes:
        return 0.0
    histogram = pitch_class_histogram(notes)
    in_scale = max(sum(histogram[(tonic + d) % NUM_PITCH_CLASSES] for d in _MAJOR_SCALE)
                   for tonic in range(NUM_PITCH_CLASSES))
    return float(in_scale / histogram.sum())


def polyphony(notes: Notes) -> float:
    """Mean number of notes sounding over the time at least one sounds."""
    if not notes:
        return 0.0
    edges = sorted([(n.start_s, 1) for n in notes] + [(n.end_s, -1) for n in notes])
    sounding, last_s, weighted_s, busy_s = 0, edges[0][0], 0.0, 0.0
    for time_s, delta in edges:
        if sounding > 0:
            weighted_s += sounding * (time_s - last_s)
            busy_s += time_s - last_s
        sounding += delta
        last_s = time_s
    return weighted_s / busy_s if busy_s > 0 else float(len(notes))


def notes_per_s(notes: Notes, duration_s: float) -> float:
    return len(notes) / duration_s if duration_s > 0 else 0.0


def onset_rate(notes: Notes) -> float | None:
    """Notes begun per second over the span of the onsets (None: fewer than two onsets)."""
    starts = sorted(round(n.start_s / ONSET_STEP_S) for n in notes)
    if not starts or starts[-1] == starts[0]:
        return None
    before_last = sum(1 for s in starts if s < starts[-1])
    return before_last / ((starts[-1] - starts[0]) * ONSET_STEP_S)


def median_velocity(notes: Notes) -> float | None:
    return float(np.median([n.velocity for n in notes])) if notes else None


def median_duration_s(notes: Notes) -> float | None:
    return float(np.median([n.end_s - n.start_s for n in notes])) if notes else None


# --- recurring figures -----------------------------------------------------------------------------
def onset_order(notes: Notes) -> list[Any]:
    """The notes as the event stream has their note-ons: by onset step, then pitch."""
    return sorted(notes, key=lambda n: (round(n.start_s / ONSET_STEP_S), n.pitch))


def recurring_figures(notes: Notes, intervals: int = FIGURE_INTERVALS) -> float:
    """The share of ``intervals``-interval figures of the note-on sequence seen earlier in it."""
    pitches = [n.pitch for n in onset_order(notes)]
    steps = [b - a for a, b in zip(pitches, pitches[1:], strict=False)]
    figures = [tuple(steps[i:i + intervals]) for i in range(len(steps) - intervals + 1)]
    if not figures:
        return 0.0
    seen: set[tuple[int, ...]] = set()
    recurring = 0
    for figure in figures:
        recurring += figure in seen
        seen.add(figure)
    return recurring / len(figures)


# --- clashes ---------------------------------------------------------------------------------------
def _clashes(onset: Any, sounding: Iterable[Any]) -> bool:
    return any(abs(onset.pitch - m.pitch) in CLASH_INTERVALS for m in sounding)


def clash_rate(notes: Notes, against: Notes) -> float | None:
    """The share of ``notes``' onsets that clash with a note of ``against`` sounding then
    (begun at or before the onset, not ended); None without onsets."""
    if not notes:
        return None
    starts = np.array([m.start_s for m in against])
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    ordered = [against[i] for i in order]
    clashing = 0
    for n in notes:
        upto = int(np.searchsorted(starts, n.start_s + 1e-9, side="right"))
        clashing += _clashes(n, (m for m in ordered[:upto] if m.end_s > n.start_s))
    return clashing / len(notes)


def own_clash_rate(notes: Notes) -> float | None:
    """``clash_rate`` of a part against its own other notes (the piece's own rate)."""
    if not notes:
        return None
    ordered = sorted(notes, key=lambda m: m.start_s)
    starts = np.array([m.start_s for m in ordered])
    clashing = 0
    for i, n in enumerate(ordered):
        upto = int(np.searchsorted(starts, n.start_s + 1e-9, side="right"))
        clashing += _clashes(n, (m for j, m in enumerate(ordered[:upto]) if j != i and m.end_s > n.start_s))
    return clashing / len(ordered)
