"""Test helpers: the real window on a JACK server (the app as ``perfjam`` builds it; no audio
unless asked)."""

from __future__ import annotations

import argparse

import pytest

from perfjam.gui import app as gui_app
from perfjam.gui.ports import PersistentLister
from perfjam.gui.settings import Settings
from perfjam.gui.window import Services

WAIT_MS = 8000


def jack_window(qtbot, tmp_path, settings: Settings, model: str, *extra: str, audio_name: str | None = None):
    """A shown window with ``model`` on the JACK MIDI API, polling ports every 150 ms; with
    ``audio_name``, its synth plays through JACK as that client (else no audio)."""
    parser = argparse.ArgumentParser()
    gui_app.add_arguments(parser)
    audio = ["--audio-driver", "jack", "--jack-name", audio_name] if audio_name else ["--no-audio"]
    args = parser.parse_args([*audio, "--midi-api", "jack", "--model", model, "--recordings",
                              str(tmp_path), *extra])
    services = Services(list_ports=PersistentLister("jack"), recordings_dir=tmp_path, port_poll_ms=150)
    window = gui_app.create_window(args, settings, services)
    qtbot.addWidget(window)
    window.show()
    return window


def wait_status(qtbot, window, predicate, timeout: int = WAIT_MS) -> None:
    """Until the window's last StatusReport satisfies ``predicate`` (else fail, saying what it was)."""
    try:
        qtbot.waitUntil(lambda: window.last_status is not None and predicate(window.last_status),
                        timeout=timeout)
    except qtbot.TimeoutError:
        pytest.fail(f"status never matched; last: {window.last_status}; messages: {window.banner.history}")


def heard(qtbot, window, keys, pitch: int) -> bool:
    """A note from ``keys`` (a MidiOutput) shows in the roll; played again, up to 8 times, if a
    loaded machine drops it while JACK is still connecting the ports."""
    for _ in range(8):
        keys.note_on(0, pitch, 90)
        try:
            qtbot.waitUntil(lambda: ("human", pitch) in window.roll.active(), timeout=1000)
        except qtbot.TimeoutError:
            keys.note_off(0, pitch)
            continue
        keys.note_off(0, pitch)
        return True
    return False
