"""Where the engine's notes sound: the synth and the MIDI output (``Outlets``). Engine thread only.

The human's notes go to the synth's human channel and, with MIDI thru, to the output's thru
channel; the AI's to the synth's AI channel and the output's AI channel. ``Outlets`` remembers
what it left sounding on each side, so that nothing is ever left hanging:

* ``ai_open``: AI pitch -> wall time of its note-on (a re-strike is sent as off, then on);
* ``human_keys``: human pitch -> wall time of its note-on, while its key is down, and whether
  the human's sustain pedal is down (what the recording must end when the input goes away).
"""

from __future__ import annotations

import time

from perfjam import midi_io
from perfjam.live.config import MidiSettings
from perfjam.live.ports import EnginePorts
from perfjam.midi_io.kinds import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, PITCH_BEND

_perf = time.perf_counter
ALL_OFF_CCS = (midi_io.CC_ALL_SOUND_OFF, midi_io.CC_ALL_NOTES_OFF)  # from the keyboard: its notes end


class Outlets:
    def __init__(self, synth, ports: EnginePorts, midi: MidiSettings) -> None:
        self.synth = synth
        self.ports = ports
        self.midi = midi
        self.human_ch = synth.config.human_channel if synth is not None else 0
        self.ai_ch = synth.config.ai_channel if synth is not None else 1
        self.ai_open: dict[int, float] = {}
        self.human_keys: dict[int, float] = {}
        self.human_pedal_down = False

    # --- the human (thru) ----------------------------------------------------------------------------
    def human(self, msg) -> bool:
        """A human channel message to the synth and thru; False for one the engine ignores."""
        kind = msg[0] & 0xF0
        synth, out = self.synth, self.ports.output
        thru = out is not None and self.midi.thru
        if kind == NOTE_ON or kind == NOTE_OFF:
            pitch, velocity = msg[1], msg[2]
            if kind == NOTE_ON and velocity > 0:
                if synth is not None:
                    synth.note_on(self.human_ch, pitch, velocity)
                self.human_keys[pitch] = _perf()
            else:
                if synth is not None:
                    synth.note_off(self.human_ch, pitch)
                self.human_keys.pop(pitch, None)
        elif kind == CONTROL_CHANGE:
            if synth is not None:
                synth.control_change(self.human_ch, msg[1], msg[2])
            if msg[1] == midi_io.CC_SUSTAIN:
                self.human_pedal_down = msg[2] >= 64
        elif kind != PITCH_BEND:
            return False
        if thru:
            out.send((kind | self.midi.thru_channel, msg[1], msg[2]))
        return True

    def human_all_off(self, gentle: bool) -> None:
        """Every human note ends. ``gentle`` (a port unplugged or changed): note-offs and pedal
        up, the notes ring out their release; else (panic, stop) All Sound Off as well."""
        if self.synth is not None:
            self.synth.all_notes_off(self.human_ch, sound_off=not gentle)
        self.release_thru()
        self.human_keys.clear()
        self.human_pedal_down = False

    def release_thru(self) -> None:
        """MIDI thru: note-offs for the human notes sounding at MIDI out, pedal up, All Notes Off
        (the synth's side is untouched: the keys may still be down)."""
        out = self.ports.output
        if out is not None and self.midi.thru:
            for channel, pitch in sorted(out.sounding_notes()):
                if channel == self.midi.thru_channel:
                    out.send((NOTE_OFF | channel, pitch, 0))
            out.control_change(self.midi.thru_channel, midi_io.CC_SUSTAIN, 0)
            out.control_change(self.midi.thru_channel, midi_io.CC_ALL_NOTES_OFF, 0)

    def stuck_human_keys(self, now_s: float, limit_s: float) -> list[int]:
        """Human pitches whose key has been down longer than ``limit_s`` (a lost note-off)."""
        return [pitch for pitch, on_s in self.human_keys.items() if now_s - on_s > limit_s]

    # --- the AI ---------------------------------------------------------------------------------------
    def ai_note(self, pitch: int, velocity: int, is_on: bool) -> float:
        """One AI note action to the synth and MIDI out; returns the time it was sent."""
        t = _perf()
        synth, out, channel = self.synth, self.ports.output, self.midi.out_channel
        if is_on:
            if pitch in self.ai_open:  # a re-strike is off, then on, whatever the stream sent
                if synth is not None:
                    synth.note_off(self.ai_ch, pitch)
                if out is not None:
                    out.send((NOTE_OFF | channel, pitch, 0))
            if synth is not None:
                synth.note_on(self.ai_ch, pitch, velocity)
            if out is not None:
                out.send((NOTE_ON | channel, pitch, velocity))
            self.ai_open[pitch] = t
        else:
            if synth is not None:
                synth.note_off(self.ai_ch, pitch)
            if out is not None:
                out.send((NOTE_OFF | channel, pitch, 0))
            self.ai_open.pop(pitch, None)
        return t

    def ai_all_notes_off(self) -> None:
        """All Notes Off on the AI's channels (after its note-offs were sent)."""
        if self.synth is not None:
            self.synth.all_notes_off(self.ai_ch)
        if self.ports.output is not None:
            self.ports.output.control_change(self.midi.out_channel, midi_io.CC_ALL_NOTES_OFF, 0)

    def overdue_ai(self, now_s: float, limit_s: float, sounding) -> list[int]:
        """AI pitches sent on longer than ``limit_s`` ago that the stream no longer sounds."""
        return [p for p, on_s in self.ai_open.items() if now_s - on_s > limit_s and p not in sounding]

    # --- everything -----------------------------------------------------------------------------------
    def panic(self) -> None:
        if self.synth is not None:
            self.synth.all_notes_off()
        if self.ports.output is not None:
            self.ports.output.panic()
