"""Summary statistics of performances, to compare generated music with the data.

All statistics pool the notes of several performances (a list of files or of samples):

* ``notes_per_s``: notes / total duration (each performance lasts until its last note ends);
* pitch ``min``/``max``/``span`` and velocity mean/std over all notes;
* polyphony: ``mean`` is the time-weighted number of sounding notes (silence counts as 0),
  ``max`` the most notes sounding at once;
* inter-onset intervals (IOI) between successive distinct onset times (notes starting within the
  same 10 ms step count as one onset): median and 90th percentile;
* ``stuck_notes``: note-ons the event stream never closed (decoding had to close them) plus notes
  held longer than ``LONG_NOTE_S``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from perfjam.codec.events import STEPS_PER_SECOND, EventReader, Vocab
from perfjam.codec.midifile import decode_events

LONG_NOTE_S = 10.0


@dataclass(frozen=True)
class Performance:
    """The notes of one performance and how many note-ons its event stream left open."""

    notes: Sequence  # perfjam.codec.events.Note-like: pitch, velocity, start_s, end_s
    unclosed_notes: int = 0


@dataclass(frozen=True)
class PerformanceStats:
    performances: int
    notes: int
    duration_s: float
    notes_per_s: float
    pitch_min: int | None
    pitch_max: int | None
    pitch_span: int | None
    velocity_mean: float | None
    velocity_std: float | None
    polyphony_mean: float
    polyphony_max: int
    ioi_median_s: float | None
    ioi_p90_s: float | None
    unclosed_notes: int
    long_notes: int
    stuck_notes: int

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def unclosed_note_ons(events: Iterable[int], vocab: Vocab) -> int:
    """Note-ons still sounding when the event stream ends (before decoding closes them)."""
    reader = EventReader(vocab)
    for index in events:
        reader.feed(int(index))
    return len(reader.sounding)


def performance_from_events(events: Sequence[int], vocab: Vocab) -> Performance:
    return Performance(decode_events(events, vocab), unclosed_note_ons(events, vocab))


def _max_polyphony(starts: np.ndarray, ends: np.ndarray) -> int:
    """Most notes sounding at once; a note ending when another starts does not overlap it."""
    times = np.concatenate([starts, ends])
    deltas = np.concatenate([np.ones(len(starts), np.int64), -np.ones(len(ends), np.int64)])
    order = np.lexsort((deltas, times))  # at equal times the -1 (end) sorts first
    return int(np.max(np.cumsum(deltas[order]), initial=0))


def onset_intervals(starts: np.ndarray) -> np.ndarray:
    """Seconds between successive distinct onsets (starts within the same 10 ms step are one)."""
    onset_steps = np.unique(np.round(starts * STEPS_PER_SECOND).astype(np.int64))
    return np.diff(onset_steps) / STEPS_PER_SECOND


def performance_stats(
    performances: Sequence[Performance], long_note_s: float = LONG_NOTE_S
) -> PerformanceStats:
    """Pooled statistics of ``performances`` (see the module docstring)."""
    pitches: list[np.ndarray] = []
    velocities: list[np.ndarray] = []
    iois: list[np.ndarray] = []
    duration_s = sounding_s = 0.0
    polyphony_max = unclosed = long_notes = 0
    for performance in performances:
        notes = performance.notes
        unclosed += performance.unclosed_notes
        if not notes:
            continue
        starts = np.array([n.start_s for n in notes], np.float64)
        ends = np.array([n.end_s for n in notes], np.float64)
        lengths = ends - starts
        pitches.append(np.array([n.pitch for n in notes], np.int64))
        velocities.append(np.array([n.velocity for n in notes], np.float64))
        iois.append(onset_intervals(starts))
        duration_s += float(ends.max())
        sounding_s += float(lengths.sum())
        long_notes += int(np.count_nonzero(lengths > long_note_s))
        polyphony_max = max(polyphony_max, _max_polyphony(starts, ends))

    all_pitches = np.concatenate(pitches) if pitches else np.zeros(0, np.int64)
    all_velocities = np.concatenate(velocities) if velocities else np.zeros(0)
    all_iois = np.concatenate(iois) if iois else np.zeros(0)
    has_notes = len(all_pitches) > 0
    return PerformanceStats(
        performances=len(performances),
        notes=len(all_pitches),
        duration_s=duration_s,
        notes_per_s=len(all_pitches) / duration_s if duration_s > 0 else 0.0,
        pitch_min=int(all_pitches.min()) if has_notes else None,
        pitch_max=int(all_pitches.max()) if has_notes else None,
        pitch_span=int(all_pitches.max() - all_pitches.min()) if has_notes else None,
        velocity_mean=float(all_velocities.mean()) if has_notes else None,
        velocity_std=float(all_velocities.std()) if has_notes else None,
        polyphony_mean=sounding_s / duration_s if duration_s > 0 else 0.0,
        polyphony_max=polyphony_max,
        ioi_median_s=float(np.median(all_iois)) if len(all_iois) else None,
        ioi_p90_s=float(np.percentile(all_iois, 90)) if len(all_iois) else None,
        unclosed_notes=unclosed,
        long_notes=long_notes,
        stuck_notes=unclosed + long_notes,
    )
