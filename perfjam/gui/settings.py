"""What the app remembers between runs (QSettings with typed getters).

The default store is ``~/.config/PerfJam/PerfJam.ini`` (on Linux); tests and
``perfjam --settings FILE`` use an INI file instead.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from perfjam.engine import MODES
from perfjam.follow import LOUDNESS
from perfjam.gui.qwerty import DEFAULT_BASE, MAX_BASE, MIN_BASE
from perfjam.sampling import DEFAULT_TEMPERATURE

MIN_TEMPERATURE, MAX_TEMPERATURE = 0.1, 2.0
GAP_RANGE_MS = (100, 5000)
DEFAULT_GAP_MS = 600
LENGTH_RANGE_S = (1.0, 60.0)
DEFAULT_LENGTH_S = 8.0
DEFAULT_ANSWER_CC = None  # no pedal answers by default: the soft pedal (CC67) is for soft playing
DEFAULT_LOUDNESS = "as me"  # perfjam.follow.LOUDNESS
DEFAULT_OUT_CHANNEL, DEFAULT_THRU_CHANNEL = 1, 2  # MIDI channels as musicians count them (1..16)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class Settings:
    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self.q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "PerfJam", "PerfJam")
        else:
            self.q = QSettings(str(path), QSettings.Format.IniFormat)

    @property
    def path(self) -> str:
        return self.q.fileName()

    def sync(self) -> None:
        self.q.sync()

    def clear(self) -> None:
        """Forget everything: the next start is a first start."""
        self.q.clear()
        self.q.sync()

    # ---- generic typed access -----------------------------------------------------------------
    def _str(self, key: str, default: str | None = None) -> str | None:
        value = self.q.value(key)
        return default if value is None or value == "" else str(value)

    def _float(self, key: str, default: float) -> float:
        try:
            return float(self.q.value(key, default))
        except (TypeError, ValueError):
            return default

    def _int(self, key: str, default: int) -> int:
        try:
            return int(float(self.q.value(key, default)))
        except (TypeError, ValueError):
            return default

    def _bool(self, key: str, default: bool) -> bool:
        value = self.q.value(key, default)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes", "on")
        return bool(value)

    def _set(self, key: str, value: object) -> None:
        if value is None:
            self.q.remove(key)
        else:
            self.q.setValue(key, value)

    # ---- ports (None = "(none)" chosen, kept as "" so that it differs from never chosen) ----------
    @property
    def midi_input(self) -> str | None:
        return self._str("midi/input")

    @midi_input.setter
    def midi_input(self, name: str | None) -> None:
        self.q.setValue("midi/input", name or "")

    @property
    def midi_input_chosen(self) -> bool:
        """Whether an input (or none) was ever chosen: False on a fresh profile."""
        return self.q.contains("midi/input")

    @property
    def midi_output(self) -> str | None:
        return self._str("midi/output")

    @midi_output.setter
    def midi_output(self, name: str | None) -> None:
        self.q.setValue("midi/output", name or "")

    @property
    def answer_cc(self) -> int | None:
        """The controller whose press answers now (None: none)."""
        value = self._int("midi/answer_cc", -1 if DEFAULT_ANSWER_CC is None else DEFAULT_ANSWER_CC)
        return value if 0 <= value <= 127 else None

    @answer_cc.setter
    def answer_cc(self, cc: int | None) -> None:
        self._set("midi/answer_cc", -1 if cc is None else int(cc))

    @property
    def out_channel(self) -> int:
        """The MIDI channel (1..16) of PerfJam's notes at MIDI out."""
        return int(_clamp(self._int("midi/out_channel", DEFAULT_OUT_CHANNEL), 1, 16))

    @out_channel.setter
    def out_channel(self, channel: int) -> None:
        self._set("midi/out_channel", int(channel))

    @property
    def midi_thru(self) -> bool:
        """Whether your playing also goes to MIDI out (on ``thru_channel``)."""
        return self._bool("midi/thru", False)

    @midi_thru.setter
    def midi_thru(self, on: bool) -> None:
        self._set("midi/thru", bool(on))

    @property
    def thru_channel(self) -> int:
        return int(_clamp(self._int("midi/thru_channel", DEFAULT_THRU_CHANNEL), 1, 16))

    @thru_channel.setter
    def thru_channel(self, channel: int) -> None:
        self._set("midi/thru_channel", int(channel))

    @property
    def audio_driver(self) -> str | None:
        """The audio driver to try first ("none": no audio; None: the usual order)."""
        return self._str("audio/driver")

    @audio_driver.setter
    def audio_driver(self, name: str | None) -> None:
        self._set("audio/driver", name)

    @property
    def seed(self) -> int | None:
        """A fixed random seed (the same answers to the same playing), or None."""
        value = self._int("play/seed", -1)
        return value if value >= 0 else None

    @seed.setter
    def seed(self, value: int | None) -> None:
        self._set("play/seed", None if value is None else int(value))

    @property
    def midi_api(self) -> str | None:
        return self._str("midi/api")

    @midi_api.setter
    def midi_api(self, name: str | None) -> None:
        self._set("midi/api", name)

    # ---- model and sound ----------------------------------------------------------------------
    @property
    def model(self) -> str | None:
        return self._str("model/name")

    @model.setter
    def model(self, name_or_path: str | None) -> None:
        self._set("model/name", name_or_path)

    @property
    def soundfont(self) -> str | None:
        return self._str("audio/soundfont")

    @soundfont.setter
    def soundfont(self, path: str | None) -> None:
        self._set("audio/soundfont", path)

    # ---- playing ------------------------------------------------------------------------------
    @property
    def temperature(self) -> float:
        return _clamp(self._float("play/temperature", DEFAULT_TEMPERATURE), MIN_TEMPERATURE, MAX_TEMPERATURE)

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._set("play/temperature", round(_clamp(value, MIN_TEMPERATURE, MAX_TEMPERATURE), 2))

    @property
    def mode(self) -> str:
        mode = self._str("play/mode", "call")
        return mode if mode in MODES else "call"

    @mode.setter
    def mode(self, value: str) -> None:
        self._set("play/mode", value if value in MODES else "call")

    @property
    def response_gap_ms(self) -> int:
        return int(_clamp(self._int("play/response_gap_ms", DEFAULT_GAP_MS), *GAP_RANGE_MS))

    @response_gap_ms.setter
    def response_gap_ms(self, value: int) -> None:
        self._set("play/response_gap_ms", int(value))

    @property
    def response_length_s(self) -> float:
        return _clamp(self._float("play/response_length_s", DEFAULT_LENGTH_S), *LENGTH_RANGE_S)

    @response_length_s.setter
    def response_length_s(self, value: float) -> None:
        self._set("play/response_length_s", float(value))

    @property
    def density(self) -> int:
        """Index into the density choices (0 = follow the pianist)."""
        return max(0, self._int("play/density", 0))

    @density.setter
    def density(self, value: int) -> None:
        self._set("play/density", int(value))

    @property
    def key(self) -> int:
        """-1 = any key (no pitch control), else the tonic's pitch class."""
        return int(_clamp(self._int("play/key", -1), -1, 11))

    @key.setter
    def key(self, value: int) -> None:
        self._set("play/key", int(value))

    @property
    def scale(self) -> str:
        return self._str("play/scale", "major") or "major"

    @scale.setter
    def scale(self, value: str) -> None:
        self._set("play/scale", value)

    @property
    def follow_key(self) -> bool:
        """Key follows me (steerable models): on unless turned off."""
        return self._bool("play/follow_key", True)

    @follow_key.setter
    def follow_key(self, on: bool) -> None:
        self._set("play/follow_key", bool(on))

    @property
    def loudness(self) -> str:
        """How loud PerfJam plays against the pianist (perfjam.follow.LOUDNESS)."""
        value = self._str("play/loudness", DEFAULT_LOUDNESS)
        return value if value in LOUDNESS else DEFAULT_LOUDNESS

    @loudness.setter
    def loudness(self, value: str) -> None:
        self._set("play/loudness", value)

    @property
    def qwerty_octave(self) -> int:
        return int(_clamp(self._int("play/qwerty_base", DEFAULT_BASE), MIN_BASE, MAX_BASE))

    @qwerty_octave.setter
    def qwerty_octave(self, value: int) -> None:
        self._set("play/qwerty_base", int(value))

    # ---- window and files ---------------------------------------------------------------------
    @property
    def geometry(self) -> QByteArray | None:
        value = self.q.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray | None) -> None:
        self._set("window/geometry", value)

    @property
    def last_take(self) -> str | None:
        return self._str("files/last_take")

    @last_take.setter
    def last_take(self, path: str | None) -> None:
        self._set("files/last_take", path)

    @property
    def recent_models(self) -> list[str]:
        value = self.q.value("files/recent_models") or []
        return [str(v) for v in (value if isinstance(value, list) else [value])][:8]

    def add_recent_model(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_models if p != path]
        self.q.setValue("files/recent_models", recent[:8])

    def remove_recent_model(self, path: str) -> None:
        self.q.setValue("files/recent_models", [p for p in self.recent_models if p != path])
