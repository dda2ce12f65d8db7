"""A test-only stand-in for note-seq's Performance encoding of a MIDI file (CI cannot install
note-seq), written from note-seq's documented behaviour and independent of ``perfjam.codec``:

    midi_file_to_note_sequence -> apply_sustain_control_changes
    -> quantize_note_sequence_absolute(steps_per_second=100)
    -> Performance(num_velocity_bins=32 or 0, max_shift_steps=100) -> PerformanceOneHotEncoding

1. Times (pretty_midi): track 0's tempo map, 120 bpm until its first tempo, a repeated tempo
   ignored; a tick's time is its segment's start time plus seconds-per-tick times the ticks since.
2. Notes (pretty_midi), per track and (channel, pitch): note-ons stack up; a note-off ends every
   stacked note-on from an earlier tick; if all of them are from its own tick, they are dropped.
   A note-on never released is dropped. An instrument is a (track, channel) with notes.
3. Sustain (note-seq), per instrument, one sweep over the events sorted by time and then kind:
   pedal down, pedal up, note start, note end. Pedal up ends every sounding note whose end is
   before it; a start while the pedal is down ends the sounding notes of its pitch there (one of
   zero length is deleted); an end while the pedal is up removes its note from the sounding
   ones. Notes left sounding end at the time of the last event of the sweep.
4. Quantization: step = int(seconds * 100 + 0.5); a note ending in its start step gets one step.
5. Order: notes ranked by (start seconds, pitch), events by (step, rank, is_off); VELOCITY
   (bin = (velocity - 1) // 4 + 1) before a NOTE_ON whose bin differs from the last one.

Checked against note-seq 0.0.5 with ``tools/noteseq_agreement.py --encoders noteseq,reference``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mido

STEPS_PER_SECOND = 100
MAX_SHIFT = 100
NOTE_OFF_BASE, TIME_SHIFT_BASE, VELOCITY_BASE = 128, 256, 356
PEDAL_DOWN, PEDAL_UP, START, END = 0, 1, 2, 3


@dataclass(eq=False)
class RefNote:
    instrument: tuple[int, int]
    pitch: int
    velocity: int
    start: float
    end: float
    drum: bool


def seconds_of_ticks(midi: mido.MidiFile):
    per_tick = 60.0 / (120.0 * midi.ticks_per_beat)
    segments = [[0, per_tick]]  # [first tick, seconds per tick]
    tick = 0
    for msg in midi.tracks[0]:
        tick += msg.time
        if msg.type != "set_tempo":
            continue
        per_tick = 60.0 / ((6e7 / msg.tempo) * midi.ticks_per_beat)
        if tick == 0:
            segments = [[0, per_tick]]
        elif per_tick != segments[-1][1]:
            segments.append([tick, per_tick])
    starts = [0.0]
    for (first, scale), (following, _) in zip(segments, segments[1:], strict=False):
        starts.append(starts[-1] + scale * (following - first))

    def to_seconds(at: int) -> float:
        i = len(segments) - 1
        while segments[i][0] > at:
            i -= 1
        return starts[i] + segments[i][1] * (at - segments[i][0])

    return to_seconds


def pair_notes(midi: mido.MidiFile) -> tuple[list[RefNote], list[tuple[tuple[int, int], float, bool]]]:
    """Notes in pretty_midi's order (per instrument, by when they end) and sustain pedal events."""
    to_seconds = seconds_of_ticks(midi)
    by_instrument: dict[tuple[int, int], list[RefNote]] = {}
    pedals = []
    for track_index, track in enumerate(midi.tracks):
        stacked: dict[tuple[int, int], list[tuple[int, int]]] = {}
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "control_change" and msg.control == 64:
                pedals.append(((track_index, msg.channel), to_seconds(tick), msg.value >= 64))
            if msg.type not in ("note_on", "note_off"):
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                stacked.setdefault(key, []).append((tick, msg.velocity))
                continue
            if key not in stacked:
                continue
            older = [s for s in stacked[key] if s[0] != tick]
            same_tick = [s for s in stacked[key] if s[0] == tick]
            instrument = (track_index, msg.channel)
            drum = msg.channel == 9
            for start_tick, velocity in older:
                by_instrument.setdefault(instrument, []).append(
                    RefNote(instrument, msg.note, velocity, to_seconds(start_tick), to_seconds(tick), drum))
            if older and same_tick:
                stacked[key] = same_tick
            else:
                del stacked[key]
    notes = [n for notes in by_instrument.values() for n in notes]
    return notes, [p for p in pedals if p[0] in by_instrument]


def apply_sustain(notes: list[RefNote], pedals) -> list[RefNote]:
    timeline = []
    for n in notes:
        if not n.drum:
            timeline.append((n.start, START, n))
            timeline.append((n.end, END, n))
    for instrument, time_s, down in pedals:
        timeline.append((time_s, PEDAL_DOWN if down else PEDAL_UP, instrument))
    timeline.sort(key=lambda e: (e[0], e[1]))
    sounding: dict[tuple[int, int], list[RefNote]] = {}
    pedal: dict[tuple[int, int], bool] = {}
    deleted: set[int] = set()
    last = 0.0
    for time_s, kind, what in timeline:
        last = time_s
        if kind == PEDAL_DOWN:
            pedal[what] = True
        elif kind == PEDAL_UP:
            pedal[what] = False
            keep = []
            for n in sounding.get(what, []):
                if n.end < time_s:
                    n.end = time_s
                else:
                    keep.append(n)
            sounding[what] = keep
        elif kind == START:
            active = sounding.setdefault(what.instrument, [])
            if pedal.get(what.instrument, False):
                for n in [n for n in active if n.pitch == what.pitch]:
                    n.end = time_s
                    active.remove(n)
                    if n.start == n.end:
                        deleted.add(id(n))
            active.append(what)
        elif not pedal.get(what.instrument, False):
            active = sounding.get(what.instrument, [])
            if what in active:
                active.remove(what)
    for active in sounding.values():
        for n in active:
            n.end = last
    return [n for n in notes if id(n) not in deleted]


def quantize(seconds: float) -> int:
    return int(seconds * STEPS_PER_SECOND + 0.5)


def encode_file(path: str | Path | mido.MidiFile, dynamics: bool = True) -> list[int]:
    midi = path if isinstance(path, mido.MidiFile) else mido.MidiFile(str(path))
    notes = apply_sustain(*pair_notes(midi))
    ranked = sorted(notes, key=lambda n: (n.start, n.pitch))
    timeline = []
    for rank, n in enumerate(ranked):
        start, end = quantize(n.start), quantize(n.end)
        timeline.append((start, rank, False))
        timeline.append((end if end > start else start + 1, rank, True))
    timeline.sort()
    tokens, step, velocity_bin = [], 0, 0
    for at, rank, is_off in timeline:
        while at > step:
            shift = min(MAX_SHIFT, at - step)
            tokens.append(TIME_SHIFT_BASE + shift - 1)
            step += shift
        note = ranked[rank]
        if is_off:
            tokens.append(NOTE_OFF_BASE + note.pitch)
            continue
        if dynamics and (note.velocity - 1) // 4 + 1 != velocity_bin:
            velocity_bin = (note.velocity - 1) // 4 + 1
            tokens.append(VELOCITY_BASE + velocity_bin - 1)
        tokens.append(note.pitch)
    return tokens
