"""MIDI files: read notes with the sustain pedal folded in, write at 1 ms resolution, and the
file-level encode/decode of the codec."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

TICKS_PER_BEAT = 500
TEMPO_US_PER_BEAT = 500_000  # with 500 ticks per beat: one tick = 1 ms


def load_midi(path_or_file: str | Path | mido.MidiFile) -> mido.MidiFile:
    if isinstance(path_or_file, mido.MidiFile):
        return path_or_file
    return mido.MidiFile(str(path_or_file))


def notes_from_timed(timed: Iterable[TimedNote]) -> list[Note]:
    """Pair note-ons with their note-offs (at most one open note per pitch)."""
    open_notes: dict[int, TimedNote] = {}
    notes: list[Note] = []
    for t in timed:
        if t.is_on:
            open_notes[t.pitch] = t
        elif (on := open_notes.pop(t.pitch, None)) is not None:
            notes.append(Note(t.pitch, on.velocity, on.time_s, t.time_s))
    notes.sort(key=lambda n: (n.start_s, n.pitch))
    return notes


def notes_from_actions(actions: Iterable[NoteAction]) -> list[Note]:
    return notes_from_timed(
        TimedNote(step_to_seconds(a.step), a.pitch, a.velocity, a.is_on) for a in actions
    )


def read_notes(path_or_file: str | Path | mido.MidiFile, sustain: bool = True) -> list[Note]:
    """All tracks merged, tempo map applied, sustain pedal folded into note lengths."""
    midi = load_midi(path_or_file)
    folder = PedalFolder(sustain)
    timed: list[TimedNote] = []
    time_s = 0.0
    for msg in midi:  # merged tracks, delta times in seconds
        time_s += msg.time
        if msg.type in ("note_on", "note_off", "control_change"):
            timed.extend(folder.feed_bytes(time_s, msg.bytes()))
    timed.extend(folder.release_all(time_s))
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
