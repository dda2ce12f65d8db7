"""The window on real JACK ports (issue 11, §1 and §4): with no keyboard chosen, PerfJam's own
virtual input "PerfJam In" is there for others to play into; a foot switch chosen to answer now
(the soft pedal, CC 67, once chosen: by default no pedal answers) answers now; and a JACK server
that stops is said plainly, quietly, and once it returns the pickers fill again, the keyboard
plays again and the sound comes back, without a restart."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import jackd  # noqa: E402
import test_gui_layout  # noqa: E402
from gui_jack import WAIT_MS, heard, jack_window, wait_status  # noqa: E402

from perfjam.engine import INPUT_CLIENT, VIRTUAL_INPUT  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402

pytestmark = pytest.mark.jack
themed = test_gui_layout.themed  # PerfJam's style, for the screenshot
STOPPED = "MIDI: JACK stopped — waiting for it to return"


def test_with_no_keyboard_chosen_others_play_into_perfjam_in(qtbot, tmp_path, gui_models, jack_server,
                                                              monkeypatch):
    from perfjam import midi_io

    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path))
    settings = Settings(tmp_path / "virtual.ini")
    settings.midi_input = None  # "(none)" chosen
    window = jack_window(qtbot, tmp_path, settings, gui_models["plain"])
    sender = None
    try:
        wait_status(qtbot, window, lambda s: s.midi_in == VIRTUAL_INPUT and s.midi_in_state == "connected")
        port = f"{INPUT_CLIENT}:{VIRTUAL_INPUT}"
        assert port in midi_io.list_ports("jack")[1]  # others can send to it
        assert f"In: {VIRTUAL_INPUT} (virtual port)" in window.status_bar.midi_in.text()
        assert window.side.midi_in.currentData() is None  # and it is never offered as a keyboard
        assert not any(INPUT_CLIENT in (window.side.midi_out.itemData(i) or "")
                       for i in range(window.side.midi_out.count()))
        sender = midi_io.MidiOutput(port, api="jack", client_name="virtual-sender")  # routed to it
        assert heard(qtbot, window, sender, 65), "a note sent to PerfJam In never reached the roll"
    finally:
        window.close()
        window.startup.synth.close()
        if sender is not None:
            sender.close()


def test_the_soft_pedal_answers_now_once_chosen_and_not_by_default(qtbot, tmp_path, gui_models, jack_server,
                                                                   monkeypatch):
    from perfjam import midi_io

    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path))
    keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="pedal-keys")
    settings = Settings(tmp_path / "pedal.ini")
    settings.midi_input = "pedal-keys:keys"
    window = jack_window(qtbot, tmp_path, settings, gui_models["plain"])
    try:
        window.side.gap.setValue(5000)  # without the pedal: a long pause before any answer
        wait_status(qtbot, window, lambda s: s.midi_in_state == "connected" and s.state == "listening")
        assert heard(qtbot, window, keys, 60)
        before = window.last_status.events_in
        keys.control_change(0, 67, 127)  # the soft pedal: for playing softly, by default no cue
        keys.control_change(0, 67, 0)
        wait_status(qtbot, window, lambda s: s.events_in >= before + 2)
        assert window.last_status.state == "listening"
        window.bridge.set_answer_cc(67)  # Preferences: "Answer now with" the soft pedal
        keys.control_change(0, 67, 127)  # the soft pedal down
        wait_status(qtbot, window, lambda s: s.state == "answering", timeout=2000)
        keys.control_change(0, 67, 0)
    finally:
        window.close()
        window.startup.synth.close()
        keys.close()


# --- a JACK server of this test's own, stopped and started again ------------------------------------
def test_a_jack_server_that_stops_is_said_quietly_and_midi_returns_with_it(qtbot, tmp_path, gui_models,
                                                                        monkeypatch, capfd, themed):
    if shutil.which("jackd") is None or shutil.which("jack_lsp") is None:
        pytest.skip("jackd not installed (apt install jackd2)")
    from perfjam import midi_io

    name = f"perfjam-restart-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path))
    log = open(tmp_path / "jackd.log", "wb")  # noqa: SIM115 (closed below)
    server = jackd.start(name, log)
    keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="restart-keys")
    settings = Settings(tmp_path / "restart.ini")
    settings.midi_input = "restart-keys:keys"
    audio_name = f"pj-restart-audio-{os.getpid()}"
    window = jack_window(qtbot, tmp_path, settings, gui_models["plain"], audio_name=audio_name)
    window.resize(1024, 700)
    bar, side = window.status_bar, window.side
    try:
        wait_status(qtbot, window, lambda s: s.midi_in_state == "connected" and s.audio == "audio: jack")
        assert heard(qtbot, window, keys, 60)
        capfd.readouterr()

        jackd.stop(server)
        qtbot.waitUntil(lambda: STOPPED in bar.midi_in.text(), timeout=WAIT_MS)  # said, not green
        wait_status(qtbot, window, lambda s: s.midi_in_state == "disconnected")
        qtbot.wait(500)  # the engine's next reports keep the truth
        assert STOPPED in bar.midi_in.text() and bar.midi_out.isHidden()
        wait_status(qtbot, window, lambda s: s.audio == "audio lost: jack")  # FluidSynth said so
        assert "Audio: JACK stopped" in bar.audio.text()
        assert any("JACK stopped, and PerfJam's sound with it" in m.text for m in window.banner.messages())
        assert "not connected" in side.midi_in.currentText()
        assert test_gui_layout.layout_problems(window) == []  # the longer status still fits at 1024 px
        test_gui_layout.screenshot(window, "gui-jack-stopped.png")

        server = jackd.start(name, log)
        keys = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="restart-keys")  # replugged
        qtbot.waitUntil(lambda: side.midi_in.findData("restart-keys:keys") >= 0 and STOPPED not in
                        bar.midi_in.text(), timeout=20000)  # the pickers fill again (after the backoff)
        wait_status(qtbot, window, lambda s: s.midi_in_state == "connected")
        assert heard(qtbot, window, keys, 64), "the keyboard did not play again after JACK returned"
        texts = [m.text for m in window.banner.messages()]
        assert any("MIDI is back" in t for t in texts) and not any("JACK stopped" in t for t in texts), texts
        wait_status(qtbot, window, lambda s: s.audio == "audio: jack")  # the sound came back by itself
        ports = jackd.ports()
        assert f"{audio_name}:left" in ports and f"{audio_name}:right" in ports, ports
        assert "Audio: jack" in bar.audio.text()
        test_gui_layout.screenshot(window, "gui-jack-back.png")
        err = capfd.readouterr().err
        raw = [t for t in window.banner.history if t[:1].islower()]  # an engine's error as it came
        assert not raw, window.banner.history
        for noise in ("Cannot connect to server", "JackSocketClientChannel", "Cleanup client"):
            assert noise not in err, err
    finally:
        window.close()
        window.startup.synth.close()
        keys.close()
        jackd.stop(server)
        log.close()
