"""Other systems, honestly: a system without FluidSynth's library gets one sentence saying what to
install there, in the CLI and in the window, instead of a traceback.

A missing library is made real for pyfluidsynth in a child process: its search
(``ctypes.util.find_library``) finds no FluidSynth, as on a machine where it is not installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import test_gui_app  # noqa: E402

from perfjam import synth as synth_module  # noqa: E402

harness = test_gui_app.harness  # the window on a real engine, built as `perfjam` builds it

ROOT = Path(__file__).resolve().parent.parent
NO_FLUIDSYNTH = textwrap.dedent("""
    import ctypes.util, os, sys
    _find = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None if "fluidsynth" in name else _find(name)
    os.environ.pop("HOMEBREW_PREFIX", None)
    from perfjam.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _without_fluidsynth(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config"),
           "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", NO_FLUIDSYNTH, *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def _one_sentence(stderr: str, prefix: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [f"{prefix}{synth_module.fluidsynth_missing_message()}"], stderr


def test_the_cli_says_in_one_sentence_what_to_install_when_fluidsynth_is_missing(tmp_path):
    jam = _without_fluidsynth(tmp_path, "jam", "--midi-api", "jack")
    assert jam.returncode == 2
    _one_sentence(jam.stderr, "perfjam jam: ")
    wav = _without_fluidsynth(tmp_path, "generate", "--seconds", "1", "--out", "wav", "--wav")
    assert wav.returncode == 2 and not (tmp_path / "wav").exists()  # said before generating
    _one_sentence(wav.stderr, "generate: cannot render WAV: ")
    midi = _without_fluidsynth(tmp_path, "generate", "--seconds", "1", "--seed", "1", "--out", "midi")
    assert midi.returncode == 0, midi.stderr  # MIDI needs no synth
    assert len(list((tmp_path / "midi").glob("*.mid"))) == 1


def test_the_install_hint_is_the_users_systems():
    linux, mac, windows = (synth_module.fluidsynth_missing_message(p) for p in ("linux", "darwin", "win32"))
    assert "apt install libfluidsynth3" in linux
    assert "brew install fluid-synth" in mac and "HOMEBREW_PREFIX" in mac
    assert "choco install fluidsynth" in windows and "C:\\tools\\fluidsynth" in windows
    for text in (linux, mac, windows):
        assert text.count(".") == 1 and text.endswith(").") and "\n" not in text  # one sentence


def test_the_window_says_what_to_install_and_plays_on_without_fluidsynth(harness, monkeypatch):
    # what perfjam.synth is left with when pyfluidsynth cannot load the library (the CLI test above
    # shows that it is)
    monkeypatch.setattr(synth_module, "fluidsynth", None)
    said = "ImportError: Couldn't find the FluidSynth library."  # pyfluidsynth's words
    monkeypatch.setattr(synth_module, "_FLUIDSYNTH_IMPORT_ERROR", said)
    h = harness()
    assert h.startup.synth is None and h.engine is not None  # the model plays on, MIDI out only
    (message,) = [m for m in h.window.banner.messages() if "FluidSynth" in m.text]
    assert message.text == f"{synth_module.fluidsynth_missing_message()} MIDI out still works."
    assert message.level == "error" and "Couldn't find the FluidSynth library" in message.details
    assert h.window.banner.isVisible()
