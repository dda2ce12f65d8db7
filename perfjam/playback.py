"""Playing a take back through the live synth, on a thread of its own (no Qt).

``TakePlayer(synth, path).start()`` reads the MIDI file and sends its notes and pedal at their
times to the synth the engine plays, on channels of its own (``PLAYBACK_CHANNELS``: the take's
human side on one, its AI side on another, panned as the live ones), so that playback and live
playing never end each other's notes. ``stop()`` ends it at once: every note it started is
released and its pedal lifted. Nothing here waits on the GUI or the engine.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import mido

from perfjam.codec.midifile import load_midi
from perfjam.journal import AI, HUMAN, TRACK_CHANNELS

PLAYBACK_CHANNELS = (2, 3)  # the synth's channels for a take's human and AI sides
PEDAL_CCS = frozenset({64, 66, 67})  # sustain, sostenuto, soft
CC_PAN, CC_SUSTAIN, CC_ALL_NOTES_OFF = 10, 64, 123


def playback_channel(channel: int) -> int:
    """The synth channel a take's channel plays on (a foreign file's other channels: the AI one)."""
    side = HUMAN if channel == TRACK_CHANNELS[HUMAN] else AI
    return PLAYBACK_CHANNELS[side]


class TakePlayer:
    """One playback. ``start()``, then ``stop()`` or let it end; ``position_s`` / ``length_s``
    for a progress display (read from any thread), ``error`` if the file could not be read."""

    def __init__(self, synth: Any, path: str | Path, clock=time.perf_counter) -> None:
        self.synth = synth
        self.path = Path(path)
        self.clock = clock
        self.length_s: float | None = None
        self.position_s = 0.0
        self.notes_sent = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._sounding: set[tuple[int, int]] = set()
        self._thread = threading.Thread(target=self._run, name="perfjam-playback", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 2.0) -> None:
        """End now (the notes it started are released before this returns)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def finished(self) -> bool:
        """Played to its end (not stopped, no error)."""
        return not self.running and not self._stop.is_set() and self.error is None

    def sounding(self) -> set[tuple[int, int]]:
        """(synth channel, pitch) of the notes it holds now."""
        return set(self._sounding)

    # --- the playback thread -----------------------------------------------------------------
    def _run(self) -> None:
        try:
            midi = load_midi(self.path)  # bounded before mido reads it
            self.length_s = float(midi.length)
            self._prepare()
            self._play(midi)
        except Exception as exc:  # a file mido cannot read, a closed synth: say so, never crash
            self.error = str(exc).removeprefix(f"{self.path}: ") or type(exc).__name__
        finally:
            self._release()

    def _prepare(self) -> None:
        cfg = getattr(self.synth, "config", None)
        pans = (getattr(cfg, "human_pan", 0.35), getattr(cfg, "ai_pan", 0.65))
        for channel, pan in zip(PLAYBACK_CHANNELS, pans, strict=True):
            self.synth.set_program(channel, 0)
            self.synth.control_change(channel, CC_PAN, max(0, min(127, round(pan * 127))))

    def _play(self, midi: mido.MidiFile) -> None:
        start = self.clock()
        at = 0.0
        for msg in midi:  # the tracks merged, delta times in seconds (the tempo map applied)
            at += msg.time
            wait = start + at - self.clock()
            if wait > 0 and self._stop.wait(wait):
                return
            if self._stop.is_set():
                return
            self.position_s = at
            self._send(msg)
        self.position_s = at

    def _send(self, msg: mido.Message) -> None:
        if msg.is_meta or not hasattr(msg, "channel"):
            return
        channel = playback_channel(msg.channel)
        if msg.type == "note_on" and msg.velocity > 0:
            self.synth.note_on(channel, msg.note, msg.velocity)
            self._sounding.add((channel, msg.note))
            self.notes_sent += 1
        elif msg.type in ("note_on", "note_off"):
            self.synth.note_off(channel, msg.note)
            self._sounding.discard((channel, msg.note))
        elif msg.type == "control_change" and msg.control in PEDAL_CCS:
            self.synth.control_change(channel, msg.control, msg.value)

    def _release(self) -> None:
        for channel, pitch in sorted(self._sounding):
            try:
                self.synth.note_off(channel, pitch)
            except Exception:  # the synth closed under it: nothing sounds anyway
                break
        self._sounding.clear()
        for channel in PLAYBACK_CHANNELS:
            try:
                self.synth.control_change(channel, CC_SUSTAIN, 0)
                self.synth.control_change(channel, CC_ALL_NOTES_OFF, 0)
            except Exception:
                break
