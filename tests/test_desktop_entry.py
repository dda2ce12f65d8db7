"""``perfjam install-desktop``: a freedesktop entry that ``desktop-file-validate`` accepts, starting
this environment's ``perfjam``, the icon as SVG and PNGs in the hicolor theme, all removed by
``--uninstall``; and the window naming itself as the entry does (WM_CLASS, desktop file name,
icon), checked on a real X server (Xvfb) with ``xprop``, as a taskbar reads it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from xvfb import close_like_the_window, start_xvfb, stop  # noqa: E402

from perfjam.desktop import ICON_SIZES_PX, desktop_entry, entry_path, icon_paths  # noqa: E402
from perfjam.gui.identity import DESKTOP_ID, WM_CLASS, identify  # noqa: E402
from perfjam.package_data import APP_ICON  # noqa: E402

PERFJAM = Path(sys.executable).parent / "perfjam"  # this environment's console script
VALIDATOR = shutil.which("desktop-file-validate")
needs_validator = pytest.mark.skipif(VALIDATOR is None, reason="needs desktop-file-validate "
                                     "(apt install desktop-file-utils)")


def _run(*args: str, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    return subprocess.run([str(PERFJAM), *args], capture_output=True, text=True, env=env, timeout=120)


def _entry(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line)


def _validate(path: Path) -> None:
    checked = subprocess.run([VALIDATOR, str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout + checked.stderr


@needs_validator
@pytest.mark.skipif(not PERFJAM.is_file(), reason="needs the perfjam script (pip install -e .)")
def test_install_desktop_writes_a_valid_entry_and_icons_and_uninstall_removes_them(tmp_path):
    from PySide6.QtGui import QImage

    data = tmp_path / "share"
    installed = _run("install-desktop", data=data)
    assert installed.returncode == 0, installed.stderr
    entry = entry_path(data)
    _validate(entry)
    fields = _entry(entry)
    assert fields["Exec"] == fields["TryExec"] == str(PERFJAM)  # absolute: a venv is not on the menu's PATH
    assert fields["Name"] == "PerfJam" and fields["Icon"] == DESKTOP_ID and fields["Terminal"] == "false"
    assert fields["StartupWMClass"] == WM_CLASS and "Audio" in fields["Categories"].split(";")
    icons = icon_paths(data)
    assert icons[None].read_bytes() == APP_ICON.read_bytes()
    for size in ICON_SIZES_PX:
        image = QImage(str(icons[size]))
        assert (image.width(), image.height()) == (size, size)
        centre = image.pixelColor(size // 2, size // 2)
        corner = image.pixelColor(0, 0)
        assert centre.alpha() == 255 and corner.alpha() == 0  # drawn, on a transparent background
    assert sorted(str(p) for p in data.rglob("perfjam*")) == sorted(map(str, [entry, *icons.values()]))

    removed = _run("install-desktop", "--uninstall", data=data)
    assert removed.returncode == 0, removed.stderr
    assert list(data.rglob("perfjam*")) == []
    again = _run("install-desktop", "--uninstall", data=data)
    assert again.returncode == 0 and "was not installed" in again.stdout


@needs_validator
def test_exec_quotes_a_path_with_spaces_and_reserved_characters_as_the_specification_asks(tmp_path):
    command = ["/opt/my apps/it's $HOME/100%/perfjam"]
    text = desktop_entry(command)
    fields = dict(line.split("=", 1) for line in text.splitlines()[1:] if line)
    assert fields["Exec"] == '"/opt/my apps/it\'s \\\\$HOME/100%%/perfjam"'
    assert fields["TryExec"] == command[0]
    entry = tmp_path / "perfjam.desktop"
    entry.write_text(text)
    _validate(entry)


def test_the_window_names_itself_as_its_desktop_entry(qapp):
    before = (qapp.applicationName(), qapp.organizationName(), qapp.desktopFileName(), qapp.windowIcon())
    try:
        identify(qapp)
        assert (qapp.applicationName(), qapp.desktopFileName()) == (WM_CLASS, DESKTOP_ID)
        icon = qapp.windowIcon()
        assert not icon.isNull() and not icon.pixmap(64, 64).isNull()
    finally:
        qapp.setApplicationName(before[0])
        qapp.setOrganizationName(before[1])
        qapp.setDesktopFileName(before[2])
        qapp.setWindowIcon(before[3])


def _window_properties(display: str) -> str:
    """xprop's WM_CLASS and _NET_WM_ICON of the top-level window named PerfJam ('' until there is one)."""
    env = {**os.environ, "DISPLAY": display}
    def run(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=10).stdout

    for line in run("xwininfo", "-root", "-children").splitlines():
        fields = line.split()
        if fields and fields[0].startswith("0x") and '"PerfJam' in line:
            props = run("xprop", "-id", fields[0], "WM_CLASS", "_NET_WM_ICON")
            if "WM_CLASS(STRING)" in props:
                return props
    return ""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xprop") is None,
                    reason="needs Xvfb and xprop (apt install xvfb x11-utils)")
@pytest.mark.skipif(not PERFJAM.is_file(), reason="needs the perfjam script (pip install -e .)")
def test_the_real_window_carries_the_entrys_wm_class_and_its_icon_on_x11(tmp_path):
    xvfb, display = start_xvfb(tmp_path / "xvfb.log", (1280, 800))
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path / "home")}
    log = tmp_path / "app.log"
    app = subprocess.Popen([str(PERFJAM), "--settings", str(tmp_path / "perfjam.ini"), "--no-audio",
                            "--recordings", str(tmp_path / "takes")], env=env, stdout=log.open("wb"),
                           stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        props = ""
        while not props:
            assert app.poll() is None, f"the app exited:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"no PerfJam window:\n{log.read_text(errors='replace')}"
            time.sleep(0.2)
            props = _window_properties(display)
        assert f'WM_CLASS(STRING) = "{DESKTOP_ID}", "{WM_CLASS}"' in props
        assert "_NET_WM_ICON(CARDINAL)" in props and "Icon (16 x 16)" in props
        close_like_the_window(app, log)
    finally:
        stop(app, xvfb)
