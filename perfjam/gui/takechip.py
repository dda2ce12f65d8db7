"""The last-take chip: a small button at the top right of the roll naming the last take for good
(where a banner would go away after a few seconds); a click opens it in the takes list."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtWidgets import QPushButton, QWidget

from perfjam.gui import theme

CHIP_TOP = 36  # under the roll's legend
CHIP_MAX_PX = 300
PLACE_EVENTS = (QEvent.Type.Resize, QEvent.Type.Move, QEvent.Type.Show, QEvent.Type.Hide)
CHIP_STYLE = (f"QPushButton#takeChip {{ background: {theme.PANEL_LIGHT.name()}; border: 1px solid "
              f"{theme.HUMAN.darker(150).name()}; border-radius: 11px; padding: 2px 10px; font-size: 9pt; }}"
              f"QPushButton#takeChip:hover {{ border-color: {theme.HUMAN.name()}; }}")


class LastTakeChip(QPushButton):
    """The last take's name, at the top right of ``host`` (below ``avoid``, the message banner,
    while it shows); a click opens it in the takes list."""

    def __init__(self, host: QWidget, avoid: QWidget | None = None) -> None:
        super().__init__(host)
        self.setObjectName("takeChip")
        self.setStyleSheet(CHIP_STYLE)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.take: Path | None = None
        self._host, self._avoid = host, avoid
        host.installEventFilter(self)
        if avoid is not None:
            avoid.installEventFilter(self)
        self.hide()

    def set_take(self, path: Path | None) -> None:
        self.take = path
        if path is None:
            self.hide()
            return
        text = self.fontMetrics().elidedText(f"♪  Last take: {path.stem}", Qt.TextElideMode.ElideMiddle,
                                             CHIP_MAX_PX)
        self.setText(text)
        self.setToolTip(f"{path}\nOpen it in the takes list (Ctrl+T)")
        self.show()
        self._place()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in PLACE_EVENTS and (obj is self._host or obj is self._avoid):
            self._place()
        return super().eventFilter(obj, event)

    def _place(self) -> None:
        hint = self.sizeHint()
        top = CHIP_TOP
        avoid = self._avoid
        if avoid is not None and avoid.isVisible():
            top = max(top, self._host.mapFromGlobal(avoid.mapToGlobal(QPoint(0, avoid.height()))).y() + 6)
        self.setGeometry(self._host.width() - hint.width() - 10, top, hint.width(), hint.height())
