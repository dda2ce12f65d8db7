"""Which FluidSynth audio drivers to try, in which order, and the synth's JACK client name: one
choice for the window (``perfjam``) and ``perfjam jam`` (``add_audio_arguments`` /
``audio_settings``). No heavy imports: the command line is parsed before FluidSynth loads.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

# Drivers built into FluidSynth 2.3 on Linux: alsa, file, jack, oss, pulseaudio, sdl2 (PipeWire
# serves through its pulseaudio and jack interfaces); on macOS coreaudio, on Windows wasapi, dsound
# and waveout (tested on Linux only). "file" is never tried: it writes a WAV file.
AUDIO_DRIVERS_BY_PLATFORM = {
    "linux": ("pulseaudio", "jack", "alsa", "sdl2"),
    "darwin": ("coreaudio", "jack", "sdl2"),
    "win32": ("wasapi", "dsound", "waveout", "sdl2"),
}
DEFAULT_AUDIO_DRIVERS = AUDIO_DRIVERS_BY_PLATFORM.get(sys.platform, AUDIO_DRIVERS_BY_PLATFORM["linux"])
ENV_AUDIO_DRIVERS = "PERFJAM_AUDIO_DRIVERS"  # e.g. "jack,alsa": the order to try instead
DEFAULT_JACK_NAME = "perfjam"  # the synth's JACK client: ports NAME:left / NAME:right
NO_AUDIO = "none"  # a choice of driver: play silently (MIDI out only)
AUDIO_LOST = "audio lost"  # a synth's status while its driver's server is away: "audio lost: jack"


def audio_drivers(requested: Sequence[str] | None = None, no_audio: bool = False) -> tuple[str, ...]:
    """The drivers to try, in order: none with ``no_audio``; else the requested ones; else
    $PERFJAM_AUDIO_DRIVERS (comma-separated); else ``DEFAULT_AUDIO_DRIVERS``."""
    if no_audio:
        return ()
    if requested:
        return tuple(name.strip().lower() for name in requested if name.strip())
    from_env = os.environ.get(ENV_AUDIO_DRIVERS, "")
    return tuple(n.strip().lower() for n in from_env.split(",") if n.strip()) or DEFAULT_AUDIO_DRIVERS


def preferred_first(name: str | None) -> tuple[str, ...]:
    """The drivers to try with ``name`` first (then the others of ``DEFAULT_AUDIO_DRIVERS``);
    ``NO_AUDIO`` ("none"): none; None: the usual order."""
    if name is None:
        return DEFAULT_AUDIO_DRIVERS
    if name == NO_AUDIO:
        return ()
    return (name, *(d for d in DEFAULT_AUDIO_DRIVERS if d != name))


def add_audio_arguments(parser: argparse.ArgumentParser) -> None:
    """``--audio-driver NAME`` (repeatable), ``--jack-name NAME``, ``--no-audio``."""
    parser.add_argument("--audio-driver", action="append", metavar="NAME",
                        help="FluidSynth audio driver to try (repeatable, in order; default: "
                        f"${ENV_AUDIO_DRIVERS}, else {', '.join(DEFAULT_AUDIO_DRIVERS)})")
    parser.add_argument("--jack-name", default=DEFAULT_JACK_NAME, metavar="NAME",
                        help=f"the synth's JACK client name: ports NAME:left, NAME:right "
                        f"(default {DEFAULT_JACK_NAME})")
    parser.add_argument("--no-audio", action="store_true", help="no audio output (MIDI out only)")


def audio_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``SynthConfig`` keywords from those arguments: ``audio_drivers`` and ``client_name``."""
    return {
        "audio_drivers": audio_drivers(getattr(args, "audio_driver", None), getattr(args, "no_audio", False)),
        "client_name": getattr(args, "jack_name", None) or DEFAULT_JACK_NAME,
    }
