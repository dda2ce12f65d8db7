"""Settings that stick (issue 11, §2), on the real window and engine: steering comes back after a
restart; a SoundFont, model or port that did not work is not remembered; WAV export renders with
the SoundFont playing, off the GUI thread; arrow keys in a focused box step the box; the Sound
picker lists a file once; Reset settings asks, then forgets everything."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import wave  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import test_gui_app  # noqa: E402
from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from perfjam.gui import app as gui_app  # noqa: E402
from perfjam.gui.controls import SidePanel  # noqa: E402
from perfjam.gui.files import same_file  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402
from perfjam.sampling import DEFAULT_TEMPERATURE  # noqa: E402
from perfjam.synth import SHIPPED_SOUNDFONT  # noqa: E402

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it


def _choose(combo, value: str) -> None:
    """Pick an item as a click in the list does (``activated`` is only emitted for user picks)."""
    combo.setCurrentIndex(combo.findData(value))
    combo.activated.emit(combo.currentIndex())


def _broken_soundfont(folder: Path) -> Path:
    bad = folder / "broken.sf2"
    bad.write_bytes(b"RIFF" + b"\x00" * 64)
    return bad


def _top_level_box(title: str) -> QMessageBox:
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.isVisible() and w.windowTitle() == title]
    assert len(boxes) == 1, [b.windowTitle() for b in boxes]
    return boxes[0]


def test_key_scale_and_density_come_back_after_a_restart(harness, gui_models, tmp_path):
    path = tmp_path / "steering.ini"
    first = harness(model=gui_models["conditioned"], settings_path=path)
    first.status(lambda s: s.has_controls)
    side = first.window.side
    side.follow_key.setChecked(False)  # a key chosen by hand (Key follows me overrides it)
    side.density.setCurrentIndex(4)
    side.key.setCurrentIndex(side.key.findData(7))  # G
    side.scale.setCurrentText("minor")
    first.close()

    second = harness(model=None, settings_path=path)  # the model from last time (it loaded)
    side = second.window.side
    assert (side.density.currentIndex(), side.key.currentData(), side.scale.currentText()) == (4, 7, "minor")
    assert second.settings.model == gui_models["conditioned"]
    second.status(lambda s: s.has_controls)
    assert side.scale.isEnabled()
    second.close()
    kept = Settings(path)
    assert (kept.density, kept.key, kept.scale) == (4, 7, "minor")


def test_a_mistyped_model_or_port_on_the_command_line_is_not_remembered(harness, gui_models, tmp_path):
    path = tmp_path / "cli.ini"
    harness(model=gui_models["plain"], settings_path=path).close()
    typo = harness(model=str(tmp_path / "tyop.onnx"), settings_path=path, midi_in="Nosuch Keys 49")
    assert any("tyop.onnx" in text for text in typo.window.banner.history)
    typo.close()
    kept = Settings(path)
    assert kept.model == gui_models["plain"]  # the one that worked last time
    assert kept.midi_input is None and not kept.midi_input_chosen


def test_a_soundfont_that_fails_is_neither_kept_in_the_picker_nor_saved(harness, qtbot, tmp_path):
    h = harness()
    side = h.window.side
    playing = str(h.startup.synth.soundfont_path)
    bad = _broken_soundfont(tmp_path)
    side.set_soundfonts([playing, str(bad)], playing)
    _choose(side.soundfont, str(bad))
    qtbot.waitUntil(lambda: any("broken.sf2" in t for t in h.window.banner.history),
                    timeout=test_gui_app.WAIT_MS)
    assert same_file(side.soundfont.currentData(), playing)  # the picker shows what plays
    assert h.settings.soundfont != str(bad)
    assert "broken.sf2" in h.window.banner.messages()[-1].text
    assert h.window.banner.messages()[-1].details  # FluidSynth's words are behind Details

    mine = tmp_path / "mine.sf2"  # a good one is remembered once the synth plays it
    shutil.copyfile(SHIPPED_SOUNDFONT, mine)
    side.set_soundfonts([playing, str(mine)], playing)
    _choose(side.soundfont, str(mine))
    qtbot.waitUntil(lambda: h.settings.soundfont == str(mine), timeout=test_gui_app.WAIT_MS)
    assert same_file(h.startup.synth.soundfont_path, mine)


def test_a_remembered_soundfont_that_no_longer_loads_warns_once(harness, tmp_path):
    path = tmp_path / "font.ini"
    saved = Settings(path)
    saved.soundfont = str(_broken_soundfont(tmp_path))
    saved.sync()
    first = harness(settings_path=path)
    assert any("broken.sf2" in t for t in first.window.banner.history)
    assert first.startup.synth is not None  # played on with the SoundFont found
    first.close()
    assert Settings(path).soundfont is None
    second = harness(settings_path=path)
    assert not any("SoundFont" in t for t in second.window.banner.history)


def test_a_remembered_model_and_soundfont_that_were_deleted_are_said_once(harness, tmp_path):
    path = tmp_path / "gone.ini"
    saved = Settings(path)
    saved.model, saved.soundfont = str(tmp_path / "deleted.onnx"), str(tmp_path / "deleted.sf2")
    saved.sync()
    first = harness(model=None, settings_path=path)
    said = first.window.banner.history
    assert any("Could not open the model deleted.onnx: playing with" in t for t in said), said
    assert any("Could not use the SoundFont deleted.sf2: playing with" in t for t in said), said
    assert first.startup.model is not None and first.startup.synth is not None  # played on
    first.close()
    assert Settings(path).model is None and Settings(path).soundfont is None
    second = harness(model=None, settings_path=path)
    assert not any("deleted" in t for t in second.window.banner.history)


def _long_take(path: Path, seconds: int = 40) -> Path:
    import mido

    midi = mido.MidiFile(ticks_per_beat=500)  # 1 tick = 1 ms at the default tempo
    track = mido.MidiTrack()
    midi.tracks.append(track)
    for i in range(seconds * 4):
        track.append(mido.Message("note_on", note=48 + i % 24, velocity=80, time=0 if i == 0 else 50))
        track.append(mido.Message("note_off", note=48 + i % 24, velocity=0, time=200))
    midi.save(str(path))
    return path


def test_wav_export_renders_with_the_soundfont_playing_while_the_window_stays_responsive(
        harness, qtbot, tmp_path):
    h = harness()
    h.settings.soundfont = str(tmp_path / "gone.sf2")  # remembered, but not what plays
    take = _long_take(tmp_path / "long.mid")
    assert h.window.files.export(take, tmp_path / "long", wav=True)
    job = h.window.files.exports[-1]
    assert job.running and job.progress.isVisible()  # export returned at once; it renders behind
    beats: list[bool] = []
    timer = QTimer()
    timer.timeout.connect(lambda: beats.append(job.running))
    timer.start(20)
    qtbot.waitUntil(lambda: not job.running, timeout=120000)
    qtbot.waitUntil(lambda: not job.progress.isVisible(), timeout=test_gui_app.WAIT_MS)
    timer.stop()
    assert beats.count(True) >= 3  # the GUI thread kept handling events while it rendered
    assert job.result == (True, str(tmp_path / "long.wav")), job.result
    assert h.window.banner.messages()[-1].text == "Exported long.wav"
    with wave.open(str(tmp_path / "long.wav")) as rendered:
        assert rendered.getnframes() / rendered.getframerate() == pytest.approx(41.0, abs=0.5)


def test_arrow_keys_step_a_focused_box_and_otherwise_the_temperature(harness, qtbot):
    h = harness()
    gap, transport = h.window.side.gap, h.window.transport
    gap.setFocus()
    qtbot.waitUntil(gap.hasFocus)
    before, temperature = gap.value(), transport.temperature_value_f()
    qtbot.keyClick(gap, Qt.Key.Key_Up)
    qtbot.keyClick(gap, Qt.Key.Key_Up)
    qtbot.keyClick(gap, Qt.Key.Key_Down)
    assert gap.value() == before + gap.singleStep()
    assert transport.temperature_value_f() == temperature
    gap.clearFocus()
    qtbot.keyClick(h.window, Qt.Key.Key_Up)
    assert transport.temperature_value_f() == pytest.approx(temperature + 0.05)
    assert gap.value() == before + gap.singleStep()


def test_the_sound_picker_lists_a_file_once_even_through_a_symlink(qtbot, tmp_path):
    system, other = tmp_path / "sf2", tmp_path / "soundfonts"
    system.mkdir()
    other.mkdir()
    real = system / "FluidR3_GM.sf2"
    shutil.copyfile(SHIPPED_SOUNDFONT, real)
    (system / "default-GM.sf2").symlink_to(real)  # as Debian's alternatives link it
    (other / "FluidR3_GM.sf2").symlink_to(real)
    alias = str(system / "default-GM.sf2")
    paths = gui_app.soundfont_choices(alias, folders=[system, other])
    assert sum(same_file(p, real) for p in paths) == 1
    assert sum(same_file(p, SHIPPED_SOUNDFONT) for p in paths) == 1 and len(paths) == 2
    side = SidePanel()
    qtbot.addWidget(side)
    side.set_soundfonts(paths, alias)  # the remembered name is the link
    listed = [side.soundfont.itemData(i) for i in range(side.soundfont.count()) if side.soundfont.itemData(i)]
    assert len(listed) == 2 and same_file(side.soundfont.currentData(), real)


def test_reset_settings_asks_first_then_forgets_everything(harness, qtbot, tmp_path, gui_models):
    path = tmp_path / "reset.ini"
    h = harness(settings_path=path)
    w = h.window
    w.transport.temperature.setValue(150)
    w.transport.mode_buttons["solo"].click()
    w.side.gap.setValue(900)
    qtbot.keyClick(w, Qt.Key.Key_X)  # an octave up
    reset = next(a for a in w.menuBar().actions()[0].menu().actions() if a.text() == "Reset se&ttings…")

    reset.trigger()
    _top_level_box("Reset settings").button(QMessageBox.StandardButton.Cancel).click()
    assert (h.settings.temperature, h.settings.mode, h.settings.response_gap_ms) == (1.5, "solo", 900)

    reset.trigger()
    _top_level_box("Reset settings").button(QMessageBox.StandardButton.Reset).click()
    assert w.transport.temperature_value_f() == DEFAULT_TEMPERATURE and w.transport.mode() == "call"
    assert (w.side.gap.value(), w.side.length.value(), w.qwerty.base) == (600, 8, 60)
    assert "Settings reset" in w.banner.messages()[-1].text
    h.status(lambda s: s.mode == "call" and s.temperature == pytest.approx(DEFAULT_TEMPERATURE))  # (followed)
    fresh = Settings(path)
    assert fresh.model is None and not fresh.midi_input_chosen and fresh.geometry is None
    assert fresh.q.allKeys() == []
