"""The engine thread's MIDI ports: reading the input, opening ports, hot-plug, and the human's
notes ending when the input goes (``EnginePorts``, a part of ``perfjam.engine_loop.EngineLoop``
through ``EngineControl``). Engine thread only.

The input is polled: its messages wait in rtmidi's own queue, so nothing of Python runs on the
MIDI system's thread (under JACK, its process thread never waits for the GIL: a busy engine
cannot make the client late, which on a server without --sync loses or doubles messages). The
engine thread reads it while it waits (``_next_item``: slices of ``input_poll_ms``) and between
generation steps (``_pump_input``), moving ``(time_s, message)`` onto ``inbox``. The ports'
JACK threads run a step above the engine thread (``perfjam.rt_threads``).
"""

from __future__ import annotations

import queue
import time

from perfjam import midi_io
from perfjam.rt_threads import above_this_thread

_perf = time.perf_counter
MISSING_PORT_RETRY_S = 2.0  # after a MIDI API error, before trying to list ports again
RETURN_CHECK_S = 0.02  # a port that went away: a quick check for its return this often


def _quiesce() -> None:
    """Before closing a port: let JACK deliver what was just sent while this thread does not hold
    the GIL. Closing an rtmidi JACK port holds the GIL until JACK finishes its cycle; if a Python
    MIDI callback of this process is waiting for the GIL in that cycle, JACK stalls ~5 s."""
    time.sleep(0.03)


class EnginePorts:
    """Needs the state of ``EngineLoop`` (inbox, cfg, midi, input, output, synth, stream, ...)."""

    # hot-plug state (defaults here; set on the engine thread)
    port_lister: midi_io.PortLister | None = None  # kept for ports never found (see _check_ports)
    lister_error = ""
    next_full_check_s = 0.0

    # --- MIDI ports and hot-plug ------------------------------------------------------------------------
    def _open_input(self, name, virtual, raise_errors=False) -> None:
        self.in_name, self.in_virtual = name, virtual
        if self.input is not None:
            _quiesce()
            self.input.close()
            self.input = None
        if name:
            try:
                with above_this_thread():  # the client's JACK threads above the engine
                    self.input = midi_io.MidiInput(name, api=self.midi.api, virtual=virtual,
                                                   client_name="perfjam-in")  # polled: see _next_item
            except midi_io.MidiPortError:
                pass  # "disconnected": opened when it appears
            except midi_io.MidiError as exc:
                if raise_errors:
                    raise
                self._error(str(exc))

    def _open_output(self, name, virtual, raise_errors=False) -> None:
        self.out_name, self.out_virtual = name, virtual
        if self.output is not None:
            self.output.panic()
            _quiesce()
            self.output.close()
            self.output = None
        if name:
            try:
                with above_this_thread():  # the client's JACK threads above the engine
                    self.output = midi_io.MidiOutput(name, api=self.midi.api, virtual=virtual,
                                                     client_name="perfjam-out")
            except midi_io.MidiPortError:
                pass
            except midi_io.MidiError as exc:
                if raise_errors:
                    raise
                self._error(str(exc))

    # --- reading the input (polled: nothing of Python runs on the MIDI system's thread) ------------------
    def _pump_input(self) -> bool:
        """Move what the input received onto ``inbox`` (behind what is there); True if anything."""
        port = self.input
        if port is None or port.inbox is not None:
            return False
        put, moved = self.inbox.put, False
        for item in port.iter_pending():
            put(item)
            moved = True
        return moved

    def _next_item(self, timeout_s: float):
        """The next ``inbox`` item, or None after ``timeout_s``. While an input is open the wait
        is cut into slices of ``input_poll_ms``, the input read before each."""
        get = self.inbox.get
        if self.input is None or self.input.state == "closed":
            try:
                return get(True, timeout_s) if timeout_s > 0 else get(False)
            except queue.Empty:
                return None
        poll_s = self.cfg.input_poll_ms / 1000.0
        deadline = _perf() + timeout_s
        pump = self._pump_input
        while True:
            pump()
            remaining = deadline - _perf()
            try:
                if remaining <= 0:
                    return get(False)
                return get(True, remaining if remaining < poll_s else poll_s)
            except queue.Empty:
                if remaining <= 0:
                    return None

    # --- hot-plug ----------------------------------------------------------------------------------------
    def _check_ports(self, now: float, idle: bool) -> None:
        """Hot-plug, every ``hotplug_interval_s``. A port that was open is checked on its own
        client (one listing); once it went away, a quick check (the number of ports) runs every
        ``RETURN_CHECK_S`` so that a replugged device plays again within tens of ms. A port never
        found is looked for on a kept ``PortLister`` (listing on it is cheap) and opened only
        once it is listed: that open creates a MIDI client, which python-rtmidi does holding the
        GIL (tens to hundreds of ms on JACK), so only while the AI is idle (nothing due or being
        generated), never under its notes."""
        full = now >= self.next_full_check_s
        if full:
            self.next_full_check_s = now + self.cfg.hotplug_interval_s
        port = self.input
        if port is not None and (full or port.state == "disconnected"):
            self._pump_input()  # what arrived before a disconnect is played first (the inbox is FIFO)
            if port.check(quick=not full) and not port.connected:
                self._pump_input()
                self.inbox.put(("input_lost",))
        port = self.output
        if port is not None and (full or port.state == "disconnected"):
            if port.check(quick=not full) and port.connected:
                port.panic()  # whatever was left sounding on the device before it went away
        if any(p is not None and p.state == "disconnected" for p in (self.input, self.output)):
            self.next_check_s = min(self.next_check_s, now + RETURN_CHECK_S)
        missing_in = self.input is None and self.in_name and not self.in_virtual
        missing_out = self.output is None and self.out_name and not self.out_virtual
        if not (missing_in or missing_out) or not full or now < self.next_probe_s:
            return
        if self.port_lister is None:
            if not idle:
                return
            self.port_lister = midi_io.PortLister(self.midi.api, "perfjam-watch")
        try:
            found_in = missing_in and self._listed(self.port_lister.inputs(), self.in_name, "input")
            found_out = missing_out and self._listed(self.port_lister.outputs(), self.out_name, "output")
        except Exception as exc:  # no usable MIDI API (e.g. the JACK server stopped)
            self.port_lister.close()
            self.port_lister = None
            self.next_probe_s = now + MISSING_PORT_RETRY_S
            if str(exc) != self.lister_error:
                self.lister_error = str(exc)
                self._error(f"cannot list MIDI ports: {exc}")
            return
        self.lister_error = ""
        if found_in and idle:
            self._open_input(self.in_name, False)
        if found_out and idle:
            self._open_output(self.out_name, False)

    @staticmethod
    def _listed(ports: list[str], name: str, kind: str) -> bool:
        try:
            midi_io.find_port(ports, name, kind)
        except midi_io.MidiPortError:
            return False
        return True

    def _cmd_input_lost(self) -> None:
        """The input went away (queued by ``_check_ports`` behind what it had received)."""
        if self.input is not None and not self.input.connected:
            if self.human_queue:
                self._hear_humans()
            self._human_lost(gentle=True)

    def _human_lost(self, gentle: bool = False) -> None:
        """The human's notes end: synth, thru, and the model hears the release. ``gentle`` (a
        port unplugged or changed): note-offs and pedal up, the notes ring out their release;
        else (panic, stop) All Sound Off as well, which cuts them."""
        if self.synth is not None:
            self.synth.all_notes_off(self.human_ch, sound_off=not gentle)
        if self.output is not None and self.midi.thru:
            for channel, pitch in sorted(self.output.sounding_notes()):
                if channel == self.midi.thru_channel:
                    self.output.send((0x80 | channel, pitch, 0))
            self.output.control_change(self.midi.thru_channel, midi_io.CC_SUSTAIN, 0)
            self.output.control_change(self.midi.thru_channel, midi_io.CC_ALL_NOTES_OFF, 0)
        stream = self.stream
        if self.mode != "solo" and stream.encoder.folder.sounding:
            stream.rollback(self.clock.step_at(_perf()), require_sent=True)
            stream.commit()
            heard = stream.release_human(_perf(), self.control)
            if self.cfg.keep_heard:
                self.heard.extend(heard)

    def _port_state(self, port, name) -> str:
        if not name:
            return "none"
        return port.state if port is not None else "disconnected"
