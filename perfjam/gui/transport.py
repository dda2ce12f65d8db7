"""The transport bar: start/stop PerfJam, record, panic, the mode and the temperature. It only
emits signals; the main window forwards them to the engine bridge.

Its buttons keep one width whatever they say (Record turning into a timer never moves the mode
buttons), and the start/stop button looks like what pressing it does: a green "go" while
PerfJam is stopped, a quiet stop button while it plays.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from perfjam.gui.settings import MAX_TEMPERATURE, MIN_TEMPERATURE
from perfjam.gui.widgets import fix_width, no_focus, section

MODE_LABELS = {"call": "Call && response", "duet": "Duet", "solo": "Solo"}
MODE_TIPS = {
    "call": "You play a phrase; PerfJam answers when you pause.",
    "duet": "PerfJam plays along with you, all the time.",
    "solo": "PerfJam plays on its own; your notes steer it.",
}
START_TEXT, STOP_TEXT = "▶  Start", "■  Stop"
START_TIP = "PerfJam is stopped: it does not answer. Click (or Space) to start it."
STOP_TIP = "PerfJam is on and answers you. Click (or Space) to stop it."
RECORD_TEXT = "●  Record"
TIMER_WIDEST = "●  00:00"  # every m:ss of a take is as wide as this in the button's font
BIG_BUTTON = "font-size: 13pt; font-weight: bold; min-height: 2.1em; padding: 4px 16px;"
RECORDING = "background: #e5484d; border-color: #ff8a8d; color: white;"


def temperature_word(t: float) -> str:
    return "safe" if t < 0.6 else "balanced" if t < 1.15 else "adventurous" if t < 1.5 else "wild"


def recording_text(elapsed_s: float | None) -> str:
    seconds = int(elapsed_s or 0)
    return f"●  {seconds // 60:02d}:{seconds % 60:02d}"


class TransportBar(QFrame):
    playToggled = Signal(bool)
    recordToggled = Signal(bool)
    panicClicked = Signal()
    modeChanged = Signal(str)
    temperatureChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.setSpacing(10)

        self.play = QPushButton(START_TEXT)
        self.play.setObjectName("play")
        self.play.setCheckable(True)
        self.play.setToolTip(START_TIP)
        self.record = QPushButton(RECORD_TEXT)
        self.record.setObjectName("record")
        self.record.setCheckable(True)
        self.record.setToolTip("Record you and PerfJam to a MIDI file (R)")
        self.panic = QPushButton("Panic")
        self.panic.setObjectName("panic")
        self.panic.setToolTip("Silence everything now: all notes off (Esc)")
        for button in (self.play, self.record, self.panic):
            button.setStyleSheet(BIG_BUTTON)
            row.addWidget(button)
        self.play.toggled.connect(self._on_play)
        self.record.toggled.connect(self._on_record)
        self.panic.clicked.connect(self.panicClicked)
        row.addSpacing(16)

        mode_box = QVBoxLayout()
        mode_box.setSpacing(2)
        mode_box.addWidget(section("Mode"))
        mode_row = QHBoxLayout()
        mode_row.setSpacing(0)
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QPushButton] = {}
        for mode, label in MODE_LABELS.items():
            button = QPushButton(label)
            button.setObjectName("mode")
            button.setCheckable(True)
            button.setToolTip(MODE_TIPS[mode])
            self.mode_group.addButton(button)
            self.mode_buttons[mode] = button
            mode_row.addWidget(button)
            button.toggled.connect(lambda on, m=mode: on and self.modeChanged.emit(m))
        self.mode_buttons["call"].setChecked(True)
        mode_box.addLayout(mode_row)
        row.addLayout(mode_box)
        row.addSpacing(16)

        temp_box = QVBoxLayout()
        temp_box.setSpacing(2)
        temp_box.addWidget(section("Temperature"))
        temp_row = QHBoxLayout()
        self.temperature = QSlider(Qt.Orientation.Horizontal)
        self.temperature.setRange(round(MIN_TEMPERATURE * 100), round(MAX_TEMPERATURE * 100))
        self.temperature.setPageStep(10)
        self.temperature.setValue(100)
        self.temperature.setMinimumWidth(120)
        self.temperature.setToolTip("Low: safe and repetitive. High: surprising, then chaotic. (arrow keys)")
        self.temperature_value = QLabel("1.00")
        self.temperature_value.setObjectName("value")
        self.temperature_word = QLabel("balanced")
        self.temperature_word.setMinimumWidth(90)
        self.temperature_word.setStyleSheet("color: #8b92a1;")
        temp_row.addWidget(self.temperature, 1)
        temp_row.addWidget(self.temperature_value)
        temp_row.addWidget(self.temperature_word)
        temp_box.addLayout(temp_row)
        row.addLayout(temp_box, 1)
        self.temperature.valueChanged.connect(self._on_temperature)
        no_focus(self.play, self.record, self.panic, self.temperature, *self.mode_buttons.values())
        self.fix_widths()

    def fix_widths(self) -> None:
        """One width per button whatever it says (again after the application's style changes)."""
        fix_width(self.play, (START_TEXT, STOP_TEXT))
        fix_width(self.record, (RECORD_TEXT, TIMER_WIDEST))
        fix_width(self.panic, ("Panic",))

    # ---- state from the engine (no signals emitted) -------------------------------------------
    def set_playing(self, playing: bool) -> None:
        if self.play.isChecked() != playing:
            self.play.blockSignals(True)
            self.play.setChecked(playing)
            self.play.blockSignals(False)
        self.play.setText(STOP_TEXT if playing else START_TEXT)
        self.play.setToolTip(STOP_TIP if playing else START_TIP)

    def set_recording(self, recording: bool, elapsed_s: float | None = None) -> None:
        if self.record.isChecked() != recording:
            self.record.blockSignals(True)
            self.record.setChecked(recording)
            self.record.blockSignals(False)
        self.record.setText(recording_text(elapsed_s) if recording else RECORD_TEXT)
        style = BIG_BUTTON + (RECORDING if recording else "")
        if self.record.styleSheet() != style:  # a style change re-polishes: only when it changes
            self.record.setStyleSheet(style)

    def set_mode(self, mode: str) -> None:
        button = self.mode_buttons.get(mode)
        if button is not None and not button.isChecked():
            button.setChecked(True)  # emits modeChanged: the engine hears the restored mode too

    def mode(self) -> str:
        return next(m for m, b in self.mode_buttons.items() if b.isChecked())

    def set_temperature(self, value: float) -> None:
        self.temperature.setValue(round(value * 100))

    def temperature_value_f(self) -> float:
        return self.temperature.value() / 100

    def nudge_temperature(self, delta: float) -> None:
        self.set_temperature(self.temperature_value_f() + delta)

    def _on_play(self, on: bool) -> None:
        self.set_playing(on)
        self.playToggled.emit(on)

    def _on_record(self, on: bool) -> None:
        self.set_recording(on)
        self.recordToggled.emit(on)

    def _on_temperature(self, value: int) -> None:
        t = value / 100
        self.temperature_value.setText(f"{t:.2f}")
        self.temperature_word.setText(temperature_word(t))
        self.temperatureChanged.emit(t)
