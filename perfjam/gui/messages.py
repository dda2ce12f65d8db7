"""Non-blocking messages: a banner laid over the top of the play surface, and small non-modal
info boxes (shortcuts, About, a message's details).

The banner floats over the roll instead of taking a place in the layout, so that a message
appearing or fading never moves a control. Each message says first what a musician can do; what
a developer needs to know stays behind its Details button.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import NamedTuple

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
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
    ("waiting", "duet"): "Waiting for you: PerfJam plays along when you play",
    ("waiting", ""): "Waiting for you to play",
    ("paused", ""): "Paused while a take plays",
}
CAPTION_COLOURS = {
    "listening": theme.HUMAN, "waiting": theme.HUMAN, "answering": theme.AI, "playing": theme.AI,
}
# Keys that are not menu shortcuts (those are listed from the menus themselves).
PLAYING_KEYS = (
    ("A S D F G H J K L ; '", "White keys (A = C)"), ("W E T Y U O P", "Black keys"),
    ("Z / X", "Octave down / up"), ("C / V", "Softer / louder"),
)
ARROWS = {"Up": "↑", "Down": "↓", "Left": "←", "Right": "→"}
CREDITS = (
    "Performance RNN: Ian Simon and Sageev Oore, Magenta (Google), 2017",
    "Training data: the ASAP dataset (Foscarin et al., 2020) of the Yamaha e-Piano Competition "
    "performances",
    "Sound: FluidSynth; FluidR3_GM SoundFont by Frank Wen (when installed)",
    "Built with Qt for Python (PySide6), ONNX Runtime, python-rtmidi and mido",
)
LICENCE = (
    "The shipped models are for <b>non-commercial use only</b>: they were trained on the ASAP / Yamaha "
    "e-Competition performances, licensed CC BY-NC-SA 4.0 (non-commercial, share-alike)."
)

LEVEL_COLOURS = {"error": theme.RECORD, "warning": theme.WARN, "info": theme.HUMAN}
LEVEL_SECONDS = {"error": 20.0, "warning": 10.0, "info": 5.0}
MAX_LINES = 3
OVERLAY_MARGIN = 8  # pixels between the banner and the edges of what it lies over


class Message(NamedTuple):
    """A message for the banner. ``details``: for bug reports, behind the Details button. A new
    message with the same ``key`` replaces the one shown (e.g. "went away" by "is back")."""

    text: str
    level: str = "error"
    details: str = ""
    key: str = ""


def app_version() -> str:
    try:
        return metadata.version("perfjam")
    except metadata.PackageNotFoundError:
        return "unknown"


class MessageBanner(QFrame):
    """The newest few messages, each fading after its time (errors longest), coloured by the most
    serious one shown; Dismiss clears them. ``attach(host)`` lays it over the top of ``host``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.details = QPushButton("Details…")
        self.details.setFlat(True)
        self.details.clicked.connect(self.show_details)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.clicked.connect(self.dismiss)
        for button in (self.details, close):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row.addWidget(self.label, 1)
        row.addWidget(self.details)
        row.addWidget(close)
        self.history: list[str] = []  # every message shown (for tests and bug reports)
        self._current: list[tuple[float, Message]] = []  # (expires, message)
        self._host: QWidget | None = None
        self.details_box: QMessageBox | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._expire)
        self._timer.start(500)
        self.hide()

    # ---- messages -----------------------------------------------------------------------------
    def show_message(self, text: str, level: str = "error", details: str = "", key: str = "") -> None:
        self.history.append(text)
        level = level if level in LEVEL_COLOURS else "info"
        kept = [(t, m) for t, m in self._current if m.text != text and not (key and m.key == key)]
        self._current = kept[-(MAX_LINES - 1):]
        self._current.append((time.monotonic() + LEVEL_SECONDS[level], Message(text, level, details, key)))
        self._render()

    def withdraw(self, key: str) -> None:
        """Take back the message shown under ``key`` (it no longer holds)."""
        kept = [(t, m) for t, m in self._current if m.key != key]
        if len(kept) != len(self._current):
            self._current = kept
            self._render()

    def messages(self) -> list[Message]:
        """The messages shown now, oldest first."""
        return [m for _, m in self._current]

    def dismiss(self) -> None:
        self._current.clear()
        self._render()

    def show_details(self) -> QMessageBox:
        shown = [m for _, m in self._current if m.details]
        box = show_info(self.window(), "Details", "\n\n".join(m.text for m in shown) or "No details.")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setDetailedText("\n\n".join(m.details for m in shown))
        self.details_box = box
        return box

    def _expire(self) -> None:
        now = time.monotonic()
        if any(expires <= now for expires, _ in self._current):
            self._current = [(t, m) for t, m in self._current if t > now]
            self._render()

    def _render(self) -> None:
        if not self._current:
            self.hide()
            return
        levels = {m.level for _, m in self._current}
        colour = next(LEVEL_COLOURS[lv] for lv in ("error", "warning", "info") if lv in levels)
        self.setStyleSheet(
            f"MessageBanner {{ background: {colour.darker(260).name()}; border: 1px solid {colour.name()};"
            " border-radius: 6px; }"
        )
        self.label.setText("\n".join(m.text for _, m in self._current))
        self.details.setVisible(any(m.details for _, m in self._current))
        self.show()
        self._place()

    # ---- laid over another widget -------------------------------------------------------------
    def attach(self, host: QWidget) -> None:
        """Float over the top edge of ``host`` (follows its size; takes no place in a layout)."""
        self.setParent(host)
        self._host = host
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self._host and event.type() == QEvent.Type.Resize:
            self._place()
        return super().eventFilter(obj, event)

    def _place(self) -> None:
        if self._host is None or not self.isVisible():
            return
        width = max(1, self._host.width() - 2 * OVERLAY_MARGIN)
        height = self.heightForWidth(width) if self.hasHeightForWidth() else -1
        self.setGeometry(OVERLAY_MARGIN, OVERLAY_MARGIN, width, max(height, self.sizeHint().height()))
        self.raise_()


def show_info(parent: QWidget, title: str, text: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.NoIcon, title, text, QMessageBox.StandardButton.Close, parent)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


def key_text(keys: str) -> str:
    """A shortcut as it reads on a key cap ("Up" -> "↑")."""
    return ARROWS.get(keys, keys)


def show_shortcuts(parent: QWidget, shortcuts: list[tuple[str, str]]) -> QMessageBox:
    """``shortcuts``: (keys, what they do) of the menus; the computer-keyboard piano follows."""
    rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>"
                   for k, v in (*shortcuts, *PLAYING_KEYS))
    return show_info(parent, "Keyboard shortcuts", f"<table>{rows}</table>")


def about_html() -> str:
    credits = "".join(f"<li>{line}</li>" for line in CREDITS)
    return (
        f"<h3>PerfJam {app_version()}</h3>"
        "<p>Play the piano with a neural network: a Performance RNN listens, then answers or plays "
        "along, in real time. Teal notes are yours, amber notes are PerfJam's.</p>"
        f"<p>{LICENCE}</p><p>The program itself is under the Apache License 2.0.</p>"
        f"<p><b>Credits</b></p><ul>{credits}</ul>"
    )


def show_about(parent: QWidget) -> QMessageBox:
    return show_info(parent, "About PerfJam", about_html())
