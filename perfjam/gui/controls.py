"""The control widgets: the transport bar (start, record, panic, mode, temperature) and the side
panel (model, sound, MIDI ports, response, density and key). They only emit signals; the main
window forwards them to the engine bridge."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from perfjam.controls import PITCH_CLASS_NAMES, SCALES
from perfjam.gui.keyboard import note_name
from perfjam.gui.settings import MAX_TEMPERATURE, MIN_TEMPERATURE

MODE_LABELS = {"call": "Call && response", "duet": "Duet", "solo": "Solo"}
MODE_TIPS = {
    "call": "You play a phrase; PerfJam answers when you pause.",
    "duet": "PerfJam plays along with you, all the time.",
    "solo": "PerfJam plays on its own; your notes steer it.",
}
# (label, notes per second or None = follow the pianist); one per density bin of perfjam.controls
DENSITIES: tuple[tuple[str, float | None], ...] = (
    ("Follow me", None), ("Very sparse  (<1/s)", 0.5), ("Sparse  (1–2/s)", 1.5), ("Relaxed  (2–4/s)", 3.0),
    ("Moderate  (4–8/s)", 6.0), ("Busy  (8–16/s)", 12.0), ("Dense  (16–32/s)", 24.0),
    ("Very dense  (32–64/s)", 48.0), ("Torrent  (64+/s)", 80.0),
)
NO_CONTROLS_TIP = (
    "The loaded model was trained without controls, so it cannot be steered by density or key.\n"
    "Load a conditioned model (File ▸ Open model) to use these."
)
NONE_PORT = "(none)"
BIG_BUTTON = "font-size: 13pt; font-weight: bold; min-height: 2.1em; padding: 4px 16px;"
RECORDING = "background: #e5484d; border-color: #ff8a8d; color: white;"


def temperature_word(t: float) -> str:
    return "safe" if t < 0.6 else "balanced" if t < 1.15 else "adventurous" if t < 1.5 else "wild"


def _section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("section")
    return label


def _no_focus(*widgets: QWidget) -> None:
    """Controls never take keyboard focus, so the computer keyboard always plays notes."""
    for w in widgets:
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)


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

        self.play = QPushButton("▶  Start")
        self.play.setObjectName("play")
        self.play.setCheckable(True)
        self.play.setToolTip("Start or stop PerfJam (Space)")
        self.record = QPushButton("●  Record")
        self.record.setObjectName("record")
        self.record.setCheckable(True)
        self.record.setToolTip("Record you and PerfJam to a MIDI file (R)")
        self.panic = QPushButton("Panic")
        self.panic.setObjectName("panic")
        self.panic.setToolTip("Silence everything now: all notes off (Esc)")
        for button in (self.play, self.record, self.panic):
            button.setMinimumWidth(112)
            button.setStyleSheet(BIG_BUTTON)
            row.addWidget(button)
        self.play.toggled.connect(self._on_play)
        self.record.toggled.connect(self._on_record)
        self.panic.clicked.connect(self.panicClicked)
        row.addSpacing(16)

        mode_box = QVBoxLayout()
        mode_box.setSpacing(2)
        mode_box.addWidget(_section("Mode"))
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
        temp_box.addWidget(_section("Temperature"))
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
        _no_focus(self.play, self.record, self.panic, self.temperature, *self.mode_buttons.values())

    # ---- state from the engine (no signals emitted) -------------------------------------------
    def set_playing(self, playing: bool) -> None:
        if self.play.isChecked() != playing:
            self.play.blockSignals(True)
            self.play.setChecked(playing)
            self.play.blockSignals(False)
        self.play.setText("■  Stop" if playing else "▶  Start")

    def set_recording(self, recording: bool, elapsed_s: float | None = None) -> None:
        if self.record.isChecked() != recording:
            self.record.blockSignals(True)
            self.record.setChecked(recording)
            self.record.blockSignals(False)
        if recording:
            seconds = int(elapsed_s or 0)
            self.record.setText(f"●  {seconds // 60:02d}:{seconds % 60:02d}")
        else:
            self.record.setText("●  Record")
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


class SidePanel(QFrame):
    modelChosen = Signal(str)  # shipped name or file path
    openModelRequested = Signal()
    soundfontChosen = Signal(str)
    openSoundfontRequested = Signal()
    midiInputChanged = Signal(object)  # port name or None
    midiOutputChanged = Signal(object)
    responseChanged = Signal(int, float)  # gap_ms, length_s
    controlsChanged = Signal(object, object)  # notes_per_s or None, (key, scale) or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.setFixedWidth(290)
        grid = QVBoxLayout(self)
        grid.setContentsMargins(14, 12, 14, 12)
        grid.setSpacing(6)

        grid.addWidget(_section("Model"))
        self.model = QComboBox()
        self.model.setToolTip("The neural network that plays with you")
        grid.addWidget(self.model)
        grid.addWidget(_section("Sound"))
        self.soundfont = QComboBox()
        self.soundfont.setToolTip("The SoundFont FluidSynth plays through")
        grid.addWidget(self.soundfont)
        grid.addSpacing(6)
        grid.addWidget(_section("MIDI in  (your keyboard)"))
        self.midi_in = QComboBox()
        grid.addWidget(self.midi_in)
        grid.addWidget(_section("MIDI out"))
        self.midi_out = QComboBox()
        self.midi_out.setToolTip("Send PerfJam's notes to another synth or DAW")
        grid.addWidget(self.midi_out)
        grid.addSpacing(6)

        grid.addWidget(_section("Response  (call & response)"))
        response = QGridLayout()
        self.gap = QSpinBox()
        self.gap.setRange(100, 5000)
        self.gap.setSingleStep(100)
        self.gap.setSuffix(" ms")
        self.gap.setValue(600)
        self.gap.setToolTip("How long you pause before PerfJam answers")
        self.length = QDoubleSpinBox()
        self.length.setRange(1.0, 60.0)
        self.length.setSingleStep(1.0)
        self.length.setDecimals(0)
        self.length.setSuffix(" s")
        self.length.setValue(8.0)
        self.length.setToolTip("How long PerfJam's answer lasts at most")
        self.gap_label, self.length_label = QLabel("Gap"), QLabel("Length")
        response.addWidget(self.gap_label, 0, 0)
        response.addWidget(self.gap, 0, 1)
        response.addWidget(self.length_label, 1, 0)
        response.addWidget(self.length, 1, 1)
        grid.addLayout(response)
        grid.addSpacing(6)

        grid.addWidget(_section("Steering"))
        steer = QGridLayout()
        self.density = QComboBox()
        for label, _ in DENSITIES:
            self.density.addItem(label)
        self.key = QComboBox()
        self.key.addItem("Any key", -1)
        for i, name in enumerate(PITCH_CLASS_NAMES):
            self.key.addItem(name, i)
        self.scale = QComboBox()
        for name in SCALES:
            self.scale.addItem(name)
        self.density_label, self.key_label = QLabel("Density"), QLabel("Key")
        steer.addWidget(self.density_label, 0, 0)
        steer.addWidget(self.density, 0, 1, 1, 2)
        steer.addWidget(self.key_label, 1, 0)
        steer.addWidget(self.key, 1, 1)
        steer.addWidget(self.scale, 1, 2)
        grid.addLayout(steer)
        grid.addStretch(1)
        grid.addWidget(_section("Computer keyboard"))
        self.qwerty_hint = QLabel()
        self.qwerty_hint.setWordWrap(True)
        self.qwerty_hint.setStyleSheet("color: #8b92a1;")
        grid.addWidget(self.qwerty_hint)

        _no_focus(self.model, self.soundfont, self.midi_in, self.midi_out, self.density, self.key, self.scale)
        for spin in (self.gap, self.length):
            spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            spin.editingFinished.connect(spin.clearFocus)
        self.model.activated.connect(self._on_model)
        self.soundfont.activated.connect(self._on_soundfont)
        self.midi_in.activated.connect(lambda _: self.midiInputChanged.emit(self.midi_in.currentData()))
        self.midi_out.activated.connect(lambda _: self.midiOutputChanged.emit(self.midi_out.currentData()))
        self.gap.valueChanged.connect(self._emit_response)
        self.length.valueChanged.connect(self._emit_response)
        for combo in (self.density, self.key, self.scale):
            combo.currentIndexChanged.connect(self._emit_controls)
        self.set_has_controls(False)

    def set_qwerty(self, base: int, velocity: int) -> None:
        self.qwerty_hint.setText(
            f"A S D F… play {note_name(base)} to {note_name(base + 17)}, W E T Y U… the black keys.\n"
            f"Z / X: octave down / up  ·  C / V: velocity {velocity}"
        )

    # ---- pickers ------------------------------------------------------------------------------
    def set_models(self, names: list[str], current: str | None) -> None:
        """Shipped models by name, then model files (recent ones) by file name."""
        items = [(Path(n).name if "/" in n or n.endswith(".onnx") else n, n) for n in dict.fromkeys(names)]
        self._fill(self.model, items, current, "Open model file…")

    def set_soundfonts(self, paths: list[str], current: str | None) -> None:
        self._fill(self.soundfont, [(Path(p).stem, p) for p in paths], current, "Open SoundFont…")

    def _fill(
        self, combo: QComboBox, items: list[tuple[str, str]], current: str | None, open_label: str
    ) -> None:
        combo.blockSignals(True)
        combo.clear()
        values = [v for _, v in items]
        if current and current not in values:
            items = [*items, (Path(current).name, current)]
        for label, value in items:
            combo.addItem(label, value)
            combo.setItemData(combo.count() - 1, value, Qt.ItemDataRole.ToolTipRole)
        if not items:
            combo.addItem("(none)", "")  # nothing to choose yet: only the file entry below
        combo.insertSeparator(combo.count())
        combo.addItem(open_label, None)
        index = combo.findData(current) if current else -1
        combo.setCurrentIndex(index if index >= 0 else 0)
        combo.blockSignals(False)

    def _on_model(self, index: int) -> None:
        value = self.model.itemData(index)
        if value is None:
            self.openModelRequested.emit()
        elif value:
            self.modelChosen.emit(value)

    def _on_soundfont(self, index: int) -> None:
        value = self.soundfont.itemData(index)
        if value is None:
            self.openSoundfontRequested.emit()
        elif value:
            self.soundfontChosen.emit(value)

    def select(self, combo: QComboBox, value: str | None) -> None:
        index = combo.findData(value)
        if index >= 0:
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)

    def set_ports(self, combo: QComboBox, names: list[str], current: str | None) -> None:
        """Refill a port picker; a chosen port that is away stays listed as "not connected"."""
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(NONE_PORT, None)
        for name in names:
            combo.addItem(name, name)
        if current and current not in names:
            combo.addItem(f"{current}  (not connected)", current)
        index = combo.findData(current) if current else 0
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)

    # ---- response and steering ----------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        for w in (self.gap, self.length, self.gap_label, self.length_label):
            w.setEnabled(mode == "call")

    def set_response(self, gap_ms: int, length_s: float) -> None:
        self.gap.setValue(gap_ms)
        self.length.setValue(length_s)

    def _emit_response(self) -> None:
        self.responseChanged.emit(self.gap.value(), self.length.value())

    def set_has_controls(self, has: bool) -> None:
        for w in (self.density, self.key, self.scale, self.density_label, self.key_label):
            w.setEnabled(has)
            w.setToolTip("" if has else NO_CONTROLS_TIP)
        if has:
            self.density.setToolTip("How many notes per second PerfJam aims for")
            self.key.setToolTip("Keep PerfJam's notes in this key")
            self.scale.setEnabled(self.key.currentData() != -1)

    def controls(self) -> tuple[float | None, tuple[int, str] | None]:
        key = self.key.currentData()
        pitch = None if key is None or key < 0 else (int(key), self.scale.currentText())
        return DENSITIES[self.density.currentIndex()][1], pitch

    def _emit_controls(self) -> None:
        self.scale.setEnabled(self.key.isEnabled() and self.key.currentData() != -1)
        self.controlsChanged.emit(*self.controls())
