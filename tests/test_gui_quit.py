"""SIGTERM on the real ``perfjam`` window, even while it is still starting and the AI already
plays, closes it as its close button does: exit 0 and nothing left sounding downstream (the
window used to install its handler after the engine had started, and a SIGTERM before then killed
it with the AI's notes hanging). Real processes, a real JACK MIDI port read by a polled client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.jack
ROOT = Path(__file__).resolve().parents[1]


def _sounding(received: list[tuple[int, ...]]) -> set[tuple[int, int]]:
    on: set[tuple[int, int]] = set()
    for m in received:
        if len(m) != 3:
            continue
        kind, channel = m[0] & 0xF0, m[0] & 0x0F
        if kind == 0x90 and m[2] > 0:
            on.add((channel, m[1]))
        elif kind in (0x80, 0x90):
            on.discard((channel, m[1]))
        elif kind == 0xB0 and m[1] in (120, 123):
            on = {n for n in on if n[0] != channel}
    return on


@pytest.mark.parametrize("delay_s", [0.0, 0.15, 1.5])
def test_sigterm_while_the_window_starts_or_plays_releases_every_note(jack_server, engine_models, tmp_path,
                                                                      delay_s):
    from perfjam import midi_io

    listener = midi_io.MidiInput("listen", api="jack", virtual=True, client_name=f"quit{os.getpid()}")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PERFJAM_MIDI_API": "jack"}
    command = [sys.executable, "-m", "perfjam", "--mode", "solo", "--midi-out", f"quit{os.getpid()}:listen",
               "--model", engine_models["holding"],  # its notes ring until released
               "--settings", str(tmp_path / "settings.ini"), "--recordings", str(tmp_path / "takes")]
    app = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    received: list[tuple[int, ...]] = []

    def read() -> None:
        while (item := listener.poll()) is not None:
            received.append(item[1])

    try:
        deadline = time.monotonic() + 60
        while not _sounding(received):  # the AI plays: the engine runs, the window may not be up yet
            assert app.poll() is None and time.monotonic() < deadline, app.communicate()[1]
            read()
            time.sleep(0.002)
        time.sleep(delay_s)
        app.send_signal(signal.SIGTERM)
        assert app.wait(60) == 0, app.communicate()[1]
        time.sleep(0.3)
        read()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        listener.close()
    assert _sounding(received) == set(), f"left sounding after SIGTERM (after {delay_s} s)"
