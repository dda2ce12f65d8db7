"""MIDI ports through python-rtmidi: list, open by name / substring / index, virtual ports, the MIDI
API by name (alsa / jack / ...), and hot-plug. The only package that imports ``rtmidi``.

``apis``: choosing the API, MIDI clients, ``PortLister`` (listing on kept clients), ``find_port``.
``ports``: ``MidiInput`` (polled: rtmidi's own queue, read with ``poll()`` / ``iter_pending()``
as ``(time_s, message)``, the arrival rebuilt by ``arrival.ArrivalClock``; or, for tools and
tests, a Python callback putting onto a queue) and ``MidiOutput``. ``check()``, called now and
then by the owner, notices a port that went away and reopens it when it returns.
``doubles``: a note-on the MIDI system delivered twice, dropped by ``MidiInput``. ``kinds``: the
status bytes of channel messages (NOTE_ON, ...).
``jack_log``: JACK's library messages kept instead of printed, and a JACK server that stopped
(its clients are then never touched again: closing one could crash the process).
Also the ``perfjam ports`` subcommand (``add_arguments`` / ``run``).
"""

from __future__ import annotations

import argparse
import sys

from perfjam.midi_io.apis import (
    API_NAMES,
    ENV_API,
    MidiError,
    MidiPortError,
    PortLister,
    available_apis,
    default_api,
    find_port,
    list_input_ports,
    list_output_ports,
    list_ports,
)
from perfjam.midi_io.ports import (
    CC_ALL_NOTES_OFF,
    CC_ALL_SOUND_OFF,
    CC_SUSTAIN,
    CHANNELS,
    IGNORABLE_TYPES,
    MidiInput,
    MidiOutput,
    PortState,
    TimedMessage,
)

__all__ = [
    "API_NAMES", "CC_ALL_NOTES_OFF", "CC_ALL_SOUND_OFF", "CC_SUSTAIN", "CHANNELS", "ENV_API",
    "IGNORABLE_TYPES", "MidiError", "MidiInput", "MidiOutput", "MidiPortError", "PortLister", "PortState",
    "TimedMessage", "add_arguments", "available_apis", "default_api", "find_port", "list_input_ports",
    "list_output_ports", "list_ports", "run",
]


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
        with PortLister(args.midi_api, "perfjam-list") as lister:
            inputs, outputs = lister()
            rt_api = lister.api
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
