"""MIDI files: read notes with the sustain pedal folded in, write at 1 ms resolution, and the
file-level encode/decode of the codec.

A file that cannot be read raises ``MidiFileError`` (a ``ValueError``) whose message names the
file and the reason in one line (``primer.mid: not a MIDI file (empty)``): missing, a folder,
empty, truncated, corrupt, out of the bounds of ``perfjam.codec.smf_bounds`` (size, tracks,
events, variable-length numbers: checked before mido reads it), a type this codec does not read
(type 2: independent sequences; SMPTE time division), a tempo of 0, or lasting more than
``MAX_MIDI_S`` (encoding takes one TIME_SHIFT per second of it).
"""

from __future__ import annotations

import bisect
import io
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import mido

from perfjam.codec.events import (
    VOCAB_DYNAMICS,
    Note,
    NoteAction,
    Vocab,
    decode_actions,
    encode_notes,
    step_to_seconds,
)
from perfjam.codec.pedal import PedalFolder, TimedNote
from perfjam.codec.smf_bounds import MAX_MIDI_BYTES, bounds_problem, size_problem

TICKS_PER_BEAT = 500
TEMPO_US_PER_BEAT = 500_000  # with 500 ticks per beat: one tick = 1 ms
DRUM_CHANNEL = 9  # note-seq does not extend drum notes with the pedal
MAX_MIDI_S = 24 * 3600.0  # a file lasting longer is refused (a day: no performance lasts that long)
_MIDI_MAGIC = b"MThd"


class MidiFileError(ValueError):
    """A MIDI file that cannot be read; the message is one line: ``FILE: reason``."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_midi(path_or_file: str | Path | mido.MidiFile) -> mido.MidiFile:
    """A parsed MIDI file of a type the codec reads, or ``MidiFileError`` naming it and why not."""
    if isinstance(path_or_file, mido.MidiFile):
        _check_supported(path_or_file, path_or_file.filename or "MIDI file")
        return path_or_file
    name = str(path_or_file)
    try:
        f = open(name, "rb")  # closed by the with below
    except FileNotFoundError:
        raise MidiFileError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise MidiFileError(f"{name}: is a folder, not a MIDI file") from None
    except OSError as exc:
        raise MidiFileError(f"{name}: cannot open: {exc.strerror or _first_line(exc)}") from None
    with f:
        try:
            if problem := size_problem(os.fstat(f.fileno()).st_size):
                raise MidiFileError(f"{name}: refused: {problem}")
            data = f.read(MAX_MIDI_BYTES + 1)  # never more than the bound (a file still growing, a pipe)
            if not data.startswith(_MIDI_MAGIC):
                raise MidiFileError(f"{name}: not a MIDI file ({'empty' if not data else 'no MThd header'})")
            if problem := bounds_problem(data):
                raise MidiFileError(f"{name}: refused: {problem}")
            midi = mido.MidiFile(file=io.BytesIO(data))
        except MidiFileError:
            raise
        except EOFError:
            raise MidiFileError(f"{name}: truncated MIDI file") from None
        except Exception as exc:  # mido: OSError, IndexError, KeySignatureError, ... for corrupt data
            kind = "" if type(exc) is OSError else f"{type(exc).__name__}: "
            raise MidiFileError(f"{name}: corrupt MIDI file ({kind}{_first_line(exc)})") from None
    midi.filename = name
    _check_supported(midi, name)
    return midi


def _check_supported(midi: mido.MidiFile, name: str) -> None:
    if midi.type == 2:
        raise MidiFileError(f"{name}: MIDI type 2 (independent sequences) is not supported")
    if midi.type not in (0, 1):
        raise MidiFileError(f"{name}: unknown MIDI file type {midi.type}")
    if midi.ticks_per_beat <= 0:
        reason = "SMPTE time division is not supported" if midi.ticks_per_beat < 0 else "0 ticks per beat"
        raise MidiFileError(f"{name}: {reason}")
    if any(msg.type == "set_tempo" and msg.tempo == 0 for msg in (midi.tracks[0] if midi.tracks else ())):
        raise MidiFileError(f"{name}: corrupt MIDI file (a tempo of 0 µs per beat)")


def notes_from_timed(timed: Iterable[TimedNote]) -> list[Note]:
    """Pair note-ons with their note-offs: an off ends the note of its pitch that began at its
    ``start_s`` (else the oldest one open). Sorted by (start, pitch); equal ones in pairing order."""
    open_notes: dict[int, list[TimedNote]] = {}
    notes: list[Note] = []
    for t in timed:
        if t.is_on:
            open_notes.setdefault(t.pitch, []).append(t)
            continue
        ons = open_notes.get(t.pitch)
        if not ons:
            continue
        index = next((i for i, on in enumerate(ons) if on.time_s == t.start_s), 0)
        on = ons.pop(index)
        notes.append(Note(t.pitch, on.velocity, on.time_s, t.time_s))
    notes.sort(key=lambda n: (n.start_s, n.pitch))
    return notes


def notes_from_actions(actions: Iterable[NoteAction]) -> list[Note]:
    return notes_from_timed(
        TimedNote(step_to_seconds(a.step), a.pitch, a.velocity, a.is_on) for a in actions
    )


def tick_clock(midi: mido.MidiFile) -> Callable[[int], float]:
    """Seconds at an absolute tick, computed as pretty_midi (and so note-seq) computes them, to
    the last bit: the tempo map of track 0 (120 bpm until the first tempo; a tempo repeated is
    ignored), each segment starting at the time its first tick has in the segment before."""
    resolution = midi.ticks_per_beat
    scales = [(0, 60.0 / (120.0 * resolution))]  # (first tick, seconds per tick)
    tick = 0
    for msg in midi.tracks[0] if midi.tracks else ():
        tick += msg.time
        if msg.type == "set_tempo":
            scale = 60.0 / ((6e7 / msg.tempo) * resolution)
            if tick == 0:
                scales = [(0, scale)]
            elif scale != scales[-1][1]:
                scales.append((tick, scale))
    firsts = [first for first, _ in scales]
    origins = [0.0]
    for (first, scale), (following, _) in zip(scales, scales[1:], strict=False):
        origins.append(origins[-1] + scale * (following - first))

    def seconds(at_tick: int) -> float:
        i = bisect.bisect_right(firsts, at_tick) - 1
        return origins[i] + scales[i][1] * (at_tick - firsts[i])

    return seconds


def timed_messages(path_or_file: str | Path | mido.MidiFile) -> list[tuple[float, int, tuple[int, ...]]]:
    """The note and control messages of every track: (time_s, track, bytes), in time order (a
    track's own order kept), with times as ``tick_clock`` gives them."""
    midi = load_midi(path_or_file)
    out: list[tuple[int, int, int, tuple[int, ...]]] = []
    for track_index, track in enumerate(midi.tracks):
        tick = 0
        for position, msg in enumerate(track):
            tick += msg.time
            if msg.type in ("note_on", "note_off", "control_change"):
                out.append((tick, track_index, position, tuple(msg.bytes())))
    out.sort()
    name = midi.filename or "MIDI file"
    try:
        seconds = tick_clock(midi)
        length_s = seconds(out[-1][0]) if out else 0.0
    except OverflowError:  # ticks beyond any float
        length_s = math.inf
    if not length_s <= MAX_MIDI_S:
        length = f"{length_s / 3600:,.0f} hours" if math.isfinite(length_s) else "longer than any clock"
        raise MidiFileError(f"{name}: lasts {length}; PerfJam reads files of at most "
                            f"{MAX_MIDI_S / 3600:g} hours (is its tempo corrupt?)")
    return [(seconds(tick), track_index, data) for tick, track_index, _, data in out]


def read_notes(path_or_file: str | Path | mido.MidiFile, sustain: bool = True) -> list[Note]:
    """All tracks merged, tempo map applied, sustain pedal folded into note lengths, as note-seq
    reads a file: notes pair and the pedal acts per track and channel (drums: no pedal), and the
    notes the pedal holds at the end stop at the last note or pedal event of the file. (note-seq
    drops a note never released; here it ends there too.)"""
    folders: dict[tuple[int, int], PedalFolder] = {}
    timed: list[TimedNote] = []
    for time_s, track_index, data in timed_messages(path_or_file):
        channel = data[0] & 0x0F
        folder = folders.get((track_index, channel))
        if folder is None:
            folder = folders[track_index, channel] = PedalFolder(sustain and channel != DRUM_CHANNEL)
        timed.extend(folder.take(time_s, data))
    for folder in folders.values():
        timed.extend(folder.finish())
    ends = [f.last_event_s for f in folders.values() if f.has_notes and f.last_event_s is not None]
    end_s = max(ends, default=0.0)
    for folder in folders.values():
        timed.extend(folder.release_all(end_s))
    return notes_from_timed(timed)


TICKS_PER_SECOND = TICKS_PER_BEAT * 1_000_000 // TEMPO_US_PER_BEAT


def seconds_to_ticks(time_s: float) -> int:
    return int(round(time_s * TICKS_PER_SECOND))


def notes_to_track(notes: Iterable[Note], name: str, channel: int = 0, program: int = 0) -> mido.MidiTrack:
    """A track of note-on/off messages; offs sort before ons at the same tick (re-strikes)."""
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    track.append(mido.Message("program_change", channel=channel, program=program, time=0))
    timeline: list[tuple[int, int, int, int]] = []  # (tick, is_on, pitch, velocity)
    by_pitch: dict[int, list[Note]] = {}
    for n in notes:
        by_pitch.setdefault(n.pitch, []).append(n)
    for pitch, same in by_pitch.items():
        same.sort(key=lambda n: n.start_s)
        for i, n in enumerate(same):
            start = seconds_to_ticks(n.start_s)
            end = max(seconds_to_ticks(n.end_s), start + 1)  # at least one tick...
            if i + 1 < len(same):
                end = min(end, seconds_to_ticks(same[i + 1].start_s))  # ...but never over the next strike
            if end > start:
                timeline.append((start, 1, pitch, max(1, min(127, n.velocity))))
                timeline.append((end, 0, pitch, 0))
    timeline.sort()
    now = 0
    for tick, is_on, pitch, velocity in timeline:
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, channel=channel, note=pitch, velocity=velocity, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def notes_to_midi(
    tracks: Mapping[str, Iterable[Note]], channels: Mapping[str, int] | None = None
) -> mido.MidiFile:
    """A type-1 MIDI file: a tempo track, then one track per name (1 tick = 1 ms)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=TEMPO_US_PER_BEAT, time=0))
    tempo.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks.append(tempo)
    for i, (name, notes) in enumerate(tracks.items()):
        channel = (channels or {}).get(name, i)
        midi.tracks.append(notes_to_track(notes, name, channel=channel))
    return midi


def encode_midi(path_or_file, vocab: Vocab = VOCAB_DYNAMICS) -> list[int]:
    """A MIDI file (all tracks merged, sustain pedal folded in) -> event indices."""
    return encode_notes(read_notes(path_or_file), vocab)


def decode_events(events: Sequence[int], vocab: Vocab = VOCAB_DYNAMICS) -> list:
    """Event indices -> ``Note`` list sorted by start time."""
    return notes_from_actions(decode_actions(events, vocab))


def events_to_midi(events: Sequence[int], vocab: Vocab = VOCAB_DYNAMICS):
    """Event indices -> a ``mido.MidiFile`` where every note-on has its note-off."""
    return notes_to_midi({"Performance": decode_events(events, vocab)})
