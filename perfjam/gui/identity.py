"""What PerfJam tells the desktop about itself: the window's WM class, desktop file name and icon,
matching the entry that ``perfjam install-desktop`` writes (``perfjam.desktop``), and the icon
rendered to PNG for that entry; also the Qt version for bug reports. Qt is imported inside the
functions, so the names can be read without loading it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perfjam.package_data import APP_ICON

DESKTOP_ID = "perfjam"  # perfjam.desktop, the icon's name, the window's desktop file name
WM_CLASS = "PerfJam"  # the class part of the window's WM_CLASS (Qt: the application name)


def identify(app: Any) -> None:
    """Name the application as its desktop entry does: on X11 WM_CLASS is (argv[0]'s name, the
    application name), so create it with ``QApplication([DESKTOP_ID])``; on Wayland the app id is
    the desktop file name. The icon is the window's in the taskbar and title bar."""
    from PySide6.QtGui import QIcon

    app.setApplicationName(WM_CLASS)
    app.setOrganizationName(WM_CLASS)
    app.setDesktopFileName(DESKTOP_ID)
    app.setWindowIcon(QIcon(str(APP_ICON)))


def render_png(size_px: int, out: Path, svg: Path = APP_ICON) -> None:
    """The icon rendered to a square PNG with a transparent background (OSError if it fails)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise OSError(f"cannot read the icon {svg}")
    image = QImage(size_px, size_px, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise OSError(f"cannot write {out}")


def qt_version() -> str:
    import PySide6
    from PySide6.QtCore import qVersion

    return f"{qVersion()} (PySide6 {PySide6.__version__})"
