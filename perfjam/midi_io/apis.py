"""MIDI APIs (alsa / jack / ...), MIDI clients, and listing and finding ports."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Self

import rtmidi

from perfjam.midi_io import jack_log

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
_ALSA_ADDRESS = re.compile(r"\s+\d+:\d+$")  # "Piano:Piano MIDI 1 20:0": the client:port numbers
SERVER_STOPPED = "the JACK server stopped"  # a kept client's server went away (jack_log.server_losses)


class MidiError(RuntimeError):
    """A MIDI API that cannot be used."""


class MidiPortError(MidiError):
    """A port that cannot be found or opened."""


def default_api() -> str:
    """The API name from $PERFJAM_MIDI_API, else "auto" (ALSA on Linux, JACK when ALSA fails)."""
    return os.environ.get(ENV_API, "").strip().lower() or "auto"


def auto_candidates() -> tuple[str, ...]:
    """What "auto" tries on Linux, in order: ALSA (when there is a sequencer), then JACK."""
    return ("alsa", "jack") if os.path.exists("/dev/snd/seq") else ("jack",)


def api_report() -> str:
    """python-rtmidi's version, the MIDI APIs built into it and the one PerfJam asks for (for bug
    reports: ``perfjam --version``). Opens no client."""
    compiled = ", ".join(_api_name(a) for a in rtmidi.get_compiled_api())
    choice = default_api()
    if choice == "auto" and sys.platform.startswith("linux"):
        choice = f"auto, tries {' then '.join(auto_candidates())}"
    version = f"python-rtmidi {rtmidi.__version__} (RtMidi {rtmidi.get_rtmidi_version()})"
    return f"{version}: APIs {compiled}; uses {choice}"


def _api_name(api_id: int) -> str:
    return next((name for name, value in API_NAMES.items() if value == api_id), rtmidi.get_api_name(api_id))


def _create_with(cls: Callable[..., Any], api: str, client_name: str, **options: Any) -> Any:
    if api not in API_NAMES:
        raise MidiError(f"unknown MIDI API {api!r}; choose one of: auto, {', '.join(API_NAMES)}")
    if API_NAMES[api] not in rtmidi.get_compiled_api():
        compiled = ", ".join(_api_name(a) for a in rtmidi.get_compiled_api())
        raise MidiError(f"MIDI API {api!r} is not built into python-rtmidi here (it has: {compiled})")
    try:
        return cls(API_NAMES[api], name=client_name, **options)
    except rtmidi.RtMidiError as exc:  # e.g. rtmidi.SystemError: no ALSA sequencer / no JACK server
        hint = _API_HINTS.get(api, "")
        raise MidiError(f"cannot open the {api} MIDI API: {exc}" + (f" ({hint})" if hint else "")) from exc


def create_client(cls: Callable[..., Any], api: str | None, client_name: str,
                  **options: Any) -> tuple[str, Any]:
    """(API name, rtmidi.MidiIn / MidiOut). "auto" on Linux tries ALSA, then JACK: rtmidi raises
    instead of falling back when there is no ALSA sequencer. Holds the GIL while it opens the
    client (40-160 ms under JACK on a loaded machine). JACK's own messages are kept, not printed
    (``jack_log``)."""
    jack_log.install()
    name = (api or default_api()).strip().lower()
    if name != "auto":
        return name, _create_with(cls, name, client_name, **options)
    if not sys.platform.startswith("linux"):
        try:
            rt = cls(rtmidi.API_UNSPECIFIED, name=client_name, **options)
        except rtmidi.RtMidiError as exc:
            raise MidiError(f"cannot open a MIDI API: {exc}") from exc
        return _api_name(rt.get_current_api()), rt
    candidates = auto_candidates()
    errors = []
    for candidate in candidates:
        try:
            return candidate, _create_with(cls, candidate, client_name, **options)
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
class PortLister:
    """Lists ports through MIDI clients it keeps open (one for inputs, one for outputs, each opened
    at its first listing): creating a client holds the GIL for tens of milliseconds under JACK,
    listing on a kept one takes well under one. MidiError if the API cannot be opened; listing
    raises once the MIDI system went away (then ``close()`` and make a new one)."""

    def __init__(self, api: str | None = None, client_name: str = "perfjam-ports") -> None:
        self._api_wanted, self._client_name = api, client_name
        self.api: str | None = None  # the API actually opened, after the first listing
        self._clients: dict[type, Any] = {}
        self._losses = jack_log.server_losses()

    @property
    def server_lost(self) -> bool:
        """Its JACK server went away since its clients were opened (they list stale ports)."""
        return self.api == "jack" and bool(self._clients) and jack_log.server_losses() != self._losses

    def _client(self, cls: type) -> Any:
        if self.server_lost:
            raise MidiError(SERVER_STOPPED)
        rt = self._clients.get(cls)
        if rt is None:
            if not self._clients:
                self._losses = jack_log.server_losses()
            self.api, rt = create_client(cls, self.api or self._api_wanted, self._client_name)
            self._clients[cls] = rt
        return rt

    def inputs(self) -> list[str]:
        """Ports PerfJam can read from (other programs' and devices' outputs)."""
        return list(self._client(rtmidi.MidiIn).get_ports())

    def outputs(self) -> list[str]:
        """Ports PerfJam can send to."""
        return list(self._client(rtmidi.MidiOut).get_ports())

    def __call__(self) -> tuple[list[str], list[str]]:
        """(inputs, outputs)."""
        return self.inputs(), self.outputs()

    def close(self) -> None:
        lost = self.server_lost
        for rt in self._clients.values():
            if lost:
                jack_log.keep_forever(rt)  # closing it may crash (see jack_log.keep_forever)
            else:
                rt.delete()
        self._clients.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def list_input_ports(api: str | None = None) -> list[str]:
    """Ports PerfJam can read from, through a client opened for this one listing."""
    with PortLister(api, "perfjam-list") as lister:
        return lister.inputs()


def list_output_ports(api: str | None = None) -> list[str]:
    """Ports PerfJam can send to, through a client opened for this one listing."""
    with PortLister(api, "perfjam-list") as lister:
        return lister.outputs()


def list_ports(api: str | None = None) -> tuple[list[str], list[str]]:
    """(inputs, outputs)."""
    with PortLister(api, "perfjam-list") as lister:
        return lister()


def port_key(name: str) -> str:
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
    same = [i for i, p in enumerate(ports) if port_key(p) == port_key(query)]
    if same:
        return same[0]
    matches = [i for i, p in enumerate(ports) if query.casefold() in p.casefold()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = "; ".join(ports[i] for i in matches)
        raise MidiPortError(f"MIDI {kind} name {query!r} is ambiguous, it matches: {names}")
    raise MidiPortError(f"no MIDI {kind} named {query!r}; available: {available}")
