"""MIDI that works the first time (issue 11, §1), on a real JACK server: the pickers never list
PerfJam's own ports, a fresh profile plays from the only keyboard there is, a "(none)" chosen
before is respected, and "is back" replaces the "went away" warning."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import queue  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from gui_jack import WAIT_MS, jack_window, wait_status  # noqa: E402

from perfjam.gui.ports import external_inputs, visible_ports  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402


def test_own_ports_and_the_alsa_loopback_are_no_keyboards():
    inputs = ["perfjam-out:out", "perfjam-out-01:out", "perfjam-01:PerfJam Test Keys", "kb1:keys",
              "Midi Through:Midi Through Port-0 14:0", "perfjam-out:out 130:0",
              "Keystation 49:Keystation 49 MIDI 1 20:0"]
    assert visible_ports(inputs) == ["perfjam-01:PerfJam Test Keys", "kb1:keys",
                                     "Midi Through:Midi Through Port-0 14:0",
                                     "Keystation 49:Keystation 49 MIDI 1 20:0"]
    assert external_inputs(inputs) == ["perfjam-01:PerfJam Test Keys", "kb1:keys",
                                       "Keystation 49:Keystation 49 MIDI 1 20:0"]
    assert visible_ports(["perfjam-in:in", "synth:midi_in"]) == ["synth:midi_in"]


def _items(combo) -> list[str]:
    return [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)]


def test_a_fresh_profile_plays_from_the_only_keyboard_and_never_lists_its_own_ports(
        qtbot, tmp_path, gui_models, jack_server, monkeypatch):
    from perfjam import midi_io

    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path))
    sink = midi_io.MidiInput("sink", queue.SimpleQueue(), api="jack", virtual=True, client_name="fresh-synth")
    settings = Settings(tmp_path / "fresh.ini")  # never chosen an input
    window = jack_window(qtbot, tmp_path, settings, gui_models["plain"], "--midi-out", "fresh-synth:sink")
    side = window.side
    keys = None
    try:
        wait_status(qtbot, window, lambda s: s.midi_out_state == "connected")  # perfjam-out:out exists
        assert side.midi_in.currentData() is None
        keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="fresh-keys")  # plugged in
        qtbot.waitUntil(lambda: side.midi_in.currentData() == "fresh-keys:keys", timeout=WAIT_MS)
        assert settings.midi_input == "fresh-keys:keys"
        assert any("fresh-keys" in t and "MIDI keyboard" in t for t in window.banner.history)
        wait_status(qtbot, window,
                     lambda s: s.midi_in == "fresh-keys:keys" and s.midi_in_state == "connected")
        for _ in range(8):  # the engine's port is connected: a note reaches the roll
            keys.note_on(0, 62, 90)
            try:
                qtbot.waitUntil(lambda: ("human", 62) in window.roll.active(), timeout=1000)
                break
            except qtbot.TimeoutError:
                keys.note_off(0, 62)
        else:
            pytest.fail("the keyboard chosen for a fresh profile was not heard")
        keys.note_off(0, 62)
        qtbot.wait(400)  # two more listings with the engine's own ports open
        listed = _items(side.midi_in) + _items(side.midi_out)
        own = [p for p in listed if p.startswith(("perfjam-in", "perfjam-out"))]
        assert own == [], own
        ports = midi_io.list_ports("jack")
        assert any(p.startswith("perfjam-out") for p in ports[0])  # they exist, but are not offered
        assert any(p.startswith("perfjam-in") for p in ports[1])
    finally:
        window.close()
        window.startup.synth.close()
        sink.close()
        if keys is not None:
            keys.close()


def test_a_none_chosen_before_is_respected_and_is_back_replaces_went_away(
        qtbot, tmp_path, gui_models, jack_server, monkeypatch):
    from perfjam import midi_io

    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path))
    keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="chosen-keys")
    settings = Settings(tmp_path / "chosen.ini")
    settings.midi_input = None  # "(none)" was chosen last time
    window = jack_window(qtbot, tmp_path, settings, gui_models["plain"])
    try:
        qtbot.waitUntil(lambda: "chosen-keys:keys" in _items(window.side.midi_in), timeout=WAIT_MS)
        qtbot.wait(400)
        assert window.side.midi_in.currentData() is None and settings.midi_input is None
        window.pickers.choose("input", "chosen-keys:keys")  # as picking it in the list does
        wait_status(qtbot, window, lambda s: s.midi_in_state == "connected")
        keys.close()
        wait_status(qtbot, window, lambda s: s.midi_in_state == "disconnected")
        assert "went away" in window.banner.messages()[-1].text
        keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="chosen-keys")
        wait_status(qtbot, window, lambda s: s.midi_in_state == "connected")
        texts = [m.text for m in window.banner.messages()]
        assert any("is back" in t for t in texts) and not any("went away" in t for t in texts), texts
    finally:
        window.close()
        window.startup.synth.close()
        keys.close()
