"""``perfjam --version``: PerfJam's version, the model it plays, and the versions of what a bug
report needs (onnxruntime, FluidSynth and the SoundFont, python-rtmidi and its MIDI API, Qt).
A part that cannot be loaded says so in its line instead of failing: this is what a user runs
when something does not work. Opens no window, no MIDI client and no audio driver."""

from __future__ import annotations

import platform
from collections.abc import Callable
from importlib import metadata

from perfjam import __version__


def _remembered(key: str) -> str | None:
    """What the window remembers (its last model or SoundFont), None when nothing or no Qt."""
    try:
        from perfjam.gui.settings import Settings

        return getattr(Settings(), key)
    except Exception:  # no Qt: the window cannot run, so what it remembers does not matter
        return None


def _model() -> str:
    from perfjam.model import DEFAULT_MODEL, ModelError, PerformanceModel

    wanted = _remembered("model") or DEFAULT_MODEL
    note = "" if wanted == DEFAULT_MODEL else f" (the window's last; jam and generate use {DEFAULT_MODEL})"
    try:
        info = PerformanceModel.load(wanted).info
    except ModelError:  # the window falls back to the default
        info = PerformanceModel.load(DEFAULT_MODEL).info
        note = f" (the window's last, {wanted}, cannot be opened)"
    weights = "int8" if info.quantized else "float32"
    shape = f"{info.vocab.size} events, LSTM {info.layers}x{info.hidden}, {weights}"
    return f"{info.name} ({shape}): {info.path}{note}"


def _soundfont() -> str:
    from perfjam.synth import SynthError, find_soundfont

    remembered = _remembered("soundfont")
    try:
        return str(find_soundfont(remembered)) + (" (the window's last)" if remembered else "")
    except SynthError:  # the window falls back to the one found
        return f"{find_soundfont()} (the window's last, {remembered}, is missing)"


def _onnxruntime() -> str:
    import onnxruntime

    return f"{onnxruntime.__version__} ({', '.join(onnxruntime.get_available_providers())})"


def _fluidsynth() -> str:
    from perfjam.synth import fluidsynth_missing_message, fluidsynth_version

    version = fluidsynth_version()
    if version is None:
        return fluidsynth_missing_message()
    return f"{version} (pyfluidsynth {metadata.version('pyfluidsynth')})"


def _midi() -> str:
    from perfjam.midi_io.apis import api_report

    return api_report()


def _qt() -> str:
    from perfjam.gui.identity import qt_version

    return qt_version()


PARTS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("model", _model), ("SoundFont", _soundfont), ("onnxruntime", _onnxruntime), ("FluidSynth", _fluidsynth),
    ("MIDI", _midi), ("Qt", _qt),
)


def version_lines() -> list[str]:
    """The report, one line per part."""
    lines = [f"PerfJam {__version__} (Python {platform.python_version()}, {platform.platform()})"]
    for label, part in PARTS:
        try:
            lines.append(f"{label}: {part()}")
        except Exception as exc:  # each part reports its own failure; the others still print
            lines.append(f"{label}: cannot be loaded ({type(exc).__name__}: {exc})")
    return lines
