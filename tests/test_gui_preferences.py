"""Audio & MIDI settings (issue 11, §1): the dialog's settings stick, apply to the running engine
at once (audio driver, MIDI thru and channels, seed, answer controller) and shape the next start."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import test_gui_app  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog, QLabel  # noqa: E402

from perfjam.audio_drivers import DEFAULT_AUDIO_DRIVERS, ENV_AUDIO_DRIVERS, NO_AUDIO, preferred_first  # noqa: E402
from perfjam.gui.preferences import PreferencesDialog  # noqa: E402
from perfjam.gui.settings import Settings  # noqa: E402

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it


def _open(window) -> PreferencesDialog:
    (action,) = [a for a in window.menuBar().actions()[0].menu().actions()
                 if a.text().replace("&", "") == "Audio and MIDI settings…"]
    assert {k.toString() for k in action.shortcuts()} == {"Ctrl+,"}
    action.trigger()
    (dialog,) = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, PreferencesDialog) and w.isVisible()]
    assert dialog.isModal()  # window-modal (``open``): the music plays on behind it
    return dialog


def test_audio_and_midi_settings_stick_and_apply_to_the_running_engine_at_once(harness, tmp_path, qtbot):
    path = tmp_path / "prefs.ini"
    h = harness(settings_path=path)
    h.status(lambda s: True)
    # no pedal answers by default: the soft pedal is for playing softly (issue 19)
    assert h.engine.query(lambda loop: loop.steering.answer_cc) is None
    dialog = _open(h.window)
    assert dialog.answer_cc.currentData() is None and dialog.driver.currentData() is None
    dialog.driver.setCurrentIndex(dialog.driver.findData(NO_AUDIO))
    dialog.thru.setChecked(True)
    dialog.thru_channel.setValue(5)
    dialog.out_channel.setValue(3)
    dialog.seed.setValue(1234)
    dialog.answer_cc.setCurrentIndex(dialog.answer_cc.findData(66))
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted

    def applied(loop):
        midi = loop.outlets.midi
        steering = loop.steering
        return (steering.answer_cc, midi.thru, midi.thru_channel, midi.out_channel,
                steering.sampler.rng.bit_generator.seed_seq.entropy, loop.audio.busy, loop.synth.audio_driver)

    qtbot.waitUntil(lambda: h.engine.query(applied) == (66, True, 4, 2, 1234, False, None), timeout=5000)
    h.status(lambda s: s.audio == "no audio output")  # the status bar says so
    kept = Settings(path)
    assert (kept.audio_driver, kept.midi_thru, kept.thru_channel, kept.out_channel, kept.seed,
            kept.answer_cc) == (NO_AUDIO, True, 5, 3, 1234, 66)

    again = _open(h.window)  # shows what was saved
    assert (again.driver.currentData(), again.thru.isChecked(), again.thru_channel.value(),
            again.out_channel.value(), again.seed.value(), again.answer_cc.currentData()) == \
        (NO_AUDIO, True, 5, 3, 1234, 66)
    labels = {label.text() for label in again.findChildren(QLabel)}
    assert {"Audio driver", "MIDI thru", "Random seed", "PerfJam's notes on channel",
            "Answer now with"} <= labels
    again.answer_cc.setCurrentIndex(again.answer_cc.findData(None))  # "None": no controller answers
    again.seed.setValue(-1)  # random again
    again.accept()
    qtbot.waitUntil(lambda: h.engine.query(lambda loop: loop.steering.answer_cc) is None, timeout=5000)
    assert Settings(path).answer_cc is None and Settings(path).seed is None


def test_the_saved_settings_shape_the_next_start(harness, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_AUDIO_DRIVERS, raising=False)
    path = tmp_path / "next.ini"
    st = Settings(path)
    st.midi_thru, st.thru_channel, st.out_channel, st.seed, st.answer_cc = True, 4, 2, 77, 69
    st.audio_driver = NO_AUDIO
    st.sync()
    h = harness(settings_path=path, no_audio=False)  # no --no-audio: the settings' driver choice counts
    assert h.startup.synth is not None and h.startup.synth.config.audio_drivers == ()
    midi, config = h.engine.midi, h.engine.config
    assert (midi.thru, midi.thru_channel, midi.out_channel) == (True, 3, 1)  # 0-based on the wire
    assert (config.seed, config.answer_cc) == (77, 69)
    assert h.engine.query(lambda loop: loop.steering.answer_cc) == 69


def test_the_chosen_audio_driver_is_tried_first_then_the_others():
    assert preferred_first(None) == DEFAULT_AUDIO_DRIVERS
    assert preferred_first(NO_AUDIO) == ()
    jack_first = preferred_first("jack")
    assert jack_first[0] == "jack" and sorted(jack_first) == sorted(DEFAULT_AUDIO_DRIVERS)


def test_bad_audio_and_midi_values_in_the_settings_file_fall_back(tmp_path):
    path = tmp_path / "garbage.ini"
    path.write_text("[midi]\nout_channel=99\nthru_channel=abc\nanswer_cc=300\nthru=maybe\n"
                    "[play]\nseed=-5\nfollow_key=false\n")
    st = Settings(path)
    assert (st.out_channel, st.thru_channel, st.answer_cc, st.midi_thru) == (16, 2, None, False)
    assert st.seed is None and st.follow_key is False
    fresh = Settings(tmp_path / "fresh.ini")
    assert (fresh.answer_cc, fresh.out_channel, fresh.thru_channel, fresh.follow_key, fresh.seed,
            fresh.audio_driver) == (None, 1, 2, True, None, None)
