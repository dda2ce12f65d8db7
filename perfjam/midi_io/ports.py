"""MIDI ports: ``MidiInput`` (polled, or delivering to a queue) and ``MidiOutput``, with hot-plug."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, Literal, Self

import rtmidi

from perfjam.codec.pedal import SUSTAIN_CC as CC_SUSTAIN
from perfjam.midi_io import jack_log
from perfjam.midi_io.apis import MidiPortError, create_client, find_port, port_key
from perfjam.midi_io.arrival import ArrivalClock
from perfjam.midi_io.doubles import DoubledNoteOns
from perfjam.midi_io.kinds import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, well_formed

IGNORABLE_TYPES = ("sysex", "timing", "active_sense")
_IGNORABLE_STATUS = {"sysex": (0xF0, 0xF7), "timing": (0xF1, 0xF8), "active_sense": (0xFE,)}
CHANNELS = 16
CLOSE_SETTLE_S = 0.02  # see MidiOutput.close
CC_ALL_SOUND_OFF, CC_ALL_NOTES_OFF = 120, 123
DEFAULT_QUEUE_SIZE = 4096  # messages rtmidi keeps for a polled input (1.4 s of a dense performance x10)

PortState = Literal["connected", "disconnected", "closed"]
TimedMessage = tuple[float, tuple[int, ...]]


class _Port:
    """Shared by MidiInput and MidiOutput: opening, hot-plug and closing."""

    _rt_class: ClassVar[Callable[..., Any]]
    _kind: ClassVar[str]

    def __init__(self, port: str | int, api: str | None, virtual: bool, client_name: str, port_label: str):
        self.api, self._rt = create_client(self._rt_class, api, client_name, **self._client_options())
        self._losses = jack_log.server_losses() if self.api == "jack" else None  # see _server_lost
        self.virtual = virtual
        self._port_label = port_label
        self._state: PortState = "disconnected"
        self._ports_seen = -1  # how many ports the last listing found (see check)
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

    def _client_options(self) -> dict[str, Any]:
        return {}

    def _prepare(self) -> None:
        """Set-up before (re)opening the rtmidi port."""

    def _on_disconnect(self) -> None:
        """Clean-up after the port went away."""

    def _server_lost(self) -> bool:
        """Its JACK server went away: the client is never touched again (``jack_log.keep_forever``)."""
        return self._losses is not None and jack_log.server_losses() != self._losses

    @property
    def server_gone(self) -> bool:
        """Its JACK server stopped: this port never works again; open a new one once it is back."""
        return self._server_lost()

    def _lose_server(self) -> bool:
        if self._state != "connected":
            return False
        self._state = "disconnected"  # for good: only a new port (a new client) reconnects
        self._on_disconnect()
        return True

    def _open(self, index: int) -> None:
        self._rt.close_port()
        self._prepare()
        try:
            self._rt.open_port(index, self._port_label)
        except rtmidi.RtMidiError as exc:
            raise MidiPortError(f"cannot open MIDI {self._kind} {self.name!r}: {exc}") from exc
        self._state = "connected"

    def check(self, quick: bool = False) -> bool:
        """Hot-plug: notice that the port went away (-> "disconnected") or came back under the same
        name (reopened -> "connected"); True when the state changed. One port listing on this
        port's own client (no new client). ``quick``, while disconnected: only when the number of
        ports changed since the last listing (one cheaper query), for frequent checks; a full
        check now and then catches a port that was replaced by another between two checks.
        Virtual ports never go away. A port that vanishes and returns between two checks is missed.
        A port whose JACK server stopped stays "disconnected": open a new one once it is back."""
        if self._state == "closed":
            return False
        if self._server_lost():
            return self._lose_server()
        if self.virtual:
            return False
        try:
            if quick and self._state == "disconnected" and self._rt.get_port_count() == self._ports_seen:
                return False
            ports = list(self._rt.get_ports())
        except rtmidi.RtMidiError:
            ports = []
        self._ports_seen = len(ports)
        if self._state == "connected":
            if self.name in ports:
                return False
            self._state = "disconnected"
            self._rt.close_port()
            self._on_disconnect()
            return True
        same = [i for i, p in enumerate(ports) if port_key(p) == port_key(self.name)]
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
        if self._server_lost():
            jack_log.keep_forever(self._rt)  # closing it may crash (see jack_log.keep_forever)
            return
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
    """Reads a port (or a virtual port other programs send to).

    Polled (no ``inbox``, what the engine uses): messages wait in rtmidi's own C++ queue
    (``queue_size`` of them) until ``poll()`` / ``iter_pending()`` take them as
    ``(time_s, message)``: ``time_s`` is the arrival (perf_counter seconds) rebuilt from the
    MIDI system's own clock (``ArrivalClock``; ``stamp_error_s`` bounds its error), ``message``
    a tuple of ints. No Python runs on the MIDI system's thread (JACK's process thread), so a
    busy interpreter never makes this client miss a JACK cycle: only the reading waits. A note-on
    the MIDI system delivered twice (``DoubledNoteOns``) is dropped; ``doubled_note_ons`` counts them.
    A message that is not well formed (a data byte over 127, a wrong length: a faulty interface or
    program) is dropped too; ``malformed`` counts them.

    With an ``inbox``: rtmidi runs a Python callback on the MIDI system's thread that stamps
    ``perf_counter()`` and puts ``(time_s, message)`` (``(tag, time_s, message)`` with a tag)
    there. That thread then waits for the GIL: on a JACK server without --sync and realtime
    scheduling a busy process makes the client late and messages are lost or doubled. For tools
    and tests on a --sync server; never for the live input."""

    _rt_class = rtmidi.MidiIn
    _kind = "input"

    def __init__(
        self,
        port: str | int,
        inbox: queue.SimpleQueue | None = None,
        *,
        api: str | None = None,
        virtual: bool = False,
        client_name: str = "perfjam",
        port_label: str = "in",
        ignore_types: Iterable[str] = IGNORABLE_TYPES,
        tag: str | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self._ignore = frozenset(ignore_types)
        if unknown := self._ignore - set(IGNORABLE_TYPES):
            raise ValueError(f"ignore_types can hold {IGNORABLE_TYPES}, not {sorted(unknown)}")
        self._ignored_status = frozenset(s for t in self._ignore for s in _IGNORABLE_STATUS[t])
        self.inbox = inbox
        self._callback = _enqueuer(inbox, tag) if inbox is not None else None
        self._queue_size = queue_size
        self._clock = ArrivalClock()
        self._doubles = DoubledNoteOns()
        self._empty_s = time.perf_counter()  # when the last poll that found nothing began
        self.malformed = 0  # messages dropped by ``poll`` as not well formed (midi_io.kinds.well_formed)
        super().__init__(port, api, virtual, client_name, port_label)

    def _client_options(self) -> dict[str, Any]:
        return {"queue_size_limit": self._queue_size}

    def _prepare(self) -> None:
        if self._callback is not None:
            # close_port() drops the callback: set it again before every (re)open.
            self._rt.ignore_types(**{t: t in self._ignore for t in IGNORABLE_TYPES})
            self._rt.set_callback(self._callback)
            return
        # Polled: rtmidi drops an ignored message's delta time, so everything comes through
        # and ignored types are left out here.
        self._rt.ignore_types(sysex=False, timing=False, active_sense=False)
        self._clock.reset()
        self._doubles.reset()
        self._empty_s = time.perf_counter()

    @property
    def stamp_error_s(self) -> float:
        """The most the last stamp given by ``poll`` can be off (inf before the first)."""
        return self._clock.error_s

    @property
    def doubled_note_ons(self) -> int:
        """Note-ons dropped as delivered twice (polled inputs; see ``DoubledNoteOns``)."""
        return self._doubles.dropped

    def poll(self) -> TimedMessage | None:
        """The next waiting message as ``(time_s, message)``, or None. Polled inputs only."""
        if self._callback is not None:
            raise RuntimeError("this MidiInput delivers to its inbox; it cannot be polled")
        if self._state == "closed":
            return None
        get, now, stamp = self._rt.get_message, time.perf_counter, self._clock.stamp
        ignored, is_double = self._ignored_status, self._doubles.is_double
        while True:
            start_s = now()
            item = get()
            if item is None:
                self._empty_s = start_s
                return None
            message, delta_s = item
            time_s = stamp(delta_s, self._empty_s, now())
            if not message or message[0] in ignored:
                continue
            if not well_formed(message):  # a data byte over 127, a wrong length: never played
                self.malformed += 1
                continue
            if not is_double(time_s, message):
                return time_s, tuple(message)

    def iter_pending(self) -> Iterator[TimedMessage]:
        """Every message waiting now, oldest first (as ``poll``)."""
        while (item := self.poll()) is not None:
            yield item


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
        self._played_on: set[int] = set()  # channels it ever sent a note-on on
        self._last_send_s = -1.0
        super().__init__(port, api, virtual, client_name, port_label)

    def _on_disconnect(self) -> None:
        self._sounding.clear()  # whatever comes back under this name starts silent

    def send(self, message: Sequence[int]) -> bool:
        """Send raw bytes; False if dropped (not connected)."""
        if self._state != "connected" or not message:
            return False
        if self._losses is not None and self._server_lost():
            self._lose_server()
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
        if len(message) == 3 and kind in (NOTE_OFF, NOTE_ON) and message[1] < 0x80:
            if kind == NOTE_ON and message[2] > 0:
                self._sounding.add((channel, message[1]))
                self._played_on.add(channel)
            else:
                self._sounding.discard((channel, message[1]))
        elif len(message) >= 2 and kind == CONTROL_CHANGE and message[1] in (CC_ALL_NOTES_OFF,
                                                                               CC_ALL_SOUND_OFF):
            self._sounding -= {n for n in self._sounding if n[0] == channel}
        return True

    def note_on(self, channel: int, pitch: int, velocity: int) -> bool:
        return self.send((NOTE_ON | _channel(channel), _7bit(pitch), _7bit(velocity)))

    def note_off(self, channel: int, pitch: int, velocity: int = 0) -> bool:
        return self.send((NOTE_OFF | _channel(channel), _7bit(pitch), _7bit(velocity)))

    def control_change(self, channel: int, control: int, value: int) -> bool:
        return self.send((CONTROL_CHANGE | _channel(channel), _7bit(control), _7bit(value)))

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
        """Releases the notes still on and says All Notes Off once more on every channel it played
        on (a reader that missed the JACK cycle of an earlier panic, as a late client on a server
        without --sync can, gets this one), then closes the port."""
        if self._state == "connected":
            for channel, pitch in sorted(self._sounding):
                self.note_off(channel, pitch)
            for channel in sorted(self._played_on):
                self.control_change(channel, CC_ALL_NOTES_OFF, 0)
        # python-rtmidi holds the GIL while it closes a JACK client, and a JACK MIDI input of this
        # process with a Python callback needs the GIL to deliver what was just sent: let that
        # arrive first, or the JACK graph stalls until the server's client timeout (0.5 s).
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
