"""Other systems, honestly: on macOS and Windows nothing Linux-only runs when PerfJam's modules
are imported (each one imported with ``sys.platform`` set to theirs, Windows without the POSIX-only
modules), the audio drivers and install hints are theirs, and a system without FluidSynth's library
gets one sentence saying what to install, in the CLI and in the window, instead of a traceback.

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

import pytest  # noqa: E402
import test_gui_app  # noqa: E402

from perfjam import synth as synth_module  # noqa: E402
from perfjam.audio_drivers import AUDIO_DRIVERS_BY_PLATFORM  # noqa: E402
from perfjam.filelock import lock_exclusive  # noqa: E402

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
    version = _without_fluidsynth(tmp_path, "--version")
    assert version.returncode == 0 and version.stderr == ""
    assert f"FluidSynth: {synth_module.fluidsynth_missing_message()}" in version.stdout.splitlines()
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


def test_each_system_tries_its_own_audio_drivers_first():
    assert AUDIO_DRIVERS_BY_PLATFORM["darwin"][0] == "coreaudio"
    assert AUDIO_DRIVERS_BY_PLATFORM["win32"][:2] == ("wasapi", "dsound")
    assert AUDIO_DRIVERS_BY_PLATFORM["linux"][:2] == ("pulseaudio", "jack")


FOREIGN_IMPORT = textwrap.dedent("""
    import importlib, pkgutil, sys
    platform = sys.argv[1]
    # The libraries PerfJam builds on, loaded first as on this system: what runs at their import
    # is theirs (PySide6, for one, reads sys.platform to find its DLLs on Windows).
    for name in ("numpy", "onnxruntime", "mido", "rtmidi", "fluidsynth", "PySide6.QtCore", "PySide6.QtGui",
                 "PySide6.QtWidgets", "PySide6.QtSvg"):
        importlib.import_module(name)
    sys.platform = platform
    if platform == "win32":
        posix_only = ("fcntl", "termios", "resource", "pwd", "grp")
        for name in posix_only:
            sys.modules.pop(name, None)

        class NoPosix:
            def find_spec(self, name, path=None, target=None):
                if name in posix_only:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, NoPosix())
        import msvcrt_stub  # msvcrt, as Windows has it (never called here)
        sys.modules["msvcrt"] = msvcrt_stub
    import perfjam
    names = [m.name for m in pkgutil.walk_packages(perfjam.__path__, "perfjam.")]
    for name in names:
        if name == "perfjam.__main__":  # runs the app
            continue
        importlib.import_module(name)
    from perfjam.audio_drivers import DEFAULT_AUDIO_DRIVERS
    print(len(names), DEFAULT_AUDIO_DRIVERS[0])
""")


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_every_module_imports_on_macos_and_windows_without_linux_only_code(platform, tmp_path):
    (tmp_path / "msvcrt_stub.py").write_text("LK_NBLCK = 2\n\ndef locking(fd, mode, nbytes):\n    pass\n")
    path = os.pathsep.join([str(ROOT), str(tmp_path)])
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": path}
    out = subprocess.run([sys.executable, "-c", FOREIGN_IMPORT, platform], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=180)
    assert out.returncode == 0, out.stderr[-4000:]
    count, driver = out.stdout.splitlines()[-1].split()  # (pyfluidsynth may print a line first)
    assert int(count) > 60 and driver == AUDIO_DRIVERS_BY_PLATFORM[platform][0]


def test_a_journal_lock_is_exclusive_between_open_files(tmp_path):
    path = tmp_path / "take.mid.journal"
    with open(path, "w") as first, open(path, "r+") as second:
        lock_exclusive(first)
        with pytest.raises(OSError):
            lock_exclusive(second)
    with open(path, "r+") as again:
        lock_exclusive(again)  # free once the holder closed it


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
