"""The window on the real engine (tiny random models, a FluidSynth without an audio driver):
controls send the right commands, keys play notes that reach the engine and the roll, panic,
settings round-trips, a corrupt model, recording."""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from perfjam.codec.events import EventType  # noqa: E402
from perfjam.gui import app as gui_app  # noqa: E402
from perfjam.gui.keyboard import key_span  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402
from perfjam.gui.window import Services  # noqa: E402
from perfjam.sampling import DEFAULT_TEMPERATURE  # noqa: E402

WAIT_MS = 5000


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    gui_app.add_arguments(parser)
    args = parser.parse_args(["--no-audio"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


class Harness:
    """A real window on a real engine, built the way ``perfjam app`` builds it."""

    def __init__(self, qtbot, tmp_path: Path, settings_path: Path, model: str | None, **args) -> None:
        self.qtbot = qtbot
        self.recordings = tmp_path / "takes"
        self.settings = Settings(settings_path)
        args = _args(model=model, recordings=self.recordings, **args)
        services = Services(
            list_ports=lambda: ([], []),
            soundfonts=lambda: gui_app.soundfont_choices(self.settings.soundfont),
            recordings_dir=self.recordings,
        )
        self.window = gui_app.create_window(args, self.settings, services)
        self.startup = self.window.startup
        self.engine = self.window.bridge.engine
        qtbot.addWidget(self.window)
        self.window.show()
        self.window.activateWindow()
        qtbot.waitUntil(self.window.isActiveWindow)  # shortcuts work in the active window

    def status(self, predicate, timeout: int = WAIT_MS):
        """Wait until the newest StatusReport the window got satisfies ``predicate``."""
        window = self.window
        self.qtbot.waitUntil(lambda: window.last_status is not None and predicate(window.last_status),
                             timeout=timeout)
        return self.window.last_status

    def close(self) -> None:
        self.window.close()
        self.engine = self.window.bridge.engine
        if self.startup.synth is not None:
            self.startup.synth.close()


@pytest.fixture
def harness(qtbot, tmp_path, gui_models, monkeypatch):
    monkeypatch.setenv("PERFJAM_RECORDINGS", str(tmp_path / "takes"))  # nothing written to ~/Music
    made: list[Harness] = []

    def make(model: str | None = gui_models["plain"], settings_path: Path | None = None, **args) -> Harness:
        h = Harness(qtbot, tmp_path, settings_path or tmp_path / "settings.ini", model, **args)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_temperature_slider_and_arrow_keys_change_the_engine(harness, qtbot):
    h = harness()
    h.status(lambda s: s.temperature == pytest.approx(DEFAULT_TEMPERATURE))  # the app's default
    h.window.transport.temperature.setValue(150)
    assert h.window.transport.temperature_value.text() == "1.50"
    h.status(lambda s: s.temperature == pytest.approx(1.5))
    qtbot.keyClick(h.window, Qt.Key.Key_Up)
    qtbot.keyClick(h.window, Qt.Key.Key_Up)
    h.status(lambda s: s.temperature == pytest.approx(1.6))
    qtbot.keyClick(h.window, Qt.Key.Key_Left)
    h.status(lambda s: s.temperature == pytest.approx(1.55))
    assert h.settings.temperature == pytest.approx(1.55)


def test_mode_buttons_and_space_send_commands(harness, qtbot):
    h = harness()
    h.window.transport.mode_buttons["duet"].click()
    h.status(lambda s: s.mode == "duet")
    assert not h.window.side.gap.isEnabled()  # response settings are for call-and-response
    h.window.transport.mode_buttons["call"].click()
    h.status(lambda s: s.mode == "call")
    assert h.window.side.gap.isEnabled()
    playing = h.status(lambda s: True).playing
    qtbot.keyClick(h.window, Qt.Key.Key_Space)
    h.status(lambda s: s.playing is (not playing))
    assert h.window.transport.play.isChecked() is (not playing)
    h.window.side.gap.setValue(1200)
    h.window.side.length.setValue(3)
    # a query is answered after every command sent before it
    assert h.engine.query(lambda loop: (loop.policy.gap_s, loop.policy.length_s)) == (1.2, 3.0)


def test_computer_keyboard_notes_reach_the_engine_and_the_roll(harness, qtbot):
    h = harness(mode="call")
    qtbot.keyClick(h.window, Qt.Key.Key_Space)  # stop the AI: only our notes in the roll
    h.status(lambda s: not s.playing)
    qtbot.keyPress(h.window, Qt.Key.Key_A)  # C4
    qtbot.keyPress(h.window, Qt.Key.Key_W)  # C#4
    qtbot.waitUntil(lambda: {("human", 60), ("human", 61)} <= set(h.window.roll.active()), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: 60 in h.window.keyboard.lit(), timeout=WAIT_MS)  # the key lights up
    qtbot.keyRelease(h.window, Qt.Key.Key_A)
    qtbot.keyRelease(h.window, Qt.Key.Key_W)
    qtbot.keyClick(h.window, Qt.Key.Key_X)  # octave up: A is now C5
    qtbot.keyClick(h.window, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: [n.pitch for n in h.window.roll.notes()] == [60, 61, 72], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not h.window.roll.active(), timeout=WAIT_MS)
    heard = h.engine.history()
    vocab = h.startup.model.info.vocab
    ons = [vocab.event(i)[1] for i in heard if vocab.event(i)[0] == EventType.NOTE_ON]
    assert ons[:3] == [60, 61, 72]  # the model heard exactly what was played


def test_mouse_on_the_keyboard_plays_through_the_engine(harness, qtbot):
    h = harness(mode="solo")
    qtbot.keyClick(h.window, Qt.Key.Key_Space)
    h.status(lambda s: not s.playing)
    kb = h.window.keyboard
    left, right = key_span(64, kb.width())
    qtbot.mousePress(kb, Qt.MouseButton.LeftButton, pos=QPoint(int((left + right) / 2), kb.height() - 10))
    qtbot.waitUntil(lambda: ("human", 64) in h.window.roll.active(), timeout=WAIT_MS)
    qtbot.mouseRelease(kb, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not h.window.roll.active(), timeout=WAIT_MS)


def test_panic_releases_everything(harness, qtbot):
    h = harness(mode="call")
    h.window.side.gap.setValue(200)
    for key in (Qt.Key.Key_A, Qt.Key.Key_G, Qt.Key.Key_J):  # a phrase, then a pause: PerfJam answers
        qtbot.keyClick(h.window, key)
        qtbot.wait(60)
    qtbot.waitUntil(lambda: any(src == "ai" for src, _ in h.window.roll.active()), timeout=10000)
    qtbot.keyPress(h.window, Qt.Key.Key_D)  # and a key held down
    qtbot.waitUntil(lambda: ("human", 64) in h.window.roll.active(), timeout=WAIT_MS)
    qtbot.keyClick(h.window, Qt.Key.Key_Escape)
    assert not h.window.qwerty._held  # the held key is let go of
    assert not any(src == "human" for src, _ in h.window.roll.active())
    assert h.window.keyboard.lit() == {}
    qtbot.waitUntil(lambda: not h.window.roll.active(), timeout=WAIT_MS)  # the AI's note-offs arrive
    assert h.engine.query(lambda loop: loop.synth.sounding_notes()) == set()
    h.status(lambda s: s.state == "listening")  # the answer is over; waiting for the next phrase


def test_settings_round_trip_through_the_window(harness, qtbot, tmp_path):
    path = tmp_path / "roundtrip.ini"
    first = harness(settings_path=path)
    w = first.window
    w.transport.temperature.setValue(73)
    w.transport.mode_buttons["solo"].click()
    w.side.gap.setValue(900)
    w.side.length.setValue(5)
    qtbot.keyClick(w, Qt.Key.Key_X)  # computer keyboard an octave up
    w.resize(w.width(), 700)  # (the offscreen screen is 800 x 800)
    first.status(lambda s: s.mode == "solo" and s.temperature == pytest.approx(0.73))
    first.close()

    second = harness(settings_path=path, model=None, mode=None, temperature=None)
    w2 = second.window
    assert w2.transport.temperature_value_f() == pytest.approx(0.73)
    assert w2.transport.mode() == "solo"
    assert (w2.side.gap.value(), w2.side.length.value()) == (900, 5)
    assert w2.qwerty.base == 72
    assert w2.height() == 700
    second.status(lambda s: s.mode == "solo" and s.temperature == pytest.approx(0.73))  # sent to the engine


def test_a_corrupt_model_shows_an_error_and_the_app_stays_usable(harness, qtbot, tmp_path, monkeypatch,
                                                                gui_models):
    h = harness()
    name = h.status(lambda s: bool(s.model_name)).model_name
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"this is not an onnx model" * 10)
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), "")))
    h.window.files.open_model_file()  # File > Open model..., the file chosen in the dialog
    qtbot.waitUntil(lambda: h.window.banner.isVisible() and "corrupt.onnx" in h.window.banner.label.text(),
                    timeout=WAIT_MS)
    # the picker goes back to the model still playing, and the bad one is not remembered
    qtbot.waitUntil(lambda: h.window.side.model.currentData() == gui_models["plain"], timeout=WAIT_MS)
    assert h.settings.model == gui_models["plain"]
    h.window.transport.temperature.setValue(42)  # still alive and listening
    s = h.status(lambda s: s.temperature == pytest.approx(0.42))
    assert s.model_name == name
    qtbot.keyClick(h.window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: any(n.pitch == 62 for n in h.window.roll.notes()), timeout=WAIT_MS)


def test_a_corrupt_model_at_start_falls_back_with_a_message(harness, tmp_path, gui_models):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00" * 100)
    h = harness(model=str(bad))
    texts = " ".join(h.window.banner.history)
    assert "broken.onnx" in texts
    # no shipped model to fall back on in a fresh checkout: the window opens without an engine
    if h.engine is None:
        assert "Open model" in texts
        h.window.load_model(gui_models["plain"])  # choosing a model later starts the engine
        h.status(lambda s: s.model_name == "tiny-plain")
        assert h.settings.model == gui_models["plain"]


def test_controls_follow_the_model(harness, gui_models):
    h = harness(model=gui_models["plain"])
    h.status(lambda s: not s.has_controls)
    side = h.window.side
    assert not side.density.isEnabled() and "without controls" in side.density.toolTip()
    h.window.side.set_models([gui_models["plain"], gui_models["conditioned"]], gui_models["plain"])
    model_picker = h.window.side.model
    model_picker.setCurrentIndex(model_picker.findData(gui_models["conditioned"]))
    model_picker.activated.emit(model_picker.currentIndex())  # as choosing it in the picker does
    h.status(lambda s: s.has_controls)
    assert h.settings.model == gui_models["conditioned"]
    assert side.density.isEnabled() and side.follow_key.isEnabled() and not side.key.isEnabled()
    side.follow_key.setChecked(False)  # a key chosen by hand instead of Key follows me
    assert side.key.isEnabled()
    side.density.setCurrentIndex(4)
    side.key.setCurrentIndex(side.key.findData(7))  # G
    side.scale.setCurrentText("major")
    notes_per_s, histogram = h.engine.query(lambda loop: (loop.steering.notes_per_s, loop.steering.histogram))
    assert notes_per_s == 6.0
    assert [i for i, v in enumerate(histogram) if v > 0] == [0, 2, 4, 6, 7, 9, 11]


def test_record_then_close_finalises_the_take(harness, qtbot):
    h = harness(mode="solo")
    qtbot.keyClick(h.window, Qt.Key.Key_R)
    s = h.status(lambda s: s.recording_path is not None)
    assert "●" in h.window.transport.record.text()
    take = Path(s.recording_path)
    assert take.parent == h.recordings
    qtbot.keyPress(h.window, Qt.Key.Key_D)
    qtbot.wait(200)
    # closing while recording stops it and writes the MIDI file; all notes are released
    h.close()
    assert take.is_file()
    assert h.settings.last_take == str(take)
    import mido

    tracks = {t.name: t for t in mido.MidiFile(str(take)).tracks}
    human = [m for m in tracks["Human"] if m.type == "note_on" and m.velocity > 0]
    assert [m.note for m in human] == [64]
    offs = [m for m in tracks["Human"] if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)]
    assert [m.note for m in offs] == [64]  # the held key was released when the window closed
    assert not h.startup.synth.sounding_notes()


def test_a_bad_soundfont_is_reported_and_the_old_one_kept(harness, qtbot, tmp_path):
    h = harness()
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF" + b"\x00" * 64)
    before = h.startup.synth.soundfont_path
    h.window.load_soundfont(str(bad))
    qtbot.waitUntil(lambda: any("broken.sf2" in t for t in h.window.banner.history), timeout=WAIT_MS)
    assert h.engine.query(lambda loop: loop.synth.soundfont_path) == before
    qtbot.keyClick(h.window, Qt.Key.Key_F)  # still playing
    qtbot.waitUntil(lambda: any(n.pitch == 65 for n in h.window.roll.notes()), timeout=WAIT_MS)


def test_an_interrupted_take_is_recovered_at_start(harness, tmp_path):
    takes = tmp_path / "takes"
    takes.mkdir()
    journal = takes / "perfjam-crashed.mid.journal"
    header = '{"path": "%s", "started": "2024-01-01T12:00:00"}' % (takes / "perfjam-crashed.mid")
    journal.write_text(f"PERFJAM-JOURNAL 1 {header}\n0 0 144 60 100\n500 1 144 64 90\n900 0 128 60 0\n")
    h = harness()
    assert (takes / "perfjam-crashed.mid").is_file() and not journal.exists()
    assert any("Recovered" in t and "perfjam-crashed.mid" in t for t in h.window.banner.history)


def test_export_last_take_as_midi(harness, qtbot, tmp_path):
    h = harness()
    qtbot.keyClick(h.window, Qt.Key.Key_R)
    take = Path(h.status(lambda s: s.recording_path is not None).recording_path)
    qtbot.keyClick(h.window, Qt.Key.Key_G)
    qtbot.keyClick(h.window, Qt.Key.Key_R)
    h.status(lambda s: s.recording_path is None)
    qtbot.waitUntil(lambda: take.is_file(), timeout=WAIT_MS)
    assert h.window.files.last_take == take
    assert h.window.files.export(take, tmp_path / "mine")
    assert (tmp_path / "mine.mid").read_bytes() == take.read_bytes()


def test_the_bridge_drains_without_blocking_and_coalesces_status(qtbot, gui_models):
    from perfjam.engine import Engine, ErrorReport, NoteReport, StatusReport
    from perfjam.gui.bridge import MAX_REPORTS_PER_TICK, EngineBridge

    engine = Engine(gui_models["plain"])  # never started: only its report queue is used
    bridge = EngineBridge(engine, poll_ms=100000)
    notes, statuses, errors = [], [], []
    bridge.noteEvent.connect(notes.append)
    bridge.status.connect(statuses.append)
    bridge.error.connect(errors.append)
    assert bridge.drain() == 0  # an empty queue returns at once
    for i in range(MAX_REPORTS_PER_TICK + 100):
        engine.reports.put(NoteReport("ai", 60 + i % 12, 80, i % 2 == 0, float(i)))
    engine.reports.put(ErrorReport("port vanished"))
    for t in (0.5, 0.6, 0.7):
        engine.reports.put(StatusReport("", "", "no audio output", "call", t, "m", False, 0.1, 0.2, 0, 0.0,
                                        None, 0.0, True))
    assert bridge.drain() == MAX_REPORTS_PER_TICK  # a flood is spread over several ticks
    assert bridge.drain() == 104
    assert len(notes) == MAX_REPORTS_PER_TICK + 100 and errors == ["port vanished"]
    assert [s.temperature for s in statuses] == [0.7]  # only the newest status of a drain
    assert [n.time_s for n in notes[:3]] == [0.0, 1.0, 2.0]  # in order


def test_an_engine_warning_is_shown_as_a_warning_not_an_error(harness, qtbot):
    from perfjam.engine import ErrorReport
    from perfjam.live.ports import NOT_REALTIME_JACK

    h = harness()
    h.engine.reports.put(ErrorReport(NOT_REALTIME_JACK, "warning"))
    banner = h.window.banner
    qtbot.waitUntil(lambda: any(m.text == NOT_REALTIME_JACK for m in banner.messages()), timeout=5000)
    assert [m.level for m in banner.messages() if m.text == NOT_REALTIME_JACK] == ["warning"]


def test_menus_and_shortcuts(harness):
    h = harness()
    menus = {a.text().replace("&", ""): a.menu() for a in h.window.menuBar().actions()}
    assert set(menus) == {"File", "Play", "Help"}
    file_items = [a.text().replace("&", "") for a in menus["File"].actions() if a.text()]
    assert file_items[:4] == ["Open model…", "Open SoundFont…", "Recordings folder", "Export last take…"]
    keys = {a.text(): {k.toString() for k in a.shortcuts()} for a in menus["Play"].actions() if a.text()}
    assert keys["Start / stop"] == {"Space"} and keys["Record"] == {"R"}
    assert keys["Panic (all notes off)"] == {"Esc"} and keys["Temperature up"] == {"Up", "Right"}
    assert "Reset settings…" in [a.text().replace("&", "") for a in menus["File"].actions()]
    from PySide6.QtWidgets import QApplication, QMessageBox

    help_keys = {a.text().replace("&", ""): a for a in menus["Help"].actions() if a.text()}
    assert {k.toString() for k in help_keys["Keyboard shortcuts"].shortcuts()} == {"F1"}
    help_keys["Keyboard shortcuts"].trigger()  # as F1 does
    (box,) = [w for w in QApplication.topLevelWidgets()
              if isinstance(w, QMessageBox) and w.isVisible() and w.windowTitle() == "Keyboard shortcuts"]
    assert not box.isModal() and "Octave" in box.text()
    # every shortcut of every menu is in the list
    listed = [k.toString() for m in menus.values() for a in m.actions() for k in a.shortcuts()]
    assert {"Ctrl+O", "Ctrl+E", "Ctrl+Q", "F1", "Space", "R", "Esc"} <= set(listed)
    arrows = {"Up": "↑", "Down": "↓", "Left": "←", "Right": "→"}
    assert all(arrows.get(k, k) in box.text() for k in listed), box.text()
    box.close()


def test_without_an_engine_your_notes_still_show_as_the_engines_note_reports(qtbot):
    from perfjam.engine import NoteReport
    from perfjam.gui.bridge import EngineBridge

    bridge = EngineBridge(None)  # no model loaded yet
    notes: list = []
    bridge.noteEvent.connect(notes.append)
    bridge.human_note_on(60, 90)
    bridge.human_note_off(60)
    assert [type(n) for n in notes] == [NoteReport, NoteReport]
    assert [(n.source, n.pitch, n.velocity, n.is_on) for n in notes] == [("human", 60, 90, True),
                                                                        ("human", 60, 0, False)]
    bridge.shutdown()


def test_the_command_line_offers_the_midi_apis_and_modes_the_engine_knows():
    from perfjam.engine import MODES
    from perfjam.midi_io import API_NAMES

    parser = argparse.ArgumentParser()
    gui_app.add_arguments(parser)
    actions = {a.dest: a for a in parser._actions}
    assert actions["midi_api"].choices == ["auto", *API_NAMES]
    assert tuple(actions["mode"].choices) == MODES
    with pytest.raises(SystemExit):
        parser.parse_args(["--midi-api", "beos"])
