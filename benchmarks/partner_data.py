"""Real phrases and passages for ``benchmarks/partner.py``, cut from performances of a split of
../shared/data/asap (the test split by default), deterministically from a seed.

* A **phrase** (call and response) starts at an onset after a breath and ends before the next
  breath 5-9 s later: the longest inter-onset interval in that window ends it. Nothing sounds
  for at most ``MAX_REST_S`` within it (a longer silence ends a call: the pianist waits for the
  answer; such stretches are passed over). Its messages are
  the performance's own (notes, sustain CC64 moving every ~20 ms, una corda CC67, sostenuto CC66,
  all on channel 1), the pedals' state at its start sent first; at its end every key still down
  is let go and the pedals come up, as a pianist stops.
* A **passage** (duet) is the first ``seconds`` of one of the most pedalled performances (CC64
  messages per second), ended the same way.
* An **excerpt** (offline continuation) is ``seconds`` of the notes of a performance (pedal
  folded in), with what the pianist played next for as long, and as long a stretch of another
  piece (the random passage a continuation is also compared with).
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from perfjam.codec.events import Note
from perfjam.codec.midifile import notes_from_timed, read_notes, timed_messages
from perfjam.codec.pedal import PedalFolder

ASAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "asap"
PEDALS = (64, 66, 67)  # sustain, sostenuto, una corda
BREATH_WINDOW_S = (5.0, 9.0)  # a phrase ends at the longest inter-onset interval this far in
MAX_REST_S = 1.5  # the longest silence (no note sounding, the pedal folded in) within a phrase

Message = tuple[float, tuple[int, int, int]]


@dataclass(frozen=True)
class Excerpt:
    """What the pianist plays: ``messages`` (time_s from 0, bytes) ending with every key and pedal
    up at ``end_s``, and its ``notes`` (pedal folded in)."""

    source: str  # the performance, relative to the data folder
    start_s: float  # where in the performance it begins
    end_s: float  # its length: every key and pedal is up then
    messages: tuple[Message, ...]
    notes: tuple[Note, ...]


def performances(split: str, root: Path = ASAP) -> dict[str, list[str]]:
    """title -> the split's performances of it (paths relative to ``root``)."""
    by_title: dict[str, list[str]] = defaultdict(list)
    with open(root / "split.csv") as f:
        for row in csv.DictReader(f):
            if row["split"] == split:
                by_title[row["title"]].append(row["midi_performance"])
    return dict(by_title)


def playing_messages(path: Path) -> list[Message]:
    """The note and pedal messages of a performance, all on channel 1."""
    out = []
    for time_s, _track, data in timed_messages(path):
        kind = data[0] & 0xF0
        if kind in (0x80, 0x90) or (kind == 0xB0 and data[1] in PEDALS):
            out.append((time_s, (kind, data[1], data[2])))
    return out


def fold(messages: list[Message]) -> tuple[Note, ...]:
    folder = PedalFolder()
    timed = []
    for time_s, data in messages:
        timed.extend(folder.take(time_s, data))
    timed.extend(folder.finish())
    timed.extend(folder.release_all())
    return tuple(notes_from_timed(timed))


def cut(source: str, messages: list[Message], start_s: float, end_s: float) -> Excerpt:
    """The messages in [start_s, end_s), from 0: the pedals' state first, every key and pedal up
    at the end."""
    pedal_state: dict[int, int] = {}
    for time_s, data in messages:
        if time_s >= start_s:
            break
        if data[0] == 0xB0:
            pedal_state[data[1]] = data[2]
    out: list[Message] = [(0.0, (0xB0, cc, v)) for cc, v in sorted(pedal_state.items()) if v >= 64]
    down: set[int] = set()
    for time_s, (kind, a, b) in messages:
        if not start_s <= time_s < end_s:
            continue
        if kind == 0x90 and b > 0:
            down.add(a)
        elif kind in (0x80, 0x90):
            if a not in down:
                continue  # the key went down before the excerpt began
            down.discard(a)
        elif kind == 0xB0:
            pedal_state[a] = b
        out.append((time_s - start_s, (kind, a, b)))
    length_s = end_s - start_s
    out += [(length_s, (0x80, pitch, 0)) for pitch in sorted(down)]
    out += [(length_s, (0xB0, cc, 0)) for cc, value in sorted(pedal_state.items()) if value >= 64]
    return Excerpt(source, start_s, length_s, tuple(out), fold(out))


def _onsets(messages: list[Message]) -> list[float]:
    times = sorted({round(t, 2) for t, (kind, _a, b) in messages if kind == 0x90 and b > 0})
    return times


def phrase(source: str, messages: list[Message], rng: random.Random) -> Excerpt | None:
    """A phrase of a performance (see the module docstring), or None if it has no room for one."""
    onsets = _onsets(messages)
    if len(onsets) < 40:
        return None
    span_s = onsets[-1] - onsets[0]
    around = onsets[0] + span_s * rng.uniform(0.1, 0.8)
    candidates = [(b - a, b) for a, b in zip(onsets, onsets[1:], strict=False) if around <= b <= around + 3.0]
    if not candidates:
        return None
    start_s = max(candidates)[1]  # the onset after the longest breath near ``around``
    lo, hi = start_s + BREATH_WINDOW_S[0], start_s + BREATH_WINDOW_S[1]
    ends = [(b - a, b) for a, b in zip(onsets, onsets[1:], strict=False) if lo <= b <= hi]
    if not ends:
        return None
    end_s = max(ends)[1]  # the next gesture begins here: the phrase ends before it
    excerpt = cut(source, messages, start_s, end_s)
    return excerpt if longest_rest_s(excerpt.notes) <= MAX_REST_S else None


def longest_rest_s(notes: tuple[Note, ...]) -> float:
    """The longest time within ``notes`` when none of them sounds."""
    longest, sounding_until = 0.0, None
    for n in sorted(notes, key=lambda n: n.start_s):
        if sounding_until is not None:
            longest = max(longest, n.start_s - sounding_until)
        sounding_until = n.end_s if sounding_until is None else max(sounding_until, n.end_s)
    return longest


def phrases(count: int, seed: int = 1, split: str = "test", root: Path = ASAP) -> list[Excerpt]:
    """``count`` phrases, one piece after another (each piece's performances in turn)."""
    rng = random.Random(seed)
    titles = performances(split, root)
    order = sorted(titles)
    rng.shuffle(order)
    out: list[Excerpt] = []
    turn = 0
    while len(out) < count and turn < count * 4:
        title = order[turn % len(order)]
        paths = titles[title]
        source = paths[(turn // len(order)) % len(paths)]
        turn += 1
        found = phrase(source, playing_messages(root / source), rng)
        if found is not None:
            out.append(found)
    return out


def pedalled_passages(count: int, seconds: float, split: str = "test", root: Path = ASAP) -> list[Excerpt]:
    """The first ``seconds`` of the ``count`` most pedalled performances, one per piece."""
    ranked = []
    for _title, paths in sorted(performances(split, root).items()):
        messages = playing_messages(root / paths[0])
        first = next((t for t, (kind, _a, b) in messages if kind == 0x90 and b > 0), 0.0)
        pedal = sum(1 for t, d in messages if d[0] == 0xB0 and d[1] == 64 and first <= t < first + seconds)
        ranked.append((pedal, paths[0], messages, first))
    ranked.sort(key=lambda r: -r[0])
    return [cut(path, messages, first, first + seconds) for _, path, messages, first in ranked[:count]]


@dataclass(frozen=True)
class Continuation:
    """``seconds`` of a performance (the primer), what followed it for as long, and as long a
    stretch of another piece; notes from 0 at each one's start."""

    source: str
    start_s: float
    primer: tuple[Note, ...]
    truth: tuple[Note, ...]
    other: tuple[Note, ...]


def _window(notes: list[Note], start_s: float, seconds: float) -> tuple[Note, ...]:
    return tuple(Note(n.pitch, n.velocity, n.start_s - start_s, min(n.end_s, start_s + seconds) - start_s)
                 for n in notes if start_s <= n.start_s < start_s + seconds)


def continuations(count: int, seconds: float = 6.0, seed: int = 2, split: str = "test",
                  root: Path = ASAP) -> list[Continuation]:
    rng = random.Random(seed)
    titles = performances(split, root)
    names = sorted(titles)
    cache: dict[str, list[Note]] = {}

    def notes_of(path: str) -> list[Note]:
        if path not in cache:
            cache[path] = read_notes(root / path)
        return cache[path]

    out: list[Continuation] = []
    while len(out) < count:
        title, other_title = rng.sample(names, 2)
        source, other = rng.choice(titles[title]), rng.choice(titles[other_title])
        notes, other_notes = notes_of(source), notes_of(other)
        last_s = notes[-1].start_s - 2 * seconds
        other_last_s = other_notes[-1].start_s - seconds
        if last_s < 0 or other_last_s < 0:
            continue
        start_s = rng.uniform(0.0, last_s)
        primer = _window(notes, start_s, seconds)
        truth = _window(notes, start_s + seconds, seconds)
        random_passage = _window(other_notes, rng.uniform(0.0, other_last_s), seconds)
        if len(primer) >= 8 and len(truth) >= 8 and len(random_passage) >= 8:
            out.append(Continuation(source, start_s, primer, truth, random_passage))
    return out
