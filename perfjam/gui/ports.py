"""The MIDI port pickers: hot-plug refresh every couple of seconds, PerfJam's own ports hidden,
the only keyboard chosen by itself on a fresh profile, news when a chosen port goes or returns.
With no input chosen, PerfJam plays from its own virtual input port (``VIRTUAL_INPUT``), which
other programs and keyboards can be routed to. A MIDI system that stops (the JACK server) is said
as such; when it returns the pickers fill again and the engine reopens the ports on new clients.

Opening a MIDI client (as ``midi_io.list_ports`` does on every call) takes 40-70 ms under JACK,
and python-rtmidi holds the GIL all that time, which would stall the engine thread as well as the
window. So the ports are listed through ``midi_io.PortLister``, whose clients stay open: listing
is then a fraction of a millisecond and runs right on the GUI thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from perfjam.engine import INPUT_CLIENT, OUTPUT_CLIENT
from perfjam.gui.controls import SidePanel
from perfjam.gui.messages import MessageBanner
from perfjam.gui.statusbar import API_NAMES
from perfjam.midi_io import MidiError, find_port

POLL_MS = 2000
# A MIDI API that cannot be listed is tried again after RETRY_FIRST_S, then twice as long each
# time up to RETRY_MAX_S: each try opens a MIDI client (a few ms while no server runs; JACK's own
# messages about it are kept, not printed: perfjam.midi_io.jack_log).
RETRY_FIRST_S, RETRY_MAX_S = 1.0, 8.0
# The engine's MIDI clients (perfjam/live/ports.py names them; JACK adds "-01"... to a name in use):
# reading PerfJam's own output would make it answer itself forever.
OWN_CLIENT = re.compile(f"({re.escape(INPUT_CLIENT)}|{re.escape(OUTPUT_CLIENT)})(-\\d+)?")
THROUGH_CLIENT = "Midi Through"  # ALSA's loopback client: there, but never a keyboard
NO_MIDI = "No MIDI system found — play with the computer keyboard or the mouse."
MIDI_BACK = "MIDI is back: your ports are reconnected."


def stopped_message(api: str | None, audio: str | None = None) -> str:
    """What to do while the MIDI system is away; ``audio``: the engine's audio status (its sound
    goes with JACK when it played through JACK)."""
    name = API_NAMES.get(api or "", "The MIDI system")
    if api == "jack" and audio is not None and audio.endswith(": jack"):
        return (f"{name} stopped, and PerfJam's sound with it: your MIDI ports and the sound come back "
                "by themselves when it returns.")
    return (f"{name} stopped: play on with the computer keyboard; PerfJam reconnects your MIDI ports "
            "when it returns.")

Lister = Callable[[], tuple[list[str], list[str]]]


def client_of(port: str) -> str:
    """The client part of a port name ("Keystation:Keystation MIDI 1 20:0" -> "Keystation")."""
    return port.split(":", 1)[0].strip()


def visible_ports(names: list[str]) -> list[str]:
    """The ports a musician can choose: all but PerfJam's own."""
    return [n for n in names if not OWN_CLIENT.fullmatch(client_of(n))]


def external_inputs(names: list[str]) -> list[str]:
    """Inputs that are a keyboard or another program (no own port, no ALSA loopback)."""
    return [n for n in visible_ports(names) if not client_of(n).startswith(THROUGH_CLIENT)]


def resolve_port(names: list[str], wanted: str | None) -> str | None:
    """The listed port a remembered name means (as the engine finds it: exact, same device with
    other ALSA numbers, or a unique part of a name); the name itself when none matches."""
    if not wanted:
        return None
    try:
        return names[find_port(names, wanted)]
    except MidiError:
        return wanted


class PersistentLister:
    """``lister() -> (inputs, outputs)`` through a ``midi_io.PortLister`` kept between calls. When
    it fails (the API cannot be opened, or the MIDI system went away: e.g. the JACK server
    stopped) a new one is made, after a backoff (``RETRY_FIRST_S`` doubling to ``RETRY_MAX_S``);
    meanwhile each call raises MidiError at once. ``api`` is the API that listed last."""

    def __init__(self, api: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.wanted = api
        self.api: str | None = None
        self.clock = clock
        self.lister = None  # midi_io.PortLister, once opened
        self.retry_s = RETRY_FIRST_S
        self._retry_at = 0.0
        self._error = ""

    def __call__(self) -> tuple[list[str], list[str]]:
        from perfjam import midi_io

        if self.lister is None:
            if self.clock() < self._retry_at:
                raise midi_io.MidiError(self._error)
            self.lister = midi_io.PortLister(self.wanted)
        try:
            ports = self.lister()
        except Exception as exc:  # not again for a while
            self.close()
            self._error = str(exc) or type(exc).__name__
            self._retry_at = self.clock() + self.retry_s
            self.retry_s = min(RETRY_MAX_S, 2 * self.retry_s)
            raise midi_io.MidiError(self._error) from exc
        self.api, self.retry_s = self.lister.api, RETRY_FIRST_S
        return ports

    def close(self) -> None:
        if self.lister is not None:
            self.lister.close()
            self.lister = None


class PortWatcher(QObject):
    """Emits ``changed(inputs, outputs)`` whenever the lists of MIDI ports change, ``failed`` when
    listing fails (once per reason), ``stopped(api)`` when a MIDI system that listed went away and
    ``returned`` when listing works again after failing. ``system``: "unknown" (not listed yet),
    "up", "down" (never listed) or "stopped" (listed, then went away)."""

    changed = Signal(list, list)
    failed = Signal(str)
    stopped = Signal(object)  # the API name ("jack"), or None when the lister does not say
    returned = Signal(str)  # what it was: "down" or "stopped"

    def __init__(self, lister: Lister, poll_ms: int = POLL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lister = lister
        self.inputs: list[str] | None = None  # None until the first listing
        self.outputs: list[str] | None = None
        self.system = "unknown"
        self._last_error = ""
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(poll_ms)

    def refresh(self) -> None:
        try:
            inputs, outputs = self.lister()
        except Exception as exc:  # a broken MIDI system is reported once, never raised into Qt
            error = str(exc) or type(exc).__name__
            was, self.system = self.system, "stopped" if self.system in ("up", "stopped") else "down"
            if error != self._last_error:
                self._last_error = error
                self.failed.emit(f"Cannot list MIDI ports: {error}")
            if was == "up":
                self.inputs = self.outputs = None  # whatever returns is news
                self.stopped.emit(getattr(self.lister, "api", None))
            return
        self._last_error = ""
        was, self.system = self.system, "up"
        inputs, outputs = list(inputs), list(outputs)
        if inputs != self.inputs or outputs != self.outputs:
            self.inputs, self.outputs = inputs, outputs
            self.changed.emit(inputs, outputs)
        if was in ("down", "stopped"):
            self.returned.emit(was)

    def stop(self) -> None:
        self._timer.stop()
        close = getattr(self.lister, "close", None)
        if close is not None:
            close()


class PortPickers(QObject):
    """The MIDI in/out pickers of the side panel over a PortWatcher. ``choice`` is what this
    session plays with (told to the engine); only what the user chose, or the one keyboard chosen
    for them, is remembered in the settings."""

    def __init__(self, side: SidePanel, settings: Any, bridge: Any, banner: MessageBanner,
                 watcher: PortWatcher, session: tuple[str | None, str | None],
                 audio: Callable[[], str | None] = lambda: None) -> None:
        super().__init__(watcher)
        self.audio = audio  # the engine's audio status, as last reported
        self.side, self.settings, self.bridge, self.banner = side, settings, bridge, banner
        self.choice: dict[str, str | None] = {"input": session[0], "output": session[1]}
        self._states: dict[str, str] = {}
        self._offered = False
        self._warned = True  # a "no MIDI" or "stopped" message may show (the startup's, too)
        self.watcher = watcher
        watcher.changed.connect(self.refresh)
        watcher.failed.connect(self._failed)
        watcher.stopped.connect(self._stopped)
        watcher.returned.connect(self._returned)
        side.midiInputChanged.connect(lambda name: self.choose("input", name))
        side.midiOutputChanged.connect(lambda name: self.choose("output", name))

    @property
    def midi_up(self) -> bool:
        """Whether ports can be opened (not known yet counts: the engine was just started on them)."""
        return self.watcher.system in ("up", "unknown")

    def _failed(self, error: str) -> None:
        self._warned = True
        if self.watcher.system == "stopped":
            from perfjam.midi_io import jack_log

            api = getattr(self.watcher.lister, "api", None)
            self.banner.show_message(stopped_message(api, self.audio()), "warning",
                                     "\n".join([error, *jack_log.messages()[-8:]]), "midi-system")
        else:
            self.banner.show_message(NO_MIDI, "warning", error, "midi-system")

    def _stopped(self, _api: object) -> None:
        for kind in ("input", "output"):  # the system's own message says it all
            self.banner.withdraw(f"midi-{kind}")
        self.side.set_ports(self.side.midi_in, [], self.choice["input"])
        self.side.set_ports(self.side.midi_out, [], self.choice["output"])

    def _returned(self, was: str) -> None:
        """The MIDI system lists (again): the engine opens the ports (on new clients: the old ones
        died with the server)."""
        self.send_all()
        if was == "stopped":
            self.banner.show_message(MIDI_BACK, "info", key="midi-system")

    def refresh(self, inputs: list[str], outputs: list[str]) -> None:
        """Refill the pickers (the engine itself reopens a chosen port that returns)."""
        if self._warned:  # MIDI can be listed (again); "MIDI is back" stays
            self._warned = False
            self.banner.withdraw("midi-system")
        inputs, outputs = visible_ports(inputs), visible_ports(outputs)
        if not self.settings.midi_input_chosen:
            self._first_keyboard(external_inputs(inputs))
        self.side.set_ports(self.side.midi_in, inputs, resolve_port(inputs, self.choice["input"]))
        self.side.set_ports(self.side.midi_out, outputs, resolve_port(outputs, self.choice["output"]))

    def _first_keyboard(self, inputs: list[str]) -> None:
        """A fresh profile: play from the one keyboard there is; with several, say where to choose."""
        if len(inputs) == 1:
            self.choose("input", inputs[0])
            self.banner.show_message(f"Playing from your MIDI keyboard {client_of(inputs[0])!r}. Choose "
                                     "another under MIDI in.", "info", key="midi-input")
        elif len(inputs) > 1 and not self._offered:
            self._offered = True
            self.banner.show_message(f"{len(inputs)} MIDI inputs found: choose your keyboard under MIDI in.",
                                     "info", key="midi-input")

    def choose(self, kind: str, name: str | None) -> None:
        """The user (or the fresh-profile choice) picked a port: remembered and sent (no input:
        PerfJam's own virtual input port, ``bridge.set_midi_input``)."""
        self.choice[kind] = name
        if kind == "input":
            self.settings.midi_input = name
        else:
            self.settings.midi_output = name
        if self.midi_up:  # else sent when the MIDI system is there (``_returned``)
            self._send(kind)

    def _send(self, kind: str) -> None:
        if kind == "input":
            self.bridge.set_midi_input(self.choice["input"])
        else:
            self.bridge.set_midi_output(self.choice["output"])

    def send_all(self) -> None:
        """Tell a new engine (or one whose MIDI system returned) the ports this session plays with."""
        if self.midi_up:
            self._send("input")
            self._send("output")

    def news(self, s: Any) -> None:
        """A message when a chosen port goes away; replaced by another when it comes back."""
        ports = (("input", s.midi_in, s.midi_in_state), ("output", s.midi_out, s.midi_out_state))
        for kind, name, state in ports:
            before = self._states.get(kind)
            self._states[kind] = state
            if before is None or before == state or not name or self.watcher.system == "stopped":
                continue
            if state == "disconnected":
                self.banner.show_message(f"MIDI {kind} {name!r} went away; it will reconnect when it comes "
                                         "back.", "warning", key=f"midi-{kind}")
            elif state == "connected" and before == "disconnected":
                self.banner.show_message(f"MIDI {kind} {name!r} is back.", "info", key=f"midi-{kind}")
