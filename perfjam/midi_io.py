"""MIDI ports through python-rtmidi: list, open by name / substring / index, virtual ports, the MIDI
API by name (alsa / jack / ...), and hot-plug. The only module that imports ``rtmidi``.

``MidiInput``'s rtmidi callback only stamps ``time.perf_counter()`` and puts ``(time_s, message)``
(``message`` a tuple of ints) on the owner's ``queue.SimpleQueue``. ``check()``, called now and then
by the owner (e.g. every 0.5 s), notices a port that went away and reopens it when it returns.
Also the ``perfjam ports`` subcommand (``add_arguments`` / ``run``).
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Literal, Self

import rtmidi

ENV_API = "PERFJAM_MIDI_API"
API_NAMES: dict[str, int] = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
_API_HINTS = {
    "alsa": "is there an ALSA sequencer (/dev/snd/seq, module snd-seq)? Or use the JACK API "
    f"({ENV_API}=jack) with a running JACK server",
    "jack": "is a JACK server running (and JACK_DEFAULT_SERVER set to its name if it has one)?",
}
IGNORABLE_TYPES = ("sysex", "timing", "active_sense")
CHANNELS = 16
CLOSE_SETTLE_S = 0.02  # see MidiOutput.close
CC_SUSTAIN, CC_ALL_SOUND_OFF, CC_ALL_NOTES_OFF = 64, 120, 123

PortState = Literal["connected", "disconnected", "closed"]
_ALSA_ADDRESS = re.compile(r"\s+\d+:\d+$")  # "Piano:Piano MIDI 1 20:0": the client:port numbers


class MidiError(RuntimeError):
    """A MIDI API that cannot be used."""


class MidiPortError(MidiError):
    """A port that cannot be found or opened."""


# --- APIs -----------------------------------------------------------------------------------------
def default_api() -> str:
    """The API name from $PERFJAM_MIDI_API, else "auto" (ALSA on Linux, JACK when ALSA fails)."""
    return os.environ.get(ENV_API, "").strip().lower() or "auto"


def _api_name(api_id: int) -> str:
    return next((name for name, value in API_NAMES.items() if value == api_id), rtmidi.get_api_name(api_id))


def _create_with(cls: Callable[..., Any], api: str, client_name: str) -> Any:
    if api not in API_NAMES:
        raise MidiError(f"unknown MIDI API {api!r}; choose one of: auto, {', '.join(API_NAMES)}")
    if API_NAMES[api] not in rtmidi.get_compiled_api():
        compiled = ", ".join(_api_name(a) for a in rtmidi.get_compiled_api())
        raise MidiError(f"MIDI API {api!r} is not built into python-rtmidi here (it has: {compiled})")
    try:
        return cls(API_NAMES[api], name=client_name)
    except rtmidi.RtMidiError as exc:  # e.g. rtmidi.SystemError: no ALSA sequencer / no JACK server
        hint = _API_HINTS.get(api, "")
        raise MidiError(f"cannot open the {api} MIDI API: {exc}" + (f" ({hint})" if hint else "")) from exc


def _create(cls: Callable[..., Any], api: str | None, client_name: str) -> tuple[str, Any]:
    """(API name, rtmidi.MidiIn / MidiOut). "auto" on Linux tries ALSA, then JACK: rtmidi raises
    instead of falling back when there is no ALSA sequencer."""
    name = (api or default_api()).strip().lower()
    if name != "auto":
        return name, _create_with(cls, name, client_name)
    if not sys.platform.startswith("linux"):
        try:
            rt = cls(rtmidi.API_UNSPECIFIED, name=client_name)
        except rtmidi.RtMidiError as exc:
            raise MidiError(f"cannot open a MIDI API: {exc}") from exc
        return _api_name(rt.get_current_api()), rt
    candidates = ("alsa", "jack") if os.path.exists("/dev/snd/seq") else ("jack",)
    errors = []
    for candidate in candidates:
        try:
            return candidate, _create_with(cls, candidate, client_name)
        except MidiError as exc:
            errors.append(str(exc))
    if candidates == ("jack",):
        errors.insert(0, "no ALSA sequencer (/dev/snd/seq is missing)")
    raise MidiError("no MIDI API could be opened: " + "; ".join(errors))


def available_apis() -> list[str]:
    """Names of the APIs that can be opened now (JACK only while a server runs)."""
    names = []
    for name, api_id in API_NAMES.items():
        if api_id not in rtmidi.get_compiled_api() or (name == "alsa" and not os.path.exists("/dev/snd/seq")):
            continue
        try:
            _create_with(rtmidi.MidiOut, name, "perfjam-probe").delete()
            names.append(name)
        except MidiError:
            pass
    return names


# --- listing and finding ports ----------------------------------------------------------------------
def _list_with(cls: Callable[..., Any], api: str | None) -> list[str]:
    _, rt = _create(cls, api, "perfjam-list")
    try:
        return list(rt.get_ports())
    finally:
        rt.delete()


def list_input_ports(api: str | None = None) -> list[str]:
    """Ports PerfJam can read from (other programs' and devices' outputs)."""
    return _list_with(rtmidi.MidiIn, api)


def list_output_ports(api: str | None = None) -> list[str]:
    """Ports PerfJam can send to."""
    return _list_with(rtmidi.MidiOut, api)


def list_ports(api: str | None = None) -> tuple[list[str], list[str]]:
    """(inputs, outputs)."""
    return list_input_ports(api), list_output_ports(api)


def _port_key(name: str) -> str:
    """A port's name without ALSA's client:port numbers, which change when a device is replugged."""
    return _ALSA_ADDRESS.sub("", name)


def find_port(ports: Sequence[str], query: str | int, kind: str = "port") -> int:
    """Index of ``query`` in ``ports``: an index, an exact name, the same name with other ALSA
    numbers, or a case-insensitive substring matching exactly one port. MidiPortError otherwise."""
    available = "; ".join(f"{i}: {p}" for i, p in enumerate(ports)) or "none"
    if isinstance(query, int) and not isinstance(query, bool):
        if 0 <= query < len(ports):
            return query
        raise MidiPortError(f"no MIDI {kind} number {query}; available: {available}")
    if query in ports:
        return ports.index(query)
    same = [i for i, p in enumerate(ports) if _port_key(p) == _port_key(query)]
    if same:
        return same[0]
    matches = [i for i, p in enumerate(ports) if query.casefold() in p.casefold()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = "; ".join(ports[i] for i in matches)
        raise MidiPortError(f"MIDI {kind} name {query!r} is ambiguous, it matches: {names}")
    raise MidiPortError(f"no MIDI {kind} named {query!r}; available: {available}")


# --- ports --------------------------------------------------------------------------------------------
class _Port:
    """Shared by MidiInput and MidiOutput: opening, hot-plug and closing."""

    _rt_class: ClassVar[Callable[..., Any]]
    _kind: ClassVar[str]

    def __init__(self, port: str | int, api: str | None, virtual: bool, client_name: str, port_label: str):
        self.api, self._rt = _create(self._rt_class, api, client_name)
        self.virtual = virtual
        self._port_label = port_label
        self._state: PortState = "disconnected"
        try:
            if virtual:
                if not isinstance(port, str) or not port:
                    raise MidiPortError(f"a virtual MIDI {self._kind} needs a name")
                self.name = port
                self._prepare()
                try:
                    self._rt.open_virtual_port(port)
                except (rtmidi.RtMidiError, NotImplementedError) as exc:
                    raise MidiPortError(f"cannot create virtual MIDI {self._kind} {port!r}: {exc}") from exc
                self._state = "connected"
            else:
                ports = list(self._rt.get_ports())
                index = find_port(ports, port, self._kind)
                self.name = ports[index]
                self._open(index)
        except BaseException:
            self._rt.delete()
            raise

    @property
    def state(self) -> PortState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state == "connected"

    def _prepare(self) -> None:
        """Set-up before (re)opening the rtmidi port."""

    def _on_disconnect(self) -> None:
        """Clean-up after the port went away."""

    def _open(self, index: int) -> None:
        self._rt.close_port()
        self._prepare()
        try:
            self._rt.open_port(index, self._port_label)
        except rtmidi.RtMidiError as exc:
            raise MidiPortError(f"cannot open MIDI {self._kind} {self.name!r}: {exc}") from exc
        self._state = "connected"

    def check(self) -> bool:
        """Hot-plug: notice that the port went away (-> "disconnected") or came back under the same
        name (reopened -> "connected"). Cheap (one port listing); True when the state changed.
        Virtual ports never go away. A port that vanishes and returns between two checks is missed."""
        if self._state == "closed" or self.virtual:
            return False
        try:
            ports = list(self._rt.get_ports())
        except rtmidi.RtMidiError:
            ports = []
        if self._state == "connected":
            if self.name in ports:
                return False
            self._state = "disconnected"
            self._rt.close_port()
            self._on_disconnect()
            return True
        same = [i for i, p in enumerate(ports) if _port_key(p) == _port_key(self.name)]
        if not same:
            return False
        try:
            self.name = ports[same[0]]
            self._open(same[0])
        except MidiPortError:
            return False
        return True

    def close(self) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self._rt.close_port()
        self._rt.delete()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, api={self.api!r}, state={self._state!r})"


def _enqueuer(inbox: queue.SimpleQueue, tag: str | None) -> Callable[[tuple[list[int], float], object], None]:
    """The rtmidi callback: a timestamp and one put (the time is taken before the tuple is built)."""
    put, now = inbox.put, time.perf_counter
    if tag is None:
        return lambda event, _data=None: put((now(), tuple(event[0])))
    return lambda event, _data=None: put((tag, now(), tuple(event[0])))


class MidiInput(_Port):
    """Reads a port (or a virtual port other programs send to) into ``inbox`` as
    ``(time_s, message)``, or ``(tag, time_s, message)`` when a tag is given."""

    _rt_class = rtmidi.MidiIn
    _kind = "input"

    def __init__(
        self,
        port: str | int,
        inbox: queue.SimpleQueue,
        *,
        api: str | None = None,
        virtual: bool = False,
        client_name: str = "perfjam",
        port_label: str = "in",
        ignore_types: Iterable[str] = IGNORABLE_TYPES,
        tag: str | None = None,
    ) -> None:
        self._ignore = frozenset(ignore_types)
        if unknown := self._ignore - set(IGNORABLE_TYPES):
            raise ValueError(f"ignore_types can hold {IGNORABLE_TYPES}, not {sorted(unknown)}")
        self._callback = _enqueuer(inbox, tag)
        super().__init__(port, api, virtual, client_name, port_label)

    def _prepare(self) -> None:
        # close_port() drops the callback: set it again before every (re)open.
        self._rt.ignore_types(**{t: t in self._ignore for t in IGNORABLE_TYPES})
        self._rt.set_callback(self._callback)


class MidiOutput(_Port):
    """Sends to a port (or a virtual port). Sending never raises for a port that went away: the
    message is dropped and ``state`` becomes "disconnected". Tracks the notes it left on."""

    _rt_class = rtmidi.MidiOut
    _kind = "output"

    def __init__(
        self,
        port: str | int,
        *,
        api: str | None = None,
        virtual: bool = False,
        client_name: str = "perfjam",
        port_label: str = "out",
    ) -> None:
        self._sounding: set[tuple[int, int]] = set()
        self._last_send_s = -1.0
        super().__init__(port, api, virtual, client_name, port_label)

    def _on_disconnect(self) -> None:
        self._sounding.clear()  # whatever comes back under this name starts silent

    def send(self, message: Sequence[int]) -> bool:
        """Send raw bytes; False if dropped (not connected)."""
        if self._state != "connected" or not message:
            return False
        try:
            self._rt.send_message(message)
        except (rtmidi.RtMidiError, OSError):
            self._state = "disconnected"
            self._rt.close_port()
            self._on_disconnect()
            return False
        self._last_send_s = time.perf_counter()
        kind, channel = message[0] & 0xF0, message[0] & 0x0F
        if len(message) >= 3 and kind in (0x80, 0x90):
            if kind == 0x90 and message[2] > 0:
                self._sounding.add((channel, message[1]))
            else:
                self._sounding.discard((channel, message[1]))
        elif len(message) >= 2 and kind == 0xB0 and message[1] in (CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF):
            self._sounding -= {n for n in self._sounding if n[0] == channel}
        return True

    def note_on(self, channel: int, pitch: int, velocity: int) -> bool:
        return self.send((0x90 | _channel(channel), _7bit(pitch), _7bit(velocity)))

    def note_off(self, channel: int, pitch: int, velocity: int = 0) -> bool:
        return self.send((0x80 | _channel(channel), _7bit(pitch), _7bit(velocity)))

    def control_change(self, channel: int, control: int, value: int) -> bool:
        return self.send((0xB0 | _channel(channel), _7bit(control), _7bit(value)))

    def sounding_notes(self) -> set[tuple[int, int]]:
        """(channel, pitch) of notes sent on and not yet off."""
        return set(self._sounding)

    def panic(self) -> None:
        """A note-off for every note still on, then on all 16 channels: sustain pedal up (CC64 0),
        All Notes Off (CC123) and All Sound Off (CC120)."""
        for channel, pitch in sorted(self._sounding):
            self.note_off(channel, pitch)
        for channel in range(CHANNELS):
            for control in (CC_SUSTAIN, CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF):
                self.control_change(channel, control, 0)
        self._sounding.clear()

    def close(self) -> None:
        """Releases the notes still on, then closes the port."""
        if self._state == "connected":
            for channel, pitch in sorted(self._sounding):
                self.note_off(channel, pitch)
        # python-rtmidi holds the GIL while it closes a JACK client, and a JACK MIDI input of this
        # process needs the GIL to deliver what was just sent: let that arrive first, or the JACK
        # graph stalls until the server's client timeout (0.5 s).
        time.sleep(max(0.0, self._last_send_s + CLOSE_SETTLE_S - time.perf_counter()))
        super().close()


def _channel(channel: int) -> int:
    if not 0 <= channel < CHANNELS:
        raise ValueError(f"MIDI channel must be 0..15, got {channel}")
    return channel


def _7bit(value: int) -> int:
    if not 0 <= value <= 127:
        raise ValueError(f"MIDI data byte must be 0..127, got {value}")
    return value


# --- `perfjam ports` ------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--midi-api",
        default=None,
        choices=["auto", *API_NAMES],
        help=f"MIDI API (default: ${ENV_API}, else auto: ALSA on Linux, JACK when ALSA fails)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        rt_api, rt = _create(rtmidi.MidiIn, args.midi_api, "perfjam-list")
        rt.delete()
        inputs, outputs = list_ports(rt_api)
    except MidiError as exc:
        print(f"perfjam ports: {exc}", file=sys.stderr)
        return 1
    print(f"MIDI API: {rt_api}")
    for title, ports in (("Inputs", inputs), ("Outputs", outputs)):
        print(f"{title}:")
        for index, name in enumerate(ports):
            print(f"  {index}: {name}")
        if not ports:
            print("  (none)")
    return 0
