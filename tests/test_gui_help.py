"""Help and honesty (issue 11, §7, §1, §5): About tells the version, the credits and that the
shipped weights are non-commercial; the model picker describes each model from its own metadata;
messages say first what a musician can do, the developer's reason behind Details; without a file
manager, Recordings folder says where the takes are."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from importlib import metadata  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

import test_gui_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from perfjam.gui import app as gui_app  # noqa: E402
from perfjam.gui.messages import MessageBanner, show_about  # noqa: E402
from perfjam.gui.ports import NO_MIDI, PersistentLister, PortWatcher  # noqa: E402
from perfjam.model import PerformanceModel, shipped_models  # noqa: E402

DEVELOPER_WORDS = ("metadata", "perfjam_format", "JACK_DEFAULT_SERVER", "/dev/snd/seq", "protobuf", "rtmidi")

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it


def test_about_names_the_version_the_credits_and_the_non_commercial_weights(qtbot):
    box = show_about(None)
    qtbot.addWidget(box)
    text = box.text()
    assert f"PerfJam {metadata.version('perfjam')}" in text
    assert "non-commercial" in text and "CC BY-NC-SA 4.0" in text
    assert "ASAP" in text and "Yamaha e-Competition" in text
    assert "Performance RNN" in text and "Magenta" in text and "FluidSynth" in text


def test_the_model_picker_describes_each_model_from_its_metadata(harness, gui_models):
    h = harness(model=gui_models["conditioned"])
    w = h.window
    w.services.models = shipped_models
    w.services.describe_model = gui_app.describe_model
    w.refresh_models(gui_models["conditioned"])
    picker = w.side.model
    names = [*shipped_models(), gui_models["conditioned"]]
    assert names[0]  # the models ship with the repository
    for name in names:
        info = PerformanceModel.load(name).info
        tip = picker.itemData(picker.findData(name), Qt.ItemDataRole.ToolTipRole)
        line = tip.splitlines()[0]
        assert f"{info.vocab.size} events" in line and f"LSTM {info.layers}×{info.hidden}" in line
        assert ("with dynamics" in line) is info.vocab.dynamics
        assert ("not steerable" in line) is (not info.has_controls)
    assert w.side.model_about.text() == gui_app.describe_model(gui_models["conditioned"])
    assert "steers by density + key" in w.side.model_about.text()
    picker.setCurrentIndex(picker.findData("perfjam-dynamics"))  # the line follows the choice
    assert w.side.model_about.text() == gui_app.describe_model("perfjam-dynamics")


def test_a_model_that_cannot_be_opened_is_said_plainly_with_the_reason_behind_details(harness, tmp_path,
                                                                                      qtbot):
    bad = tmp_path / "mystery.onnx"
    bad.write_bytes(b"\x08\x07not a model at all" * 20)
    h = harness(model=str(bad))
    (message,) = [m for m in h.window.banner.messages() if "mystery.onnx" in m.text]
    assert not any(word in message.text for word in DEVELOPER_WORDS)
    assert "not a loadable ONNX model" in message.details
    assert h.window.banner.details.isVisible()
    qtbot.mouseClick(h.window.banner.details, Qt.MouseButton.LeftButton)
    box = h.window.banner.details_box
    assert box is not None and not box.isModal() and "not a loadable ONNX model" in box.detailedText()
    box.close()


def test_no_midi_system_is_said_in_a_musicians_words(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"perfjam-nobody-{os.getpid()}")  # no such server runs
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    banner = MessageBanner()
    qtbot.addWidget(banner)
    lister = PersistentLister("jack")
    watcher = PortWatcher(lister, poll_ms=100000)
    watcher.failed.connect(lambda error: banner.show_message(NO_MIDI, "warning", error, "midi-system"))
    watcher.refresh()
    watcher.stop()
    (message,) = banner.messages()
    assert message.text == "No MIDI system found — play with the computer keyboard or the mouse."
    assert "jack" in message.details.lower()
    banner.withdraw("midi-system")  # MIDI is back: the warning goes
    assert banner.messages() == [] and not banner.isVisible()


def test_recordings_folder_without_a_file_manager_says_where_the_takes_are(harness):
    h = harness()
    opened = h.window.files.open_recordings_folder()
    if opened:
        pytest.skip("this platform has a file manager")
    assert h.window.banner.messages()[-1].text == f"No file manager opened. Your takes are in {h.recordings}"
    assert h.recordings.is_dir()
