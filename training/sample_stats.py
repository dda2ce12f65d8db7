"""Statistics of samples against the data for ``training.listen``: detectors, data segments, overlaps.

A performance (a sample, or a ``--seconds`` segment of the data: the notes starting in it, at full
length) is described by ``perfjam.stats`` plus the broken-sound checks (``describe``):

* ``trills``: runs alternating between two pitches with more than ``TRILL_ALTERNATIONS`` alternations;
* ``repetitions``: endless trills, the same ``REPEAT_PITCHES`` pitches or fewer (a single pitch
  struck again and again, two in any order, a repeated dyad) for more than ``REPEAT_S`` seconds;
* ``silences``: more than ``SILENCE_S`` seconds with nothing sounding;
* ``forced_releases``: notes held to generation's forced release (``FORCED_RELEASE_S``, just under
  ``perfjam.generation.MAX_NOTE_S``); ``long_notes``/``unclosed_notes``/``stuck_notes`` as
  ``perfjam.stats``.

``compare`` sets each statistic of the samples next to the data's 5/50/95th percentiles and the
*overlap area* of the two distributions: both histograms over the same bins, each normalised to
area 1, overlap = sum(min(p, q)), 1 for the same distribution and 0 for disjoint ones. Two kinds:

* per segment (``STATS``: one value per sample / data segment, e.g. notes/s, pitch span, mean
  polyphony): with 8 samples a histogram is coarse, so the bins number at most half the smaller set;
* per note (``NOTE_STATS``: the inter-onset intervals, velocities and note durations of all the
  samples' notes pooled, against all the data's notes), where a distribution is meaningful and
  a per-segment mean would hide a bimodal or a too narrow one. The "samples" of these rows are the
  per-sample medians; the median is that of the pooled values.

The bins are the data's quantiles (``OVERLAP_BINS`` of equal data mass, so the scale, linear or
logarithmic, does not matter, and ties merge bins), with edges half way to the next value, plus a
bin below and above the data's range: a sample value outside it overlaps nothing. Since a few
samples of a perfect model do not overlap the data exactly either, ``overlap_if_perfect`` is the
mean overlap of as many data segments drawn at random. A statistic ``passes`` when the samples'
median lies in the data's 5-95 % range and the overlap is at least ``PASS_OVERLAP``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfjam.codec.events import STEPS_PER_SECOND, Note, Vocab
from perfjam.codec.midifile import decode_events
from perfjam.generation import MAX_NOTE_S
from perfjam.stats import Performance, onset_intervals, performance_stats

TRILL_ALTERNATIONS = 16  # more alternations (17+ notes) sounds endless (2.7 % of ASAP 30-s segments)
SILENCE_S = 3.0
REPEAT_S = 4.0  # the same few pitches for longer sounds like an endless trill
REPEAT_PITCHES = 2
FORCED_RELEASE_S = MAX_NOTE_S - 0.01  # a note this long was (most likely) released by the MAX_NOTE_S rule
OVERLAP_BINS = 20
PASS_OVERLAP = 0.7
PERFECT_DRAWS = 20  # random draws of data segments behind overlap_if_perfect
STATS = ("notes_per_s", "pitch_min", "pitch_max", "pitch_span", "velocity_mean", "velocity_std",
         "polyphony_mean", "polyphony_max", "ioi_median_s", "ioi_p90_s", "longest_trill",
         "longest_repetition_s", "longest_silence_s")
NOTE_STATS = ("ioi_s", "velocity", "duration_s")
HEADLINE = ("notes_per_s", "ioi_s", "velocity", "pitch_span", "polyphony_mean", "duration_s")
CHECKS = ("trills", "repetitions", "silences", "forced_releases", "long_notes", "unclosed_notes",
          "stuck_notes")
ENDLESS = ("repetitions", "silences", "forced_releases")  # a set with any of these does not pass


# ----------------------------------------------------------------------------- detectors


@dataclass(frozen=True)
class TrillRun:
    pitches: tuple[int, int]  # (first, second) pitch of the run
    start_s: float
    end_s: float  # onset of the last note
    alternations: int  # notes in the run - 1


def trill_runs(notes: Sequence, longer_than: int = TRILL_ALTERNATIONS) -> list[TrillRun]:
    """Runs of onsets alternating between two pitches (a b a b ...) with more than ``longer_than``
    alternations. Onsets are the notes sorted by (start, pitch); a run goes on while each onset
    repeats the pitch two before, differs from the previous one and starts after it (so a repeated
    two-note chord is no trill)."""
    onsets = sorted((round(n.start_s * STEPS_PER_SECOND), n.pitch, n.start_s) for n in notes)

    def changes(i: int) -> bool:  # onset i comes after onset i - 1, on another pitch
        return onsets[i][0] > onsets[i - 1][0] and onsets[i][1] != onsets[i - 1][1]

    runs: list[TrillRun] = []
    begin = 0  # the current run is onsets[begin:i]
    for i in range(1, len(onsets) + 1):
        if i < len(onsets) and changes(i) and (i - begin < 2 or onsets[i][1] == onsets[i - 2][1]):
            continue
        if i - 1 - begin > longer_than:
            first, second, last = onsets[begin], onsets[begin + 1], onsets[i - 1]
            runs.append(TrillRun((first[1], second[1]), first[2], last[2], i - 1 - begin))
        if i < len(onsets):
            begin = i - 1 if changes(i) else i
    return runs


def repetitions(notes: Sequence, longer_than_s: float = REPEAT_S,
                pitches: int = REPEAT_PITCHES) -> list[tuple[float, float, tuple[int, ...]]]:
    """(first onset s, last onset s, pitches) of the maximal runs of at least three onsets (notes
    starting in the same 10 ms step are one onset) that use ``pitches`` pitches or fewer between
    them and last more than ``longer_than_s`` from the first onset to the last. Runs may share
    onsets (a b a b c b c: a-b, then b-c)."""
    by_step: dict[int, set[int]] = {}
    for n in notes:
        by_step.setdefault(round(n.start_s * STEPS_PER_SECOND), set()).add(n.pitch)
    steps = sorted(by_step)
    runs = []
    begin, counts = 0, {}  # the window steps[begin:i + 1], its pitches counted per onset
    for i, step in enumerate(steps):
        for p in by_step[step]:
            counts[p] = counts.get(p, 0) + 1
        while len(counts) > pitches and begin <= i:  # drop onsets from the left until it fits
            for p in by_step[steps[begin]]:
                counts[p] -= 1
                if not counts[p]:
                    del counts[p]
            begin += 1
        grows = i + 1 < len(steps) and len(counts.keys() | by_step[steps[i + 1]]) <= pitches
        if not grows and i + 1 - begin >= 3 and (step - steps[begin]) / STEPS_PER_SECOND > longer_than_s:
            runs.append((steps[begin] / STEPS_PER_SECOND, step / STEPS_PER_SECOND, tuple(sorted(counts))))
    return runs


def silences(notes: Sequence, longer_than_s: float = SILENCE_S, start_s: float = 0.0,
             end_s: float | None = None) -> list[tuple[float, float]]:
    """(start_s, end_s) of the stretches longer than ``longer_than_s`` with no note sounding,
    between ``start_s`` and ``end_s`` (default: the end of the last note)."""
    spans = sorted((n.start_s, n.end_s) for n in notes)
    end_s = max((e for _, e in spans), default=start_s) if end_s is None else end_s
    gaps, covered = [], start_s
    for begin, end in [*spans, (end_s, end_s)]:
        if min(begin, end_s) - covered > longer_than_s:
            gaps.append((covered, min(begin, end_s)))
        covered = max(covered, end)
    return gaps


# ----------------------------------------------------------------------------- one performance


@dataclass(frozen=True)
class Described:
    """One performance: its statistics and checks (``describe``) and its per-note values."""

    stats: dict
    values: dict[str, np.ndarray]  # NOTE_STATS -> values


def note_values(notes: Sequence) -> dict[str, np.ndarray]:
    """The per-note values of ``NOTE_STATS``: inter-onset intervals (``perfjam.stats``' distinct
    onsets), velocities and durations."""
    starts = np.array([n.start_s for n in notes], np.float64)
    return {"ioi_s": onset_intervals(starts), "velocity": np.array([n.velocity for n in notes], np.float64),
            "duration_s": _durations(notes)}


def _durations(notes: Sequence) -> np.ndarray:
    """Note lengths in whole 10 ms steps (as encoded), free of the float noise of end_s - start_s."""
    lengths = np.array([n.end_s - n.start_s for n in notes], np.float64)
    return np.round(lengths * STEPS_PER_SECOND) / STEPS_PER_SECOND


def describe(notes: Sequence, unclosed: int, seconds: float) -> dict:
    """``perfjam.stats`` of one performance plus the broken-sound checks (counts and extremes)."""
    stats = performance_stats([Performance(notes, unclosed)]).to_dict()
    trills = trill_runs(notes, 0)
    repeats = repetitions(notes, 0.0)
    gaps = silences(notes, 0.0, 0.0, max(seconds, max((n.end_s for n in notes), default=0.0)))
    stats["longest_trill"] = max((t.alternations for t in trills), default=0)
    stats["longest_repetition_s"] = round(max((b - a for a, b, _ in repeats), default=0.0), 3)
    stats["longest_silence_s"] = round(max((b - a for a, b in gaps), default=0.0), 3)
    stats["trills"] = sum(t.alternations > TRILL_ALTERNATIONS for t in trills)
    stats["repetitions"] = sum(b - a > REPEAT_S for a, b, _ in repeats)
    stats["silences"] = sum(b - a > SILENCE_S for a, b in gaps)
    stats["forced_releases"] = int(np.count_nonzero(_durations(notes) >= FORCED_RELEASE_S))
    return stats


def describe_all(notes: Sequence, unclosed: int, seconds: float) -> Described:
    return Described(describe(notes, unclosed, seconds), note_values(notes))


def data_segments(data_dir: str | Path, split: str, vocab: Vocab, seconds: float,
                  limit: int | None = None) -> list[list[Note]]:
    """The split's performances cut into ``seconds``-long segments (full segments only): the notes
    starting in each, shifted to start at 0 and kept at their full length."""
    from training.prepare import load_prepared, split_files

    tokens, offsets = load_prepared(data_dir, split, vocab.name)
    segments: list[list[Note]] = []
    for events in split_files(tokens, offsets)[:limit]:
        notes = decode_events(np.asarray(events, np.int64), vocab)
        full_segments = int(max((n.end_s for n in notes), default=0.0) // seconds)
        buckets: list[list[Note]] = [[] for _ in range(full_segments)]
        for n in notes:
            if (k := int(n.start_s // seconds)) < len(buckets):
                buckets[k].append(Note(n.pitch, n.velocity, n.start_s - k * seconds, n.end_s - k * seconds))
        segments += buckets
    return segments


# ----------------------------------------------------------------------------- overlap


def overlap_bins(count: int) -> int:
    """Bins for a histogram of ``count`` values: ``OVERLAP_BINS``, but no more than half of them
    (so that each bin can expect two values), and at least 2."""
    return max(2, min(OVERLAP_BINS, count // 2))


def overlap_area(reference: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
                 bins: int = OVERLAP_BINS) -> float | None:
    """sum(min(p, q)) of the histograms of ``reference`` and ``values`` over the same bins (see the
    module docstring), in [0, 1]; None when either is empty."""
    ref, val = np.asarray(reference, np.float64).ravel(), np.asarray(values, np.float64).ravel()
    if not len(ref) or not len(val):
        return None
    every = np.unique(np.concatenate([ref, val]))
    cuts = np.quantile(ref, np.arange(1, bins) / bins, method="inverted_cdf")  # values of the data
    at = np.searchsorted(every, np.unique(np.append(cuts, ref.max())))
    at = at[at + 1 < len(every)]
    edges = (every[at] + every[at + 1]) / 2  # half way from each cut to the next value above it
    if (low := int(np.searchsorted(every, ref.min()))) > 0:  # sample values below the data's range
        edges = np.sort(np.append(edges, (every[low - 1] + every[low]) / 2))
    p = np.bincount(np.searchsorted(edges, ref), minlength=len(edges) + 1) / len(ref)
    q = np.bincount(np.searchsorted(edges, val), minlength=len(edges) + 1) / len(val)
    return float(np.clip(np.minimum(p, q).sum(), 0.0, 1.0))


# ----------------------------------------------------------------------------- samples against data


def _values(performances: Sequence[Described], key: str) -> tuple[list, np.ndarray]:
    """(one value per performance, all values) of a statistic: per segment or per note."""
    if key in NOTE_STATS:
        arrays = [p.values[key] for p in performances]
        per = [float(np.median(a)) if len(a) else None for a in arrays]
        return per, np.concatenate(arrays) if arrays else np.zeros(0)
    per = [p.stats[key] for p in performances]
    return per, np.array([v for v in per if v is not None], np.float64)


def compare(samples: Sequence[Described], data: Sequence[Described], seed: int = 0) -> dict:
    """Per statistic (``STATS`` per segment, then ``NOTE_STATS`` per note): the samples' values and
    median, the data's percentiles, the overlap area (with the bins used and what as many data
    segments drawn at random score), the flag (median outside the data's 5-95 % range) and
    ``passes`` (median inside and overlap >= ``PASS_OVERLAP``)."""
    rng = np.random.default_rng(seed)
    draws = [rng.choice(len(data), min(len(samples), len(data)), replace=False)
             for _ in range(PERFECT_DRAWS if data and samples else 0)]
    out = {}
    for key in (*STATS, *NOTE_STATS):
        per, pooled = _values(samples, key)
        values = [v for v in per if v is not None]
        median = float(np.median(pooled)) if len(pooled) else None
        out[key] = row = {"per": "note" if key in NOTE_STATS else "segment", "samples": values,
                          "median": median}
        _, reference = _values(data, key)
        if not len(reference):
            continue
        p5, p50, p95 = (float(v) for v in np.percentile(reference, [5, 50, 95]))
        count = min(len(pooled), len(reference)) if key in NOTE_STATS else min(len(values), len(reference))
        bins = overlap_bins(count)
        overlap = overlap_area(reference, pooled, bins)
        perfect = [overlap_area(reference, _values([data[i] for i in d], key)[1], bins) for d in draws]
        perfect = [v for v in perfect if v is not None]
        inside = median is not None and p5 <= median <= p95
        row.update(data_p5=p5, data_p50=p50, data_p95=p95, outside=sum(not p5 <= v <= p95 for v in values),
                   flag=median is not None and not inside, bins=bins,
                   overlap=None if overlap is None else round(overlap, 4),
                   overlap_if_perfect=round(float(np.mean(perfect)), 4) if perfect else None,
                   passes=inside and overlap is not None and overlap >= PASS_OVERLAP)
    return out


def checks(samples: Sequence[dict], data: Sequence[dict]) -> dict:
    """Per check: how many samples have it, and the share of the data's segments that do."""
    return {c: {"samples": sum(s[c] > 0 for s in samples), "of": len(samples),
                "data_rate": round(float(np.mean([d[c] > 0 for d in data])), 4) if data else None}
            for c in CHECKS}


def forced_release_share(samples: Sequence[dict]) -> dict:
    """Notes held to the forced release (``FORCED_RELEASE_S``): count, of all notes, and share."""
    forced, notes = sum(s["forced_releases"] for s in samples), sum(s["notes"] for s in samples)
    return {"notes": forced, "of": notes, "share": round(forced / notes, 5) if notes else None,
            "at_least_s": FORCED_RELEASE_S}


def verdict(comparison: dict, checked: dict) -> list[str]:
    """What keeps a sample set from passing (empty: it passes): a headline statistic that does not
    pass, samples with an endless repetition, a silence or a note at the forced release."""
    failed = []
    for key in HEADLINE:
        row = comparison.get(key, {})
        if "passes" not in row:
            failed.append(f"{key}: no data to compare with")
        elif not row["passes"]:
            median = "none" if row["median"] is None else f"{row['median']:.3g}"
            span = f"{row['data_p5']:.3g}-{row['data_p95']:.3g}"
            failed.append(f"{key}: median {median} (data 5-95 %: {span}), overlap {row['overlap']}")
    failed += [f"{c} in {checked[c]['samples']}/{checked[c]['of']} samples" for c in ENDLESS
               if checked[c]["samples"]]
    return failed
