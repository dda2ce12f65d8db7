"""Colours, fonts and the style sheet: a dark theme that reads at a glance on stage."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPolygonF
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QProxyStyle,
    QStyle,
    QStyleFactory,
    QStyleOption,
    QWidget,
)

BACKGROUND = QColor("#121419")
PANEL = QColor("#1a1d24")
PANEL_LIGHT = QColor("#242832")
BORDER = QColor("#2e3340")
TEXT = QColor("#e8e9ec")
MUTED = QColor("#8b92a1")
HUMAN = QColor("#2ec4b6")  # teal: what the pianist plays
AI = QColor("#ffb020")  # amber: what the model plays
RECORD = QColor("#e5484d")
OK = QColor("#46c37b")
WARN = QColor("#f0a020")
OFF = QColor("#5b6170")

SOURCE_COLOURS = {"human": HUMAN, "ai": AI}


def source_colour(source: str) -> QColor:
    return SOURCE_COLOURS.get(source, HUMAN)


def velocity_colour(source: str, velocity: int, alpha: int = 255) -> QColor:
    """The source's colour, dim for soft notes and bright for loud ones."""
    base = source_colour(source)
    v = max(0, min(127, velocity)) / 127.0
    strength = 0.35 + 0.65 * v
    colour = QColor(
        int(BACKGROUND.red() + (base.red() - BACKGROUND.red()) * strength),
        int(BACKGROUND.green() + (base.green() - BACKGROUND.green()) * strength),
        int(BACKGROUND.blue() + (base.blue() - BACKGROUND.blue()) * strength),
    )
    colour.setAlpha(alpha)
    return colour


STYLE_SHEET = f"""
QWidget {{ color: {TEXT.name()}; font-size: 10pt; }}
QMainWindow, QDialog {{ background: {BACKGROUND.name()}; }}
QMenuBar {{ background: {PANEL.name()}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {PANEL_LIGHT.name()}; }}
QMenu {{ background: {PANEL.name()}; border: 1px solid {BORDER.name()}; }}
QToolTip {{ background: {PANEL_LIGHT.name()}; color: {TEXT.name()}; border: 1px solid {BORDER.name()}; }}
QFrame#panel {{ background: {PANEL.name()}; border-radius: 8px; }}
QLabel#section {{ color: {MUTED.name()}; font-size: 8pt; font-weight: bold; letter-spacing: 1px; }}
QLabel#value {{ font-size: 13pt; font-weight: bold; min-width: 3em; }}
QLabel#muted {{ color: {MUTED.name()}; font-size: 9pt; }}
QLabel:disabled {{ color: {OFF.name()}; }}
QComboBox, QSpinBox, QDoubleSpinBox {{
    background: {PANEL_LIGHT.name()}; border: 1px solid {BORDER.name()}; border-radius: 4px;
    padding: 3px 6px;
}}
QComboBox {{ min-height: 1.5em; }}
QComboBox:disabled, QSpinBox:disabled, QDoubleSpinBox:disabled {{ color: {OFF.name()}; }}
QSpinBox::up-button, QDoubleSpinBox::up-button, QSpinBox::down-button, QDoubleSpinBox::down-button {{
    width: 20px;
}}
QPushButton {{
    background: {PANEL_LIGHT.name()}; border: 1px solid {BORDER.name()}; border-radius: 6px;
    padding: 5px 12px;
}}
QPushButton:hover {{ border-color: {MUTED.name()}; }}
QPushButton:checked {{ background: {HUMAN.darker(170).name()}; border-color: {HUMAN.name()}; }}
QPushButton#panic {{ color: #ffd0d0; border-color: {RECORD.darker(130).name()}; }}
QPushButton#panic:pressed {{ background: {RECORD.darker(150).name()}; }}
QPushButton#play {{ background: {OK.darker(160).name()}; border: 2px solid {OK.name()}; }}
QPushButton#play:checked {{ background: {PANEL_LIGHT.name()}; border: 2px solid {AI.darker(130).name()}; }}
QPushButton#mode {{ border-radius: 0px; padding: 5px 14px; }}
QSlider::groove:horizontal {{ height: 6px; background: {PANEL_LIGHT.name()}; border-radius: 3px; }}
QSlider::sub-page:horizontal {{ background: {AI.darker(140).name()}; border-radius: 3px; }}
QSlider::handle:horizontal {{
    background: {AI.name()}; width: 16px; margin: -6px 0; border-radius: 8px;
}}
QSlider::handle:horizontal:disabled {{ background: {OFF.name()}; }}
QStatusBar {{ background: {PANEL.name()}; color: {MUTED.name()}; }}
QStatusBar QLabel {{ padding: 0 8px; }}
QStatusBar::item {{ border: none; }}
"""


class ArrowStyle(QProxyStyle):
    """Fusion, with spin box arrows drawn as plain triangles in the text colour: Fusion's own
    arrows all but vanish on the dark style sheet. (The sheet sets only the buttons' width: a
    sheet that draws the buttons itself draws no arrows at all without arrow images.)"""

    PE = QStyle.PrimitiveElement
    UP = (PE.PE_IndicatorSpinUp, PE.PE_IndicatorArrowUp)  # a styled box asks for the plain arrows
    DOWN = (PE.PE_IndicatorSpinDown, PE.PE_IndicatorArrowDown)

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption, painter: QPainter,
                      widget: QWidget | None = None) -> None:
        if element not in (*self.UP, *self.DOWN) or not isinstance(widget, QAbstractSpinBox):
            super().drawPrimitive(element, option, painter, widget)
            return
        rect = option.rect
        half = max(3.5, min(rect.width(), rect.height()) * 0.35)
        centre = QPointF(rect.center()) + QPointF(0.5, 0.5)
        up = element in self.UP
        tip, base = (-0.55, 0.45) if up else (0.55, -0.45)
        triangle = QPolygonF([
            centre + QPointF(0, tip * half * 1.4), centre + QPointF(-half, base * half * 1.4),
            centre + QPointF(half, base * half * 1.4),
        ])
        enabled = bool(option.state & QStyle.StateFlag.State_Enabled)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(TEXT if enabled else OFF)
        painter.drawPolygon(triangle)
        painter.restore()


def apply(app: QApplication) -> None:
    app.setStyle(ArrowStyle(QStyleFactory.create("Fusion")))
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Window, BACKGROUND)
    palette.setColor(QPalette.ColorRole.WindowText, TEXT)
    palette.setColor(QPalette.ColorRole.Base, PANEL_LIGHT)
    palette.setColor(QPalette.ColorRole.AlternateBase, PANEL)
    palette.setColor(QPalette.ColorRole.Text, TEXT)
    palette.setColor(QPalette.ColorRole.Button, PANEL_LIGHT)
    palette.setColor(QPalette.ColorRole.ButtonText, TEXT)
    palette.setColor(QPalette.ColorRole.Highlight, HUMAN.darker(140))
    palette.setColor(QPalette.ColorRole.HighlightedText, TEXT)
    palette.setColor(QPalette.ColorRole.ToolTipBase, PANEL_LIGHT)
    palette.setColor(QPalette.ColorRole.ToolTipText, TEXT)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, OFF)
    app.setPalette(palette)
    app.setStyleSheet(STYLE_SHEET)
