"""Steering for everyone (issue 11, §4), on the real window and engine: style presets set
temperature, density and gap together and come back after a restart; Key follows me is on for a
steerable model, overrides the key pickers, sticks, and the key it asks for is marked on the
keyboard; Answer now by its button and by Return (which never plays a note, and steps a focused
box instead); the model picker says which model steers."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import test_gui_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

from perfjam.gui import app as gui_app  # noqa: E402
from perfjam.gui import theme  # noqa: E402
from perfjam.gui.keyboard import KEY_MARK, KeyboardWidget, key_span  # noqa: E402
from perfjam.gui.presets import CUSTOM, DENSITIES, PRESETS, key_classes, matching_preset  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it
WAIT_MS = test_gui_app.WAIT_MS
C_MAJOR = {0, 2, 4, 5, 7, 9, 11}


def _choose(combo, value: str) -> None:
    """Pick an item as a click in the list does (``activated`` is only emitted for user picks)."""
    combo.setCurrentIndex(combo.findData(value))
    combo.activated.emit(combo.currentIndex())


def test_presets_are_distinct_and_each_is_found_from_its_own_values():
    assert [p.name for p in PRESETS] == ["Gentle", "Conversational", "Chatty", "Wild"]
    assert len({(p.temperature, p.density_index, p.gap_ms) for p in PRESETS}) == len(PRESETS)
    for preset in PRESETS:
        assert DENSITIES[preset.density_index][1] == preset.notes_per_s
        assert matching_preset(preset.temperature, preset.density_index, preset.gap_ms) is preset
    gentle, wild = PRESETS[0], PRESETS[-1]
    assert gentle.temperature < wild.temperature and gentle.gap_ms > wild.gap_ms  # calm waits, wild jumps in
    assert matching_preset(1.0, 0, 601) is None


def test_a_preset_sets_temperature_density_and_gap_in_the_engine_and_comes_back(harness, gui_models,
                                                                               tmp_path):
    path = tmp_path / "preset.ini"
    h = harness(model=gui_models["conditioned"], settings_path=path)
    w, side = h.window, h.window.side
    assert side.preset.currentText() == "Conversational"  # what the defaults are
    _choose(side.preset, "Wild")
    wild = PRESETS[-1]
    assert w.transport.temperature_value_f() == pytest.approx(wild.temperature)
    assert (side.density.currentIndex(), side.gap.value()) == (wild.density_index, wild.gap_ms)
    h.status(lambda s: s.temperature == pytest.approx(wild.temperature))
    sent = h.engine.query(lambda loop: (loop.steering.notes_per_s, loop.policy.gap_s))
    assert sent == (wild.notes_per_s, pytest.approx(wild.gap_ms / 1000))
    assert side.preset.currentText() == "Wild"
    w.transport.nudge_temperature(0.05)  # the pianist changes one of them: no preset any more
    assert side.preset.currentText() == CUSTOM
    w.transport.nudge_temperature(-0.05)
    assert side.preset.currentText() == "Wild"
    _choose(side.preset, "")  # picking "Custom" changes nothing
    assert side.preset.currentText() == "Wild" and w.transport.temperature_value_f() == wild.temperature
    h.close()

    again = harness(model=None, settings_path=path)
    assert again.window.side.preset.currentText() == "Wild"
    kept = Settings(path)
    assert (kept.temperature, kept.density, kept.response_gap_ms) == (wild.temperature, wild.density_index,
                                                                      wild.gap_ms)


def _mark_colour(keyboard: KeyboardWidget, pitch: int) -> tuple[int, int, int]:
    image = keyboard.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    left, right = key_span(pitch, keyboard.width())
    colour = image.pixelColor(int((left + right) / 2), int(KEY_MARK / 2))
    return colour.red(), colour.green(), colour.blue()


def test_key_follows_me_is_on_for_a_steerable_model_and_the_key_shows_on_the_keyboard(harness, gui_models,
                                                                                      qtbot):
    h = harness(model=gui_models["conditioned"])
    w, side = h.window, h.window.side
    h.status(lambda s: s.has_controls)
    assert side.follow_key.isChecked() and side.follow_key.isEnabled()
    assert not side.key.isEnabled() and not side.scale.isEnabled()  # overridden while it follows
    assert "follows" in side.key.toolTip()
    assert h.engine.query(lambda loop: loop.steering.follow_key) is True
    qtbot.keyClick(w, Qt.Key.Key_Space)  # the AI stopped: only what is played here
    h.status(lambda s: not s.playing)
    for key in (Qt.Key.Key_A, Qt.Key.Key_D, Qt.Key.Key_G, Qt.Key.Key_A):  # C E G C
        qtbot.keyClick(w, key)
        qtbot.wait(30)
    h.status(lambda s: key_classes(s.key_histogram) == {0, 4, 7})  # (a status may come mid-phrase)
    qtbot.waitUntil(lambda: w.keyboard.key_classes() == {0, 4, 7}, timeout=WAIT_MS)
    amber = (theme.AI.red(), theme.AI.green(), theme.AI.blue())
    assert _mark_colour(w.keyboard, 64) == amber and _mark_colour(w.keyboard, 62) != amber  # E marked, D not

    side.follow_key.click()  # off: the key chosen by hand again
    assert h.engine.query(lambda loop: loop.steering.follow_key) is False
    assert h.settings.follow_key is False and side.key.isEnabled()
    side.key.setCurrentIndex(side.key.findData(0))
    side.scale.setCurrentText("major")
    qtbot.waitUntil(lambda: w.keyboard.key_classes() == C_MAJOR, timeout=WAIT_MS)
    side.key.setCurrentIndex(side.key.findData(-1))  # any key: the model plays freely, nothing marked
    qtbot.waitUntil(lambda: w.keyboard.key_classes() == frozenset(), timeout=WAIT_MS)


def test_key_follows_me_sticks(harness, gui_models, tmp_path):
    path = tmp_path / "follow.ini"
    first = harness(model=gui_models["conditioned"], settings_path=path)
    first.status(lambda s: s.has_controls)
    first.window.side.follow_key.click()
    first.close()
    second = harness(model=gui_models["conditioned"], settings_path=path)
    second.status(lambda s: s.has_controls)
    side = second.window.side
    assert not side.follow_key.isChecked() and side.key.isEnabled()  # remembered off
    assert second.engine.query(lambda loop: loop.steering.follow_key) is False


def test_a_plain_model_cannot_follow_and_a_steerable_one_loaded_then_does(harness, gui_models, qtbot):
    h = harness(model=gui_models["plain"])
    side = h.window.side
    h.status(lambda s: not s.has_controls)
    assert not side.follow_key.isChecked() and not side.follow_key.isEnabled()
    assert "without controls" in side.follow_key.toolTip()
    assert h.settings.follow_key is True  # the setting stays: on for the next steerable model
    assert h.window.keyboard.key_classes() == frozenset()
    h.window.load_model(gui_models["conditioned"])
    h.status(lambda s: s.has_controls)
    qtbot.waitUntil(lambda: side.follow_key.isChecked() and side.follow_key.isEnabled(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: h.engine.query(lambda loop: loop.steering.follow_key), timeout=WAIT_MS)


def test_answer_now_by_the_button_and_by_return(harness, qtbot):
    h = harness(mode="call")
    w, side = h.window, h.window.side
    side.gap.setValue(5000)  # a long pause would be needed before an answer
    h.status(lambda s: s.state == "listening")
    assert side.answer.isEnabled()
    side.answer.click()
    h.status(lambda s: s.state == "answering", timeout=2000)
    qtbot.keyClick(w, Qt.Key.Key_Escape)  # panic ends the answer
    h.status(lambda s: s.state == "listening")
    qtbot.keyClick(w, Qt.Key.Key_Return)  # Return answers: it is no key of the computer-keyboard piano
    h.status(lambda s: s.state == "answering", timeout=2000)
    assert not any(src == "human" for src, _ in w.roll.active()) and not w.qwerty._held
    names = [a.text() for m in w.menuBar().actions() for a in m.menu().actions()]
    assert "Answer now" in names

    w.transport.mode_buttons["duet"].click()  # it plays anyway: nothing to answer
    h.status(lambda s: s.mode == "duet")
    assert not side.answer.isEnabled()
    assert w.steering.answer_now() is False


def test_return_in_a_focused_box_finishes_typing_and_answers_nothing(harness, qtbot):
    h = harness(mode="call")
    gap = h.window.side.gap
    gap.setValue(5000)
    h.status(lambda s: s.state == "listening")
    gap.setFocus()
    qtbot.waitUntil(gap.hasFocus)
    qtbot.keyClick(gap, Qt.Key.Key_Return)
    assert not gap.hasFocus()  # typing finished: the keys play again
    qtbot.wait(600)
    assert h.window.last_status.state == "listening"


def test_the_model_picker_says_which_models_steer(harness, gui_models):
    h = harness(model=gui_models["plain"])
    w = h.window
    w.services.models = lambda: [gui_models["plain"], gui_models["conditioned"]]
    w.services.model_steers = gui_app.model_steers  # as `perfjam` has it
    w.refresh_models(gui_models["plain"])
    picker = w.side.model
    texts = {picker.itemData(i): picker.itemText(i) for i in range(picker.count()) if picker.itemData(i)}
    assert texts[gui_models["conditioned"]] == "tiny-conditioned.onnx  · steers"
    assert texts[gui_models["plain"]] == "tiny-plain.onnx"
    assert gui_app.model_steers("no-such-model") is False


def test_the_loudness_picker_steers_the_ai_and_sticks(harness, gui_models, qtbot, tmp_path):
    path = tmp_path / "loudness.ini"
    first = harness(model=gui_models["plain"], settings_path=path)  # (any model: velocities only)
    side = first.window.side
    assert side.loudness.currentData() == "as me" and side.loudness.isEnabled()
    assert first.engine.query(lambda loop: loop.steering.loudness) == "as me"
    side.loudness.setCurrentIndex(side.loudness.findData("softer"))
    side.loudness.activated.emit(side.loudness.currentIndex())  # as a click on the item does
    qtbot.waitUntil(lambda: first.engine.query(lambda loop: loop.steering.loudness) == "softer",
                    timeout=WAIT_MS)
    first.close()
    second = harness(model=gui_models["plain"], settings_path=path)
    assert second.window.side.loudness.currentData() == "softer"  # remembered
    assert second.engine.query(lambda loop: loop.steering.loudness) == "softer"
