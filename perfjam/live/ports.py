"""The engine's MIDI ports: opening them, reading the input, hot-plug (``EnginePorts``). Engine
thread only.

The input is polled: its messages wait in rtmidi's own queue, so nothing of Python runs on the
MIDI system's thread (under JACK, its process thread never waits for the GIL: a busy engine
cannot make the client late, which on a server without --sync loses or doubles messages). The
engine thread reads it while it waits (``next_item``: slices of ``input_poll_ms``) and between
generation steps (``pump``), moving ``(time_s, message)`` onto the engine's inbox. The ports'
JACK threads run a step above the engine thread (``perfjam.live.realtime``).

When an open input goes away, ``("input_lost",)`` is queued on the inbox behind what it had
received; the engine ends the human's notes then.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from perfjam import midi_io
from perfjam.live.config import INPUT_CLIENT, OUTPUT_CLIENT, MidiSettings
from perfjam.live.realtime import above_this_thread
from perfjam.midi_io import jack_log

_perf = time.perf_counter
MISSING_PORT_RETRY_S = 2.0  # after a MIDI API error, before trying to list ports again
RETURN_CHECK_S = 0.02  # a port that went away: a quick check for its return this often
LOSSES_SETTLE_S = 0.5  # after a JACK server stopped, no port is reopened until its clients all said so
MALFORMED_REPORT_S = 10.0  # malformed input messages are reported at most this often
NOT_REALTIME_JACK = (
    "JACK runs without realtime scheduling: on a busy computer it misses cycles (audio dropouts, "
    "and without --sync MIDI messages dropped or doubled). Start JACK with realtime scheduling "
    "(jackd -R; QjackCtl: Setup > Realtime; the user needs realtime rights, e.g. the audio group).")


def quiesce() -> None:
    """Before closing a port: let JACK deliver what was just sent while this thread does not hold
    the GIL. Closing an rtmidi JACK port holds the GIL until JACK finishes its cycle; if a Python
    MIDI callback of this process is waiting for the GIL in that cycle, JACK stalls ~5 s."""
    time.sleep(0.03)


class EnginePorts:
    """The MIDI input and output of the engine (either may be None: none chosen, or not there)."""

    def __init__(self, inbox: queue.SimpleQueue, midi: MidiSettings, poll_ms: float,
                 hotplug_interval_s: float, on_error: Callable[..., None]) -> None:
        self.inbox = inbox
        self.midi = midi
        self.poll_s = poll_ms / 1000.0
        self.hotplug_interval_s = hotplug_interval_s
        self.on_error = on_error
        self.input: midi_io.MidiInput | None = None
        self.output: midi_io.MidiOutput | None = None
        self.in_name, self.in_virtual = midi.input_name, midi.input_virtual
        self.out_name, self.out_virtual = midi.output_name, midi.output_virtual
        self.lister: midi_io.PortLister | None = None  # kept for ports never found (see check)
        self.lister_error = ""
        self.next_full_check_s = 0.0
        self.next_probe_s = 0.0
        self.warned_not_realtime = False
        self.doubles_of_closed_inputs = 0
        self.malformed_of_closed_inputs = 0
        self.losses_seen, self.losses_settled_s = -1, 0.0  # JACK server losses (see _find_missing)
        self.malformed_reported, self.next_malformed_report_s = 0, 0.0

    @property
    def doubled_note_ons(self) -> int:
        """Note-ons the inputs of this run dropped as delivered twice (midi_io.DoubledNoteOns)."""
        return self.doubles_of_closed_inputs + (self.input.doubled_note_ons if self.input else 0)

    @property
    def malformed_messages(self) -> int:
        """Messages the inputs of this run dropped as not well formed (midi_io.kinds.well_formed)."""
        return self.malformed_of_closed_inputs + (self.input.malformed if self.input else 0)

    def _report_malformed(self, now: float) -> None:
        """A warning when the input dropped malformed messages: at once, then at most every
        ``MALFORMED_REPORT_S`` while more come (the AI plays on: they are never played)."""
        count = self.malformed_messages
        if count > self.malformed_reported and now >= self.next_malformed_report_s:
            self.malformed_reported, self.next_malformed_report_s = count, now + MALFORMED_REPORT_S
            self.on_error(f"MIDI input {self.in_name}: {count} malformed message{'s' if count > 1 else ''} "
                          "ignored so far (data bytes over 127 or wrong lengths: a faulty MIDI interface or "
                          "program?)", "warning")

    # --- opening -------------------------------------------------------------------------------------
    def open_input(self, name: str | None, virtual: bool, raise_errors: bool = False) -> None:
        """Close the input and open ``name`` (None: no input). A port not there yet stays
        "disconnected" and is opened when it appears; ``raise_errors``: a MidiError (no usable
        MIDI API) reaches the caller, else it is reported."""
        if _live(self.input) and (name, virtual) == (self.in_name, self.in_virtual):
            return  # already open (e.g. the window telling a port choice again after JACK returned)
        self.in_name, self.in_virtual = name, virtual
        if self.input is not None:
            quiesce()
            self.input.close()
            self.doubles_of_closed_inputs += self.input.doubled_note_ons
            self.malformed_of_closed_inputs += self.input.malformed
            self.input = None
        if name:
            self.input = self._open(midi_io.MidiInput, name, virtual, INPUT_CLIENT, raise_errors)

    def open_output(self, name: str | None, virtual: bool, raise_errors: bool = False) -> None:
        if _live(self.output) and (name, virtual) == (self.out_name, self.out_virtual):
            return
        self.out_name, self.out_virtual = name, virtual
        if self.output is not None:
            self.output.panic()
            quiesce()
            self.output.close()
            self.output = None
        if name:
            self.output = self._open(midi_io.MidiOutput, name, virtual, OUTPUT_CLIENT, raise_errors)

    def _open(self, cls, name: str, virtual: bool, client_name: str, raise_errors: bool):
        try:
            with above_this_thread() as started:  # the client's JACK threads above the engine
                port = cls(name, api=self.midi.api, virtual=virtual, client_name=client_name)
        except midi_io.MidiPortError:
            return None  # "disconnected": opened when it appears
        except midi_io.MidiError as exc:
            if raise_errors:
                raise
            self.on_error(str(exc))
            return None
        if port.api == "jack" and started.none_realtime and not self.warned_not_realtime:
            self.warned_not_realtime = True
            self.on_error(NOT_REALTIME_JACK, "warning")
        return port

    def close(self) -> None:
        quiesce()
        if self.input is not None:
            self.input.close()
        if self.output is not None:
            self.output.close()
        if self.lister is not None:
            self.lister.close()
            self.lister = None

    # --- reading the input (polled: nothing of Python runs on the MIDI system's thread) ------------------
    def pump(self) -> bool:
        """Move what the input received onto the inbox (behind what is there); True if anything."""
        port = self.input
        if port is None or port.inbox is not None:
            return False
        put, moved = self.inbox.put, False
        for item in port.iter_pending():
            put(item)
            moved = True
        return moved

    def next_item(self, timeout_s: float):
        """The next inbox item, or None after ``timeout_s``. While an input is open the wait is
        cut into slices of ``input_poll_ms``, the input read before each."""
        get = self.inbox.get
        if self.input is None or self.input.state == "closed":
            try:
                return get(True, timeout_s) if timeout_s > 0 else get(False)
            except queue.Empty:
                return None
        poll_s = self.poll_s
        deadline = _perf() + timeout_s
        pump = self.pump
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
    def check(self, now: float, idle: bool) -> float:
        """Hot-plug; returns the seconds until it should run again. A port that was open is
        checked on its own client (one listing) every ``hotplug_interval_s``; once it went away, a
        quick check (the number of ports) runs every ``RETURN_CHECK_S`` so that a replugged device
        plays again within tens of ms. A port never found is looked for on a kept ``PortLister``
        (listing on it is cheap) and opened only once it is listed: that open creates a MIDI
        client, which python-rtmidi does holding the GIL (tens to hundreds of ms on JACK), so only
        while the AI is ``idle`` (nothing due or being generated), never under its notes."""
        full = now >= self.next_full_check_s
        if full:
            self.next_full_check_s = now + self.hotplug_interval_s
        port = self.input
        if port is not None and (full or port.state == "disconnected"):
            self.pump()  # what arrived before a disconnect is played first (the inbox is FIFO)
            if port.check(quick=not full) and not port.connected:
                self.pump()
                self.inbox.put(("input_lost",))
        port = self.output
        if port is not None and (full or port.state == "disconnected"):
            if port.check(quick=not full) and port.connected:
                port.panic()  # whatever was left sounding on the device before it went away
        self._report_malformed(now)
        gone = any(p is not None and p.state == "disconnected" for p in (self.input, self.output))
        self._find_missing(now, full, idle)
        return RETURN_CHECK_S if gone else self.hotplug_interval_s

    def _find_missing(self, now: float, full: bool, idle: bool) -> None:
        """Open the ports that are not there: never found, or dead with their MIDI system (a JACK
        server that stopped: its clients never work again, so new ones are opened once it is back,
        virtual ports too). Those are opened at once, the AI playing or not: until then its
        notes reach nothing."""
        dead_in, dead_out = _dead(self.input), _dead(self.output)
        missing_in = self.in_name and (dead_in or self.input is None and not self.in_virtual)
        missing_out = self.out_name and (dead_out or self.output is None and not self.out_virtual)
        if not (missing_in or missing_out) or not full or now < self.next_probe_s:
            return
        if dead_in or dead_out:  # every dead client of this process says so (libjack, within ~0.2 s):
            losses = jack_log.server_losses()  # a port opened before they all did would count
            if losses != self.losses_seen:  # itself dead too
                self.losses_seen, self.losses_settled_s = losses, now + LOSSES_SETTLE_S
            if now < self.losses_settled_s:
                return
        idle = idle or dead_in or dead_out
        if self.lister is None:
            if not idle:
                return
            self.lister = midi_io.PortLister(self.midi.api, "perfjam-watch")
        try:  # (a listing that works: the MIDI system is there)
            lister = self.lister  # (each listing runs only when needed: its first opens a client)
            found_in = missing_in and (_listed(lister.inputs(), self.in_name, "input") or self.in_virtual)
            found_out = missing_out and (_listed(lister.outputs(), self.out_name, "output")
                                         or self.out_virtual)
        except Exception as exc:  # no usable MIDI API (e.g. the JACK server stopped)
            self.lister.close()
            self.lister = None
            self.next_probe_s = now + MISSING_PORT_RETRY_S
            if str(exc) != self.lister_error and not (dead_in or dead_out):  # (a stopped server: the
                self.lister_error = str(exc)  # ports' state says it, and that they come back with it)
                self.on_error(f"cannot list MIDI ports: {exc}")
            return
        self.lister_error = ""
        if found_in and idle:
            self.open_input(self.in_name, self.in_virtual)
        if found_out and idle:
            self.open_output(self.out_name, self.out_virtual)

    # --- state -------------------------------------------------------------------------------------------
    @property
    def input_lost(self) -> bool:
        """The input is open but its port went away (its ``input_lost`` is queued)."""
        return self.input is not None and not self.input.connected

    def input_state(self) -> str:
        return _state(self.input, self.in_name)

    def output_state(self) -> str:
        return _state(self.output, self.out_name)


def _live(port) -> bool:
    return port is not None and port.connected and not port.server_gone


def _dead(port) -> bool:
    return port is not None and port.server_gone


def _state(port, name) -> str:
    if not name:
        return "none"
    return port.state if port is not None else "disconnected"


def _listed(ports: list[str], name: str, kind: str) -> bool:
    try:
        midi_io.find_port(ports, name, kind)
    except midi_io.MidiPortError:
        return False
    return True
