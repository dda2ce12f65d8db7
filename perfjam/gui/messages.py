"""Non-blocking messages: a banner above the roll, and small non-modal info boxes."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget

from perfjam.gui import theme

CAPTIONS = {
    ("stopped", ""): "Stopped: press Space to start",
    ("listening", "call"): "Listening: play a phrase, then pause and PerfJam answers",
    ("listening", ""): "Listening",
    ("answering", ""): "PerfJam answers…",
    ("playing", "duet"): "Playing along with you",
    ("playing", "solo"): "PerfJam plays solo: your notes steer it",
    ("playing", ""): "PerfJam plays",
    ("waiting", ""): "Waiting for you to play",
}
ABOUT = (
    "<h3>PerfJam</h3><p>Play the piano with a neural network: a Performance RNN listens, then answers "
    "or plays along, in real time.</p><p>Teal notes are yours, amber notes are PerfJam's.</p>"
)
CAPTION_COLOURS = {
    "listening": theme.HUMAN, "waiting": theme.HUMAN, "answering": theme.AI, "playing": theme.AI,
}
SHORTCUTS = (
    ("Space", "Start / stop PerfJam"), ("R", "Record / stop recording"), ("Esc", "Panic: all notes off"),
    ("↑ / →", "Temperature up"), ("↓ / ←", "Temperature down"),
    ("A S D F G H J K L ; '", "White keys (A = C)"), ("W E T Y U O P", "Black keys"),
    ("Z / X", "Octave down / up"), ("C / V", "Softer / louder"),
)



LEVEL_COLOURS = {"error": theme.RECORD, "warning": theme.WARN, "info": theme.HUMAN}
LEVEL_SECONDS = {"error": 20.0, "warning": 10.0, "info": 5.0}
MAX_LINES = 3


class MessageBanner(QFrame):
    """Non-blocking messages above the roll: the newest few, each fading after its time (errors
    longest), coloured by the most serious one shown; Dismiss clears them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.dismiss)
        row.addWidget(self.label, 1)
        row.addWidget(close)
        self.history: list[str] = []  # every message shown (for tests and bug reports)
        self._current: list[tuple[float, str, str]] = []  # (expires, level, text)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._expire)
        self._timer.start(500)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.history.append(text)
        level = level if level in LEVEL_COLOURS else "info"
        self._current = [m for m in self._current if m[2] != text][-(MAX_LINES - 1):]
        self._current.append((time.monotonic() + LEVEL_SECONDS[level], level, text))
        self._render()

    def dismiss(self) -> None:
        self._current.clear()
        self._render()

    def _expire(self) -> None:
        now = time.monotonic()
        if any(expires <= now for expires, _, _ in self._current):
            self._current = [m for m in self._current if m[0] > now]
            self._render()

    def _render(self) -> None:
        if not self._current:
            self.hide()
            return
        levels = {level for _, level, _ in self._current}
        colour = next(LEVEL_COLOURS[lv] for lv in ("error", "warning", "info") if lv in levels)
        self.setStyleSheet(
            f"MessageBanner {{ background: {colour.darker(260).name()}; border: 1px solid {colour.name()};"
            " border-radius: 6px; }"
        )
        self.label.setText("\n".join(text for _, _, text in self._current))
        self.show()


def show_info(parent: QWidget, title: str, html: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, title, html, QMessageBox.StandardButton.Close, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


def show_shortcuts(parent: QWidget) -> QMessageBox:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in SHORTCUTS)
    return show_info(parent, "Keyboard shortcuts", f"<table>{rows}</table>")


def show_about(parent: QWidget) -> QMessageBox:
    return show_info(parent, "About PerfJam", ABOUT)
