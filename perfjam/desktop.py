"""``perfjam install-desktop``: PerfJam in the desktop's menu and taskbar (freedesktop.org).

Writes ``perfjam.desktop`` into ``DATA/applications`` and the icon into the hicolor theme under
``DATA/icons`` (DATA: ``--data-dir``, else ``$XDG_DATA_HOME``, else ``~/.local/share``): the SVG as
the scalable icon and PNGs rendered from it (``ICON_SIZES_PX``) for menus and docks that want
bitmaps. The entry starts this very ``perfjam`` by its absolute path (a venv's or pipx's bin folder
is not on the menu's PATH); its ``StartupWMClass`` is the window's WM class and its name the
window's desktop file name (``perfjam.gui.identity``), so the taskbar shows the window under the
entry's name and icon. ``--uninstall`` removes exactly those files. Linux and other freedesktop
desktops; elsewhere it says so. Qt is loaded only to render the PNGs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from perfjam.gui.identity import DESKTOP_ID, WM_CLASS, render_png
from perfjam.package_data import APP_ICON

ICON_SIZES_PX = (16, 24, 32, 48, 64, 128, 256, 512)
COMMENT = "Play piano with a neural network, in real time"
# Characters that make an Exec argument need quoting (Desktop Entry Specification, "The Exec key").
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_dir(given: Path | None = None) -> Path:
    if given is not None:
        return given.expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def entry_path(data: Path) -> Path:
    return data / "applications" / f"{DESKTOP_ID}.desktop"


def icon_paths(data: Path) -> dict[int | None, Path]:
    """Size in pixels (None: the SVG) -> where the icon goes in the hicolor theme."""
    hicolor = data / "icons" / "hicolor"
    paths: dict[int | None, Path] = {None: hicolor / "scalable" / "apps" / f"{DESKTOP_ID}.svg"}
    for size in ICON_SIZES_PX:
        paths[size] = hicolor / f"{size}x{size}" / "apps" / f"{DESKTOP_ID}.png"
    return paths


def launcher() -> list[str]:
    """The command that starts this PerfJam: its ``perfjam`` script, else this Python ``-m perfjam``."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "perfjam" and script.is_file():
        return [str(script.absolute())]
    found = shutil.which("perfjam")
    if found and Path(found).parent == Path(sys.executable).parent:  # this environment's own
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "perfjam"]


def exec_arg(arg: str) -> str:
    """One Exec argument, quoted as the specification asks (and % doubled), as a string value."""
    if any(c in _EXEC_RESERVED for c in arg):
        arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return string_value(arg.replace("%", "%%"))


def string_value(text: str) -> str:
    """A desktop entry string value: backslashes escaped."""
    return text.replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    exec_line = " ".join(exec_arg(a) for a in command)
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=PerfJam",
        "GenericName=AI Piano Partner",
        f"Comment={COMMENT}",
        f"TryExec={string_value(command[0])}",
        f"Exec={exec_line}",
        f"Icon={DESKTOP_ID}",
        "Terminal=false",
        "Categories=AudioVideo;Audio;Midi;Music;",
        "Keywords=piano;MIDI;AI;duet;improvisation;neural network;LSTM;",
        f"StartupWMClass={WM_CLASS}",
        "StartupNotify=true",
        "",
    ])


def install(data: Path, command: list[str] | None = None) -> list[Path]:
    """Write the entry and the icons; returns the files written."""
    written = []
    for size, path in icon_paths(data).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if size is None:
            shutil.copyfile(APP_ICON, path)
        else:
            render_png(size, path)
        written.append(path)
    entry = entry_path(data)
    entry.parent.mkdir(parents=True, exist_ok=True)
    partial = entry.with_suffix(".partial")
    partial.write_text(desktop_entry(command or launcher()), encoding="utf-8")
    partial.replace(entry)  # a menu watching the folder never reads half an entry
    written.append(entry)
    _refresh(entry.parent)
    return written


def uninstall(data: Path) -> list[Path]:
    """Remove the entry and the icons; returns the files removed."""
    removed = []
    for path in (entry_path(data), *icon_paths(data).values()):
        if path.is_file():
            path.unlink()
            removed.append(path)
    _refresh(entry_path(data).parent)
    return removed


def _refresh(applications: Path) -> None:
    """Tell the menus (where the tool is installed; desktops also watch the folders themselves)."""
    tool = shutil.which("update-desktop-database")
    if tool and applications.is_dir():
        subprocess.run([tool, "-q", str(applications)], check=False, capture_output=True, timeout=30)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uninstall", action="store_true", help="remove the entry and icons instead")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="where to install (default: $XDG_DATA_HOME, else ~/.local/share; "
                        "/usr/local/share for every user)")


def run(args: argparse.Namespace) -> int:
    if sys.platform in ("darwin", "win32"):
        print("perfjam install-desktop: desktop entries are for Linux desktops; start PerfJam with the "
              "perfjam command (see the README's \"Other systems\").", file=sys.stderr)
        return 2
    data = data_dir(args.data_dir)
    try:
        files = uninstall(data) if args.uninstall else install(data)
    except OSError as exc:
        print(f"perfjam install-desktop: {exc}", file=sys.stderr)
        return 1
    for path in files:
        print(path)
    if args.uninstall:
        print("PerfJam is no longer in the desktop's menu." if files else "PerfJam was not installed there.")
    else:
        print(f"PerfJam is in the desktop's menu; it starts {' '.join(launcher())}.")
    return 0
