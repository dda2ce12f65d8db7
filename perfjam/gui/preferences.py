"""File ▸ Audio and MIDI settings: the audio driver, MIDI thru and its channel, the channel of
PerfJam's notes at MIDI out, the controller that answers now (a foot switch) and the random seed.
They stick (``Settings``) and apply at once: the engine reopens the audio (off its thread),
releases what sounds on channels that change, and draws with the new seed from then on."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMainWindow,  # the window: perfjam.gui.window.MainWindow (it imports this module)
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from perfjam.audio_drivers import DEFAULT_AUDIO_DRIVERS, NO_AUDIO, preferred_first
from perfjam.gui.statusbar import audio_text
from perfjam.gui.widgets import section

DRIVER_LABELS = {"pulseaudio": "PulseAudio (or PipeWire)", "jack": "JACK", "alsa": "ALSA", "sdl2": "SDL2"}
# (controller or None, what a musician calls it); 64 (sustain) is the pedal itself, never a trigger
ANSWER_CONTROLLERS: tuple[tuple[int | None, str], ...] = (
    (None, "None"), (67, "Soft pedal (CC 67)"), (66, "Sostenuto pedal (CC 66)"),
    (65, "Portamento switch (CC 65)"), (68, "Legato footswitch (CC 68)"), (69, "Hold 2 (CC 69)"),
    (80, "Button 1 (CC 80)"), (81, "Button 2 (CC 81)"), (82, "Button 3 (CC 82)"), (83, "Button 4 (CC 83)"),
)


class PreferencesDialog(QDialog):
    """Shows the settings; OK saves them (and applies what can be applied at once)."""

    def __init__(self, window: QMainWindow, playing_through: str | None = None) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Audio and MIDI settings")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        st = window.settings
        column = QVBoxLayout(self)
        column.addWidget(section("Audio"))
        audio = QFormLayout()
        self.driver = QComboBox()
        self.driver.addItem("Automatic (the first that works)", None)
        for name in DEFAULT_AUDIO_DRIVERS:
            self.driver.addItem(DRIVER_LABELS.get(name, name), name)
        self.driver.addItem("No audio (MIDI out only)", NO_AUDIO)
        _select(self.driver, st.audio_driver)
        self.driver.setToolTip("Tried first; if it does not work, the others are tried in turn")
        audio.addRow("Audio driver", self.driver)
        if playing_through:
            audio.addRow("", _muted(f"Playing now through: {playing_through}"))
        column.addLayout(audio)

        column.addWidget(section("MIDI"))
        midi = QFormLayout()
        self.thru = QCheckBox("Send your playing to MIDI out too")
        self.thru.setChecked(st.midi_thru)
        self.thru_channel = _channel_box(st.thru_channel)
        self.out_channel = _channel_box(st.out_channel)
        self.thru.toggled.connect(self.thru_channel.setEnabled)
        self.thru_channel.setEnabled(self.thru.isChecked())
        midi.addRow("MIDI thru", self.thru)
        midi.addRow("Your notes on channel", self.thru_channel)
        midi.addRow("PerfJam's notes on channel", self.out_channel)
        self.answer_cc = QComboBox()
        for cc, label in ANSWER_CONTROLLERS:
            self.answer_cc.addItem(label, cc)
        if st.answer_cc is not None and self.answer_cc.findData(st.answer_cc) < 0:
            self.answer_cc.addItem(f"CC {st.answer_cc}", st.answer_cc)
        _select(self.answer_cc, st.answer_cc)
        self.answer_cc.setToolTip("Pressing this pedal or button answers now (call and response)")
        midi.addRow("Answer now with", self.answer_cc)
        column.addLayout(midi)

        column.addWidget(section("Playing"))
        playing = QFormLayout()
        self.seed = QSpinBox()
        self.seed.setRange(-1, 999_999)
        self.seed.setSpecialValueText("Random each time")
        self.seed.setValue(-1 if st.seed is None else st.seed)
        self.seed.setToolTip("A fixed seed: the same playing gets the same answers")
        playing.addRow("Random seed", self.seed)
        column.addLayout(playing)
        ok, cancel = QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Cancel
        buttons = QDialogButtonBox(ok | cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)
        self.buttons = buttons

    def accept(self) -> None:
        """Save, and send to the engine what changed."""
        st, bridge = self.window_.settings, self.window_.bridge
        before = (st.audio_driver, st.midi_thru, st.thru_channel, st.out_channel, st.seed)
        st.audio_driver = self.driver.currentData()
        st.midi_thru = self.thru.isChecked()
        st.thru_channel = self.thru_channel.value()
        st.out_channel = self.out_channel.value()
        st.seed = None if self.seed.value() < 0 else self.seed.value()
        st.answer_cc = self.answer_cc.currentData()
        st.sync()
        bridge.set_answer_cc(st.answer_cc)
        if st.audio_driver != before[0]:
            bridge.set_audio_drivers(preferred_first(st.audio_driver))  # the status bar tells which
        if (st.midi_thru, st.thru_channel, st.out_channel) != before[1:4]:
            bridge.set_midi_channels(st.out_channel - 1, st.midi_thru, st.thru_channel - 1)
        if st.seed != before[4]:
            bridge.set_seed(st.seed)
        super().accept()


def _select(combo: QComboBox, value: object) -> None:
    index = combo.findData(value)
    combo.setCurrentIndex(index if index >= 0 else 0)


def _channel_box(channel: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(1, 16)
    box.setValue(channel)
    return box


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label


def open_preferences(window: QMainWindow) -> QWidget:
    """The dialog, window-modal (the music plays on)."""
    status = window.last_status
    dialog = PreferencesDialog(window, audio_text(status.audio)[1] if status is not None else None)
    dialog.open()
    return dialog
