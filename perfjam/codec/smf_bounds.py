"""Bounds a Standard MIDI File must keep before mido parses it (a leaf: no imports of the codec).

mido reads whatever a file declares: a 10 MB file takes it 47 s and 1.5 GB, and its
variable-length reader is quadratic on a number that never ends (800 KB of bytes with the top bit
set: 142 s of CPU). ``bounds_problem`` walks the file's chunks and events once, as mido will, and
says what is out of bounds, in a few words, before mido is given the file: more than
``MAX_MIDI_BYTES``, a header declaring more than ``MAX_TRACKS`` tracks (mido reads a count of
32768 or more as negative: no tracks, "no notes"), a variable-length number (a delta time, a
length) longer than the 4 bytes the standard allows, or more than ``MAX_MIDI_EVENTS`` events. What
is merely corrupt or cut short is left to mido, which says so itself.
"""

from __future__ import annotations

MAX_MIDI_BYTES = 8 * 1024 * 1024  # ~20x the largest ASAP performance; mido: ~10 s and ~1 GB at worst
MAX_MIDI_EVENTS = 1_000_000  # ~9 hours of dense playing (30 events/s): mido ~6 s, ~0.5 GB
MAX_TRACKS = 4096
MAX_VLQ_BYTES = 4  # the standard's limit (0x0FFFFFFF)
# Data bytes after a status byte (channel messages by their high nibble; system messages in a file).
_CHANNEL_DATA = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_SYSTEM_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}


class _Stop(Exception):
    """The walk ends: ``reason`` when a bound is broken, None when the data ran out (mido's to say)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason


def _vlq(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); at most ``MAX_VLQ_BYTES`` bytes."""
    value = 0
    for i in range(MAX_VLQ_BYTES):
        if pos + i >= len(data):
            raise _Stop()
        byte = data[pos + i]
        value = value << 7 | byte & 0x7F
        if byte < 0x80:
            return value, pos + i + 1
    raise _Stop(f"a variable-length number longer than {MAX_VLQ_BYTES} bytes at byte {pos}")


def size_problem(size: int) -> str | None:
    """Why a file of ``size`` bytes is not read, or None."""
    if size <= MAX_MIDI_BYTES:
        return None
    return f"{size:,} bytes, more than the {MAX_MIDI_BYTES:,} a MIDI file may have here"


def bounds_problem(data: bytes) -> str | None:
    """What in ``data`` (a whole file) is out of bounds, or None (which does not make it valid)."""
    if len(data) > MAX_MIDI_BYTES:
        return size_problem(len(data))
    if len(data) < 14 or data[:4] != b"MThd":
        return None
    header_end = 8 + int.from_bytes(data[4:8], "big")
    tracks = int.from_bytes(data[10:12], "big")
    if tracks > MAX_TRACKS:
        return f"the header declares {tracks:,} tracks (at most {MAX_TRACKS:,})"
    try:
        _walk_tracks(data, header_end, tracks)
    except _Stop as stop:
        return stop.reason
    return None


def _walk_tracks(data: bytes, pos: int, tracks: int) -> None:
    events = 0
    for _ in range(tracks):
        if pos + 8 > len(data) or data[pos:pos + 4] != b"MTrk":
            raise _Stop()
        size = int.from_bytes(data[pos + 4:pos + 8], "big")
        start = pos = pos + 8
        last_status = None
        while pos - start != size:  # mido's own end-of-track test
            if pos >= len(data):
                raise _Stop()
            _delta, pos = _vlq(data, pos)
            if pos >= len(data):
                raise _Stop()
            status = data[pos]
            pos += 1
            if status < 0x80:  # running status: this byte is the first data byte
                if last_status is None:
                    raise _Stop()
                status, pos = last_status, pos - 1
            elif status != 0xFF:
                last_status = status
            if status == 0xFF:
                length, pos = _vlq(data, pos + 1)
                pos += length
            elif status in (0xF0, 0xF7):
                length, pos = _vlq(data, pos)
                pos += length
            elif status < 0xF0:
                pos += _CHANNEL_DATA[status & 0xF0]
            elif status in _SYSTEM_DATA:
                pos += _SYSTEM_DATA[status]
            else:
                raise _Stop()  # an undefined status byte: mido says it is corrupt
            events += 1
            if events > MAX_MIDI_EVENTS:
                raise _Stop(f"more than {MAX_MIDI_EVENTS:,} events")
