"""The recording journal's format, and the take (a type-1 MIDI file) built from it.

The journal, ``FILE.mid.journal`` beside the take: a header line
``PERFJAM-JOURNAL 1 {"path": ..., "started": ...}`` then one line per MIDI message,
``<ms> <track> <byte> <byte> ...`` (ms since the recording started, track 0 = Human, 1 = AI).
``perfjam.recorder`` writes it; ``finish`` turns it into the take, and recovery
(``perfjam.recovery``) does the same for a journal a crash left behind.

The MIDI file: type 1, ticks_per_beat 500 at tempo 500000 (1 tick = 1 ms), a tempo track, then
"Human" (channel 1) and "AI" (channel 2) tracks; every note-on gets its note-off.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import mido

from perfjam.codec.midifile import TEMPO_US_PER_BEAT, TICKS_PER_BEAT

JOURNAL_SUFFIX = ".journal"
MAGIC = "PERFJAM-JOURNAL 1"
TRACK_NAMES = ("Human", "AI")
TRACK_CHANNELS = (0, 1)
HUMAN, AI = 0, 1
MAX_JOURNAL_MS = 0x0FFFFFFF  # the longest MIDI delta time (74 hours): a later time is damage


def journal_path_for(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + JOURNAL_SUFFIX)


def read_header(journal: Path, line: str) -> dict:
    if not line.startswith(MAGIC):
        raise ValueError(f"{journal} is not a PerfJam journal")
    try:
        return json.loads(line[len(MAGIC):].strip() or "{}")
    except json.JSONDecodeError:
        return {}


def read_journal(journal: str | Path) -> list[tuple[int, int, tuple[int, ...]]]:
    """(ms, track, message) of every complete line; a torn last line is skipped, and so is a
    damaged line (not numbers, a track other than 0/1, a byte outside 0..255, a time outside
    0..``MAX_JOURNAL_MS``): the events around the damage are kept."""
    events = []
    with open(journal, encoding="ascii", errors="replace") as f:
        read_header(Path(journal), f.readline())
        for line in f:
            if not line.endswith("\n"):
                break
            parts = line.split()
            try:
                ms, track, *data = (int(p) for p in parts)
            except ValueError:
                continue
            valid = 0 <= ms <= MAX_JOURNAL_MS and track in (HUMAN, AI) and data
            if valid and all(0 <= b <= 255 for b in data):
                events.append((ms, track, tuple(data)))
    return events


def build_midi(events: Iterable[tuple[int, int, tuple[int, ...]]]) -> mido.MidiFile:
    """Journal events -> the type-1 file; notes balanced, sustain lifted at the end."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    tempo = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO_US_PER_BEAT, time=0),
                            mido.MetaMessage("end_of_track", time=0)])
    midi.tracks.append(tempo)
    by_track: list[list] = [[], []]
    end = 0
    for seq, (ms, track, data) in enumerate(events):
        by_track[track].append((ms, seq, data))
        end = max(end, ms)
    for track, timeline in enumerate(by_track):
        midi.tracks.append(_track(TRACK_NAMES[track], TRACK_CHANNELS[track], sorted(timeline), end))
    return midi


def _track(name: str, channel: int, timeline: list, end: int) -> mido.MidiTrack:
    """Notes still open at the end (a stop or a crash) end with the recording. A pitch's notes
    never overlap: a re-strike ends the open note first (off, then on), a note lasts at least
    1 ms where the next strike of its pitch leaves room, and one left no time at all (struck
    again in the same ms) is dropped: a file never holds two note-ons of a pitch without an off."""
    out: list[tuple[int, int, int, mido.Message]] = []  # (tick, order, seq, message)
    notes: dict[int, list[list[int]]] = {}  # pitch -> [on_ms, on_seq, velocity, off_ms, off_seq]
    open_at: dict[int, list[int]] = {}
    pedal_down = False
    for ms, seq, data in timeline:
        kind = data[0] & 0xF0
        if kind in (0x80, 0x90) and len(data) >= 3:
            pitch = data[1] & 0x7F
            is_on = kind == 0x90 and (data[2] & 0x7F) > 0
            note = open_at.pop(pitch, None)
            if note is not None:  # a note-off, or a re-strike: the open note ends first
                note[3], note[4] = ms, seq
            if is_on:
                open_at[pitch] = note = [ms, seq, data[2] & 0x7F, -1, 1 << 60]
                notes.setdefault(pitch, []).append(note)
        elif kind == 0xB0 and len(data) >= 3:
            if data[1] == 64:
                pedal_down = data[2] >= 64
            out.append((ms, 1, seq, mido.Message("control_change", channel=channel,
                                                   control=data[1] & 0x7F, value=data[2] & 0x7F)))
        elif kind == 0xE0 and len(data) >= 3:
            value = ((data[2] & 0x7F) << 7 | (data[1] & 0x7F)) - 8192
            out.append((ms, 1, seq, mido.Message("pitchwheel", channel=channel, pitch=value)))
    last = end
    for pitch, same in notes.items():
        for i, (on_ms, on_seq, velocity, off_ms, off_seq) in enumerate(same):
            if off_ms < 0:  # still open at the end
                off_ms = max(end, on_ms + 1)
                last = max(last, off_ms)
            else:
                off_ms = max(off_ms, on_ms + 1)  # a note lasts at least 1 ms if it can...
            if i + 1 < len(same):
                off_ms = min(off_ms, same[i + 1][0])  # ...but never over the next strike
            if off_ms <= on_ms:
                continue  # struck again in the same ms: nothing of it can be heard
            out.append((on_ms, 1, on_seq, _note(channel, pitch, True, velocity)))
            out.append((off_ms, 0, off_seq, _note(channel, pitch, False, 0)))
    if pedal_down:
        out.append((last, 2, 1 << 60, mido.Message("control_change", channel=channel, control=64, value=0)))
    out.sort(key=lambda item: item[:3])
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    track.append(mido.Message("program_change", channel=channel, program=0, time=0))
    now = 0
    for tick, _order, _seq, message in out:
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _note(channel: int, pitch: int, on: bool, velocity: int) -> mido.Message:
    return mido.Message("note_on" if on else "note_off", channel=channel, note=pitch, velocity=velocity)


def free_take_path(target: Path, tag: str, with_journal: bool = False) -> Path:
    """``target``, or ``NAME-TAG.mid`` (``-TAG2`` ...) when something (even a dangling link) is
    there (``with_journal``: or at its journal's path)."""
    def taken(path: Path) -> bool:
        return os.path.lexists(path) or with_journal and os.path.lexists(journal_path_for(path))

    candidate, n = target, 1
    while taken(candidate):
        candidate = target.with_name(f"{target.stem}-{tag}{n if n > 1 else ''}.mid")
        n += 1
    return candidate


def finish(journal: Path, target: Path) -> Path:
    """Journal -> MIDI file (written atomically), then the journal is removed."""
    midi = build_midi(read_journal(journal))
    target.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(midi, target)
    journal.unlink(missing_ok=True)
    return target


def save_atomically(midi: mido.MidiFile, target: Path) -> None:
    """Write ``midi`` to a new temporary file beside ``target`` (created exclusively: never through
    a link someone left there), then rename it over ``target``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would have made it (mkstemp makes it private)
        with os.fdopen(fd, "wb") as f:
            midi.save(file=f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
