"""The side panel: model, sound, MIDI ports, style and response (and Answer now), density and key
(and Key follows me), and the computer keyboard's layout. It only emits signals; the main window
forwards them to the engine bridge."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from perfjam.controls import PITCH_CLASS_NAMES, SCALES, pitch_name
from perfjam.follow import LOUDNESS
from perfjam.gui.files import same_file
from perfjam.gui.presets import CUSTOM, DENSITIES, PRESETS
from perfjam.gui.settings import (
    DEFAULT_GAP_MS,
    DEFAULT_LENGTH_S,
    GAP_RANGE_MS,
    LENGTH_RANGE_S,
)
from perfjam.gui.widgets import no_focus, section

NO_CONTROLS_TIP = (
    "The loaded model was trained without controls, so it cannot be steered by density or key.\n"
    "Choose a model marked “steers” (or File ▸ Open model) to use these."
)
STEERS = "  · steers"  # after a steerable model's name in the picker
ANSWER_TEXT = "Answer now  ⏎"
ANSWER_TIP = "PerfJam answers at once, without waiting for your pause (Return, or your foot switch)"
FOLLOW_TIP = "PerfJam plays in the key of what you have just played (its notes are marked on the keyboard)"
FOLLOWING_TIP = "Key follows me is on: the key comes from your playing"
LOUDNESS_LABELS = {"softer": "Softer than me", "as me": "As loud as me", "louder": "Louder than me",
                   "own": "Own dynamics"}  # perfjam.follow.LOUDNESS
LOUDNESS_TIP = "How loud PerfJam plays: from your last notes, or as the model likes"
NONE_PORT = "(none)"
PANEL_WIDTH = 290
PANEL_MARGIN = 14


def _model_label(name_or_path: str) -> str:
    return Path(name_or_path).name if "/" in name_or_path or name_or_path.endswith(".onnx") else name_or_path


class SidePanel(QFrame):
    modelChosen = Signal(str)  # shipped name or file path
    openModelRequested = Signal()
    soundfontChosen = Signal(str)
    openSoundfontRequested = Signal()
    midiInputChanged = Signal(object)  # port name or None
    midiOutputChanged = Signal(object)
    responseChanged = Signal(int, float)  # gap_ms, length_s
    controlsChanged = Signal(object, object)  # notes_per_s or None, (key, scale) or None
    presetChosen = Signal(str)  # a name of perfjam.gui.presets.PRESETS ("": Custom)
    answerRequested = Signal()
    followKeyChanged = Signal(bool)
    loudnessChanged = Signal(str)  # perfjam.follow.LOUDNESS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.setFixedWidth(PANEL_WIDTH)
        grid = QVBoxLayout(self)
        grid.setContentsMargins(PANEL_MARGIN, 12, PANEL_MARGIN, 12)
        grid.setSpacing(6)

        grid.addWidget(section("Model"))
        self.model = QComboBox()
        self.model.setToolTip("The neural network that plays with you")
        grid.addWidget(self.model)
        self.model_about = QLabel()  # a line about the chosen model (its metadata), in two rows at most
        self.model_about.setObjectName("muted")
        self.model_about.setWordWrap(True)
        self.model_about.setTextFormat(Qt.TextFormat.PlainText)
        grid.addWidget(self.model_about)
        self._descriptions: dict[str, str] = {}
        grid.addWidget(section("Sound"))
        self.soundfont = QComboBox()
        self.soundfont.setToolTip("The SoundFont FluidSynth plays through")
        grid.addWidget(self.soundfont)
        grid.addSpacing(2)
        grid.addWidget(section("MIDI in  (your keyboard)"))
        self.midi_in = QComboBox()
        grid.addWidget(self.midi_in)
        grid.addWidget(section("MIDI out"))
        self.midi_out = QComboBox()
        self.midi_out.setToolTip("Send PerfJam's notes to another synth or DAW")
        grid.addWidget(self.midi_out)
        grid.addSpacing(2)

        grid.addWidget(section("Style and response"))
        response = QGridLayout()
        self.preset = QComboBox()
        for preset in PRESETS:
            self.preset.addItem(preset.name, preset.name)
            self.preset.setItemData(self.preset.count() - 1, preset.tip, Qt.ItemDataRole.ToolTipRole)
        self.preset.addItem(CUSTOM, "")
        self.preset.setToolTip("A style: temperature, density and gap together")
        self.answer = QPushButton(ANSWER_TEXT)
        self.answer.setObjectName("answer")
        self.answer.setToolTip(ANSWER_TIP)
        self.gap = QSpinBox()
        self.gap.setRange(*GAP_RANGE_MS)
        self.gap.setSingleStep(100)
        self.gap.setSuffix(" ms")
        self.gap.setValue(DEFAULT_GAP_MS)
        self.gap.setToolTip("How long you pause before PerfJam answers")
        self.length = QDoubleSpinBox()
        self.length.setRange(*LENGTH_RANGE_S)
        self.length.setSingleStep(1.0)
        self.length.setDecimals(0)
        self.length.setSuffix(" s")
        self.length.setValue(DEFAULT_LENGTH_S)
        self.length.setToolTip("How long PerfJam's answer lasts at most")
        self.gap_label, self.length_label = QLabel("Gap"), QLabel("Length")
        style = QHBoxLayout()
        style.addWidget(self.preset, 1)
        style.addWidget(self.answer)
        grid.addLayout(style)
        response.setHorizontalSpacing(4)
        for spin in (self.gap, self.length):  # may be narrower than their hint: both on one row
            spin.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        response.addWidget(self.gap_label, 0, 0)
        response.addWidget(self.gap, 0, 1)
        response.addWidget(self.length_label, 0, 2)
        response.addWidget(self.length, 0, 3)
        response.setColumnStretch(1, 1)
        response.setColumnStretch(3, 1)
        grid.addLayout(response)

        grid.addWidget(section("Steering"))
        steer = QGridLayout()
        steer.setVerticalSpacing(3)  # (with the loudness picker's row the window still fits 700 px)
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
        self.follow_key = QCheckBox("Key follows me")
        self.follow_key.setToolTip(FOLLOW_TIP)
        self.loudness = QComboBox()  # its choices say what it is: "As loud as me", ...
        for value in LOUDNESS:
            self.loudness.addItem(LOUDNESS_LABELS[value], value)
        self.loudness.setToolTip(LOUDNESS_TIP)
        self.loudness.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.loudness.setMinimumContentsLength(9)  # beside Key follows me in the panel's width
        follow = QHBoxLayout()  # (its own row: its widths do not widen the pickers' columns)
        follow.addWidget(self.follow_key)
        follow.addWidget(self.loudness, 1)
        steer.addLayout(follow, 2, 0, 1, 3)
        grid.addLayout(steer)
        grid.addStretch(1)
        grid.addWidget(section("Computer keyboard"))
        self.qwerty_hint = QLabel()  # short lines, never wrapped: its height is known to the layout
        self.qwerty_hint.setObjectName("muted")
        grid.addWidget(self.qwerty_hint)

        no_focus(self.model, self.soundfont, self.midi_in, self.midi_out, self.density, self.key, self.scale,
                 self.preset, self.answer, self.follow_key, self.loudness)
        for spin in (self.gap, self.length):
            spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            spin.editingFinished.connect(spin.clearFocus)
        self.model.activated.connect(self._on_model)
        self.model.currentIndexChanged.connect(lambda _: self._show_model_about())
        self.soundfont.activated.connect(self._on_soundfont)
        self.midi_in.activated.connect(lambda _: self.midiInputChanged.emit(self.midi_in.currentData()))
        self.midi_out.activated.connect(lambda _: self.midiOutputChanged.emit(self.midi_out.currentData()))
        self.gap.valueChanged.connect(self._emit_response)
        self.length.valueChanged.connect(self._emit_response)
        for combo in (self.density, self.key, self.scale):
            combo.currentIndexChanged.connect(self._emit_controls)
        self.preset.activated.connect(lambda _: self.presetChosen.emit(self.preset.currentData() or ""))
        self.answer.clicked.connect(self.answerRequested)
        self.follow_key.toggled.connect(self._on_follow_key)
        self.loudness.activated.connect(lambda _: self.loudnessChanged.emit(self.loudness.currentData()))
        self._has_controls: bool | None = None
        self.set_has_controls(False)

    def set_qwerty(self, base: int, velocity: int) -> None:
        self.qwerty_hint.setText(
            f"A S D F …  white keys {pitch_name(base)} to {pitch_name(base + 17)}\n"
            "W E T Y U …  black keys\n"
            f"Z / X  octave  ·  C / V  velocity {velocity}"
        )

    # ---- pickers ------------------------------------------------------------------------------
    def set_models(self, names: list[str], current: str | None,
                   descriptions: dict[str, str] | None = None, steerable: set[str] | None = None) -> None:
        """Shipped models by name, then model files (recent ones) by file name, those that density
        and key steer marked; each described in a line (its tooltip in the list, and under the
        picker for the chosen one)."""
        self._descriptions = dict(descriptions or {})
        steers = steerable or set()
        items = [(_model_label(n) + (STEERS if n in steers else ""), n) for n in dict.fromkeys(names)]
        self._fill(self.model, items, current, "Open model file…")
        for i in range(self.model.count()):
            value = self.model.itemData(i)
            line = self._descriptions.get(value) if value else None
            if line:
                self.model.setItemData(i, f"{line}\n{value}", Qt.ItemDataRole.ToolTipRole)
        self._show_model_about()

    def _show_model_about(self) -> None:
        text = self._descriptions.get(self.model.currentData() or "", "")
        self.model_about.ensurePolished()  # its font comes from the style sheet
        self.model_about.setFixedHeight(2 * self.model_about.fontMetrics().lineSpacing() + 2)  # never moves
        self.model_about.setText(text)
        self.model_about.setToolTip(text)

    def set_soundfonts(self, paths: list[str], current: str | None) -> None:
        """The SoundFonts by name; ``current`` is shown as the listed file it is (a symlink to a
        listed file is that file)."""
        current = next((p for p in paths if current and same_file(p, current)), current)
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
        if combo is self.model:
            self._show_model_about()

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
        for w in (self.gap, self.length, self.gap_label, self.length_label, self.answer):
            w.setEnabled(mode == "call")

    def set_response(self, gap_ms: int, length_s: float) -> None:
        self.gap.setValue(gap_ms)
        self.length.setValue(length_s)

    def _emit_response(self) -> None:
        self.responseChanged.emit(self.gap.value(), self.length.value())

    def set_has_controls(self, has: bool) -> None:
        if has == self._has_controls:
            return  # (told at every status report)
        self._has_controls = has
        for w in (self.density, self.density_label, self.follow_key):
            w.setEnabled(has)
            w.setToolTip("" if has else NO_CONTROLS_TIP)
        if has:
            self.density.setToolTip("How many notes per second PerfJam aims for")
            self.follow_key.setToolTip(FOLLOW_TIP)
        self._show_key_choice()

    def _show_key_choice(self) -> None:
        """The key and scale pickers: for a steerable model, unless the key follows the pianist."""
        following = self.follow_key.isChecked()
        usable = self._has_controls and not following
        for w in (self.key, self.key_label):
            w.setEnabled(usable)
            w.setToolTip(NO_CONTROLS_TIP if not self._has_controls else FOLLOWING_TIP if following
                         else "Keep PerfJam's notes in this key")
        self.scale.setEnabled(usable and self.key.currentData() != -1)
        self.scale.setToolTip(self.key.toolTip())

    def set_follow_key(self, on: bool) -> None:
        """Show Key follows me without emitting anything."""
        self.follow_key.blockSignals(True)
        self.follow_key.setChecked(on)
        self.follow_key.blockSignals(False)
        self._show_key_choice()

    def _on_follow_key(self, on: bool) -> None:
        self._show_key_choice()
        self.followKeyChanged.emit(on)

    def set_loudness(self, loudness: str) -> None:
        """Show the loudness without emitting anything."""
        self.loudness.setCurrentIndex(max(0, self.loudness.findData(loudness)))

    def show_preset(self, name: str | None) -> None:
        """Show the preset the controls match (None: Custom) without emitting anything."""
        index = self.preset.findData(name or "")
        self.preset.blockSignals(True)
        self.preset.setCurrentIndex(index if index >= 0 else self.preset.count() - 1)
        self.preset.blockSignals(False)

    def set_density(self, index: int) -> None:
        """Choose a density as the user does (sent, and remembered, by the window)."""
        self.density.setCurrentIndex(max(0, min(index, self.density.count() - 1)))

    def set_steering(self, density: int, key: int, scale: str) -> None:
        """Show remembered steering without emitting anything (setting one combo must not send,
        and so save, the others before they are restored)."""
        combos = (self.density, self.key, self.scale)
        for combo in combos:
            combo.blockSignals(True)
        self.density.setCurrentIndex(max(0, min(density, self.density.count() - 1)))
        self.key.setCurrentIndex(max(0, self.key.findData(key)))
        self.scale.setCurrentIndex(max(0, self.scale.findText(scale)))
        for combo in combos:
            combo.blockSignals(False)
        self._show_key_choice()

    def controls(self) -> tuple[float | None, tuple[int, str] | None]:
        key = self.key.currentData()
        pitch = None if key is None or key < 0 else (int(key), self.scale.currentText())
        return DENSITIES[self.density.currentIndex()][1], pitch

    def _emit_controls(self) -> None:
        self._show_key_choice()
        self.controlsChanged.emit(*self.controls())
