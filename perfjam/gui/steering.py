"""Steering, between the side panel, the transport, the keyboard, the settings and the engine:
style presets (temperature, density and response gap together; the picker shows the preset the
controls match, so what was chosen comes back with them after a restart), Key follows me (a
setting that sticks; the key it asks for is marked on the keyboard, as is a key chosen by hand),
and Answer now (the side panel's button, Return, and a MIDI controller such as the soft pedal)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QMainWindow,  # the window: perfjam.gui.window.MainWindow (it imports this module)
)

from perfjam.gui.presets import key_classes, matching_preset, preset_named
from perfjam.gui.settings import DEFAULT_LOUDNESS


class Steering(QObject):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.side, self.transport, self.keyboard = window.side, window.transport, window.keyboard
        self.bridge, self.settings = window.bridge, window.settings
        self._steerable: bool | None = None  # whether the model playing has controls (from its status)
        self.side.presetChosen.connect(self.apply_preset)
        self.side.answerRequested.connect(self.answer_now)
        self.side.followKeyChanged.connect(self._on_follow_key)
        self.side.loudnessChanged.connect(self._on_loudness)
        self.transport.temperatureChanged.connect(lambda _t: self.show_preset())
        self.side.responseChanged.connect(lambda *_: self.show_preset())
        self.side.controlsChanged.connect(lambda *_: self.show_preset())

    # ---- settings -----------------------------------------------------------------------------
    def restore(self) -> None:
        """Show what is remembered (after the temperature, response and density are restored)."""
        self.side.set_follow_key(self.settings.follow_key)
        self.side.set_loudness(self.settings.loudness)
        self.show_preset()

    def reset(self) -> None:
        """Back to the defaults: Key follows me on (where the model can follow), as loud as you."""
        on = self._steerable is not False
        self.side.set_follow_key(on)
        self.bridge.set_follow_key(on)
        self.side.set_loudness(DEFAULT_LOUDNESS)
        self._on_loudness(DEFAULT_LOUDNESS)
        self.show_preset()

    def send_all(self) -> None:
        """Tell a (new) engine what steers it besides temperature, response and controls."""
        self.bridge.set_follow_key(self.side.follow_key.isChecked())
        self.bridge.set_loudness(self.settings.loudness)
        self.bridge.set_answer_cc(self.settings.answer_cc)

    # ---- presets ------------------------------------------------------------------------------
    def apply_preset(self, name: str) -> None:
        """Set temperature, density and gap as the preset says (each sent and remembered as if
        the pianist had set it)."""
        preset = preset_named(name)
        if preset is None:  # "Custom" picks nothing: it shows when the controls match no preset
            self.show_preset()
            return
        self.transport.set_temperature(preset.temperature)
        self.side.set_density(preset.density_index)
        self.side.gap.setValue(preset.gap_ms)
        self.show_preset()

    def show_preset(self) -> None:
        preset = matching_preset(self.transport.temperature_value_f(), self.side.density.currentIndex(),
                                 self.side.gap.value())
        self.side.show_preset(preset.name if preset is not None else None)

    # ---- Key follows me and Answer now --------------------------------------------------------
    def _on_follow_key(self, on: bool) -> None:
        self.settings.follow_key = on
        self.bridge.set_follow_key(on)

    def _on_loudness(self, loudness: str) -> None:
        self.settings.loudness = loudness
        self.bridge.set_loudness(loudness)

    def answer_now(self) -> bool:
        """Call and response: PerfJam answers at once (in the other modes it plays anyway)."""
        if self.transport.mode() != "call":
            return False
        self.bridge.answer_now()
        return True

    def news(self, s: Any) -> None:
        """An engine status: Key follows me shows on only where the model can follow (the setting
        stays as it is); the key asked of the model is marked on the keyboard."""
        steerable = bool(s.has_controls)
        if steerable != self._steerable:
            self._steerable = steerable
            on = steerable and self.settings.follow_key
            self.side.set_follow_key(on)
            self.bridge.set_follow_key(on)
        self.keyboard.set_key_classes(key_classes(s.key_histogram) if steerable else frozenset())
