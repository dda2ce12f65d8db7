"""MIDI port pickers on a real JACK server: hot-plug refresh, choosing ports sends the engine the
right commands, a remembered port that is missing falls back with a message and comes back."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import queue  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from gui_jack import WAIT_MS, heard, wait_status  # noqa: E402

from perfjam.engine import VIRTUAL_INPUT  # noqa: E402
from perfjam.gui import app as gui_app  # noqa: E402
from perfjam.gui.ports import PersistentLister, stopped_message  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402
from perfjam.gui.window import Services  # noqa: E402

pytestmark = pytest.mark.jack
KEYS = "PerfJam GUI Test Keys"
SINK = "PerfJam GUI Test Sink"


def find(combo, part: str) -> int:
    return next((i for i in range(combo.count()) if part in (combo.itemData(i) or "")), -1)


def test_port_pickers_hot_plug_and_commands(qtbot, tmp_path, gui_models, jack_server, monkeypatch):
    from perfjam import midi_io

    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path))
    settings = Settings(tmp_path / "ports.ini")
    settings.midi_input = KEYS  # remembered from last time, but not plugged in yet
    parser = __import__("argparse").ArgumentParser()
    gui_app.add_arguments(parser)
    args = parser.parse_args(["--no-audio", "--midi-api", "jack", "--model", gui_models["plain"],
                              "--recordings", str(tmp_path)])
    services = Services(list_ports=PersistentLister("jack"), recordings_dir=tmp_path, port_poll_ms=150)
    window = gui_app.create_window(args, settings, services)
    qtbot.addWidget(window)
    window.show()
    engine = window.bridge.engine
    side = window.side
    try:
        assert any(KEYS in text and "not connected" in text for text in window.banner.history)
        wait_status(qtbot, window, lambda s: s.midi_in_state == "disconnected")
        assert "not connected" in window.status_bar.midi_in.text()
        assert "not connected" in side.midi_in.currentText()

        keys = midi_io.MidiOutput(KEYS, api="jack", virtual=True)  # the keyboard is plugged in
        sink = midi_io.MidiInput(SINK, queue.SimpleQueue(), api="jack", virtual=True)
        try:
            # the pickers refresh (JACK names ports CLIENT:PORT)
            qtbot.waitUntil(lambda: find(side.midi_out, SINK) >= 0, timeout=WAIT_MS)
            qtbot.waitUntil(lambda: side.midi_in.currentText().endswith(KEYS), timeout=WAIT_MS)
            # the engine reopens the remembered port by itself once it appears
            wait_status(qtbot, window, lambda s: s.midi_in_state == "connected")
            assert heard(qtbot, window, keys, 67), "the note never reached the roll"

            sink_name = side.midi_out.itemData(find(side.midi_out, SINK))
            side.midi_out.setCurrentIndex(find(side.midi_out, SINK))
            side.midi_out.activated.emit(side.midi_out.currentIndex())  # as a click on the item does
            wait_status(qtbot, window, lambda s: s.midi_out == sink_name and s.midi_out_state == "connected")
            assert settings.midi_output == sink_name

            side.midi_in.setCurrentIndex(0)  # "(none)": PerfJam's own virtual input, for others to play into
            side.midi_in.activated.emit(0)
            wait_status(qtbot, window,
                         lambda s: s.midi_in == VIRTUAL_INPUT and s.midi_in_state == "connected")
            assert settings.midi_input is None
            assert engine.query(lambda loop: (loop.ports.input.virtual, loop.ports.input.name)) == \
                (True, VIRTUAL_INPUT)
        finally:
            keys.close()
            sink.close()
        # the chosen output went away: said plainly, and kept in the picker as "not connected"
        wait_status(qtbot, window, lambda s: s.midi_out_state == "disconnected")
        qtbot.waitUntil(lambda: any("went away" in t for t in window.banner.history), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "not connected" in side.midi_out.currentText(), timeout=WAIT_MS)
    finally:
        window.close()
        window.startup.synth.close()


def test_the_lister_keeps_its_clients_and_sees_new_ports(jack_server):
    from perfjam import midi_io

    lister = PersistentLister("jack")
    try:
        before = lister()
        kept = lister.lister
        port = midi_io.MidiOutput("PerfJam GUI Lister Probe", api="jack", virtual=True)
        try:
            inputs, _ = lister()
            assert any(p.endswith("PerfJam GUI Lister Probe") for p in inputs)
            assert lister.lister is kept  # the same kept clients: no new MIDI client per listing
        finally:
            port.close()
        assert lister() == before
    finally:
        lister.close()


def test_a_stopped_jack_says_whether_the_sound_went_with_it():
    for audio in ("audio: jack", "audio lost: jack"):
        assert "PerfJam's sound with it" in stopped_message("jack", audio)
        assert "computer keyboard" not in stopped_message("jack", audio)  # it would play silently
    for audio in ("audio: pulseaudio", None):
        text = stopped_message("jack", audio)
        assert text.startswith("JACK stopped: play on with the computer keyboard"), text
    assert stopped_message("alsa", "audio: jack").startswith("ALSA MIDI stopped: play on")
