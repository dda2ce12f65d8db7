"""Note-ons the MIDI system delivered twice (pure: no rtmidi here, tested on its own).

On a JACK server without ``--sync`` a client may run late. When the keyboard's client missed its
cycle, a reader finds that client's last events again and delivers them a second time, one or a
few periods later (benchmarks/midi_input.py, with the synth's audio on that server: 5-15 of
10,000 messages doubled while the virtual machine's host took CPU time; a plain C client alike).
A doubled note-off or pedal value changes nothing; a doubled note-on strikes the key again and
records a note a few ms long.

A key cannot sound twice without rising in between (a note-off), so a note-on for a key that is
still down, at the same velocity, within ``DOUBLE_WINDOW_S`` of the first, is that first one read
again and is dropped. A real re-strike whose note-off was lost is slower than that (a grand
piano's action repeats a key about 15 times a second at most), or differs in velocity: it passes.
"""

from __future__ import annotations

from collections.abc import Sequence

from perfjam.midi_io.kinds import NOTE_OFF, NOTE_ON

DOUBLE_WINDOW_S = 0.03  # > a period of a 1024-frame JACK server at 48 kHz (21 ms) and a bit


class DoubledNoteOns:
    """``is_double(time_s, message)`` for each message in arrival order; ``reset()`` when the port
    reopens; ``dropped``: how many it found."""

    __slots__ = ("window_s", "down", "dropped")

    def __init__(self, window_s: float = DOUBLE_WINDOW_S) -> None:
        self.window_s = window_s
        self.down: dict[int, tuple[float, int]] = {}  # channel << 7 | pitch -> (time_s, velocity)
        self.dropped = 0

    def reset(self) -> None:
        self.down.clear()

    def is_double(self, time_s: float, message: Sequence[int]) -> bool:
        """True for a note-on that repeats the one still down on its key (drop it)."""
        if len(message) < 3:
            return False
        kind = message[0] & 0xF0
        if kind != NOTE_ON and kind != NOTE_OFF:
            return False
        key = (message[0] & 0x0F) << 7 | message[1]
        if kind == NOTE_OFF or message[2] == 0:
            self.down.pop(key, None)
            return False
        first = self.down.get(key)
        if first is not None and first[1] == message[2] and time_s - first[0] < self.window_s:
            self.dropped += 1
            return True
        self.down[key] = (time_s, message[2])
        return False
