"""Small helpers the control widgets share: section titles, focus, widths that never change."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget


def section(text: str) -> QLabel:
    """A small upper-case title above a group of controls (styled as ``QLabel#section``)."""
    label = QLabel(text.upper())
    label.setObjectName("section")
    return label


def no_focus(*widgets: QWidget) -> None:
    """Controls never take keyboard focus, so the computer keyboard always plays notes."""
    for w in widgets:
        w.setFocusPolicy(Qt.FocusPolicy.NoFocus)


def fix_width(button: QAbstractButton | QLabel, texts: Iterable[str]) -> int:
    """Give ``button`` the width of its widest text, so that changing its text (Record -> a timer,
    Start -> Stop) never moves the controls beside it. Call again after a style change."""
    current = button.text()
    button.setMinimumWidth(0)
    button.setMaximumWidth(16777215)
    button.ensurePolished()
    width = 0
    for text in texts:
        button.setText(text)
        width = max(width, button.sizeHint().width())
    button.setText(current)
    button.setFixedWidth(width)
    return width
