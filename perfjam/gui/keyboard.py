"""The on-screen 88-key keyboard: lights up what sounds, marks the key PerfJam is asked to play
in (its pitch classes), plays with the mouse.

``key_span`` is the geometry shared with the piano roll, so the roll's note columns sit
exactly above their keys.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QLinearGradient, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from perfjam.controls import pitch_name
from perfjam.gui import theme

LOWEST = 21  # A0
HIGHEST = 108  # C8
BLACK_PITCH_CLASSES = frozenset({1, 3, 6, 8, 10})
# Black keys sit a little off the middle of the gap between their white neighbours, as on a piano.
_BLACK_OFFSET = {1: -0.12, 3: 0.12, 6: -0.14, 8: 0.0, 10: 0.14}
BLACK_WIDTH = 0.6  # of a white key
BLACK_LENGTH = 0.63  # of the keyboard's height
KEY_MARK = 5.0  # height of the strip that marks a key of the key asked of the model (pixels)


def is_black(pitch: int) -> bool:
    return pitch % 12 in BLACK_PITCH_CLASSES


def _white_index_table() -> dict[int, int]:
    table, n = {}, 0
    for pitch in range(LOWEST, HIGHEST + 1):
        if not is_black(pitch):
            table[pitch] = n
            n += 1
    return table


_WHITE_INDEX = _white_index_table()
_WHITE_PITCHES = sorted(_WHITE_INDEX)
NUM_WHITE = len(_WHITE_INDEX)  # 52


def key_span(pitch: int, width: float) -> tuple[float, float]:
    """Left and right x of a key on a keyboard ``width`` pixels wide."""
    white = width / NUM_WHITE
    if not is_black(pitch):
        x = _WHITE_INDEX[pitch] * white
        return x, x + white
    centre = (_WHITE_INDEX[pitch + 1] + _BLACK_OFFSET[pitch % 12]) * white
    half = BLACK_WIDTH * white / 2
    return centre - half, centre + half


def pitch_at(x: float, y: float, width: float, height: float) -> int | None:
    """The key under a point (black keys first, as they lie on top)."""
    if not (0 <= x < width and 0 <= y < height):
        return None
    white = width / NUM_WHITE
    index = min(NUM_WHITE - 1, int(x / white))
    pitch = _WHITE_PITCHES[index]
    if y < height * BLACK_LENGTH:
        for candidate in (pitch - 1, pitch + 1):
            if LOWEST <= candidate <= HIGHEST and is_black(candidate):
                left, right = key_span(candidate, width)
                if left <= x < right:
                    return candidate
    return pitch


class KeyboardWidget(QWidget):
    """88 keys. Emits ``noteOn``/``noteOff`` for mouse play; ``set_lit`` shows what sounds."""

    noteOn = Signal(int, int)  # pitch, velocity
    noteOff = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lit: dict[int, dict[str, int]] = {}  # pitch -> {source: velocity}
        self._mouse_pitch: int | None = None
        self._labels: dict[int, str] = {}  # computer-keyboard letters shown on keys
        self._key_classes: frozenset[int] = frozenset()  # pitch classes of the key asked of the model
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(120)
        self.setMouseTracking(False)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setToolTip("Click or drag to play; lower on a key plays louder.")

    # ---- lights -------------------------------------------------------------------------------
    def set_lit(self, pitch: int, source: str, velocity: int, on: bool) -> None:
        if not LOWEST <= pitch <= HIGHEST:
            return
        sources = self._lit.setdefault(pitch, {})
        if on:
            sources[source] = velocity
        else:
            sources.pop(source, None)
        if not sources:
            del self._lit[pitch]
        self.update()

    def set_lights(self, lights: dict[int, dict[str, int]]) -> None:
        """Replace every light at once (from the roll's frame timer: at most one repaint a frame)."""
        self._lit = {p: dict(s) for p, s in lights.items() if LOWEST <= p <= HIGHEST and s}
        self.update()

    def lit(self) -> dict[int, dict[str, int]]:
        return {p: dict(s) for p, s in self._lit.items()}

    def clear(self) -> None:
        self._lit.clear()
        self.update()

    def set_key_labels(self, labels: dict[int, str]) -> None:
        self._labels = dict(labels)
        self.update()

    def set_key_classes(self, classes: frozenset[int] | set[int]) -> None:
        """Mark every key of these pitch classes (0 = C): the key PerfJam is asked to play in."""
        classes = frozenset(int(c) % 12 for c in classes)
        if classes != self._key_classes:
            self._key_classes = classes
            self.update()

    def key_classes(self) -> frozenset[int]:
        return self._key_classes

    # ---- mouse --------------------------------------------------------------------------------
    def _velocity_at(self, pitch: int, y: float) -> int:
        length = self.height() * (BLACK_LENGTH if is_black(pitch) else 1.0)
        return max(20, min(127, int(30 + 97 * min(1.0, y / max(1.0, length)))))

    def _press(self, pos: QPointF) -> None:
        pitch = pitch_at(pos.x(), pos.y(), self.width(), self.height())
        if pitch == self._mouse_pitch:
            return
        self._release()
        if pitch is not None:
            self._mouse_pitch = pitch
            self.noteOn.emit(pitch, self._velocity_at(pitch, pos.y()))

    def _release(self) -> None:
        if self._mouse_pitch is not None:
            pitch, self._mouse_pitch = self._mouse_pitch, None
            self.noteOff.emit(pitch)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._press(event.position())  # glissando

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._release()

    # ---- painting -----------------------------------------------------------------------------
    def _key_colour(self, pitch: int) -> QColor | None:
        sources = self._lit.get(pitch)
        if not sources:
            return None
        source = "human" if "human" in sources else next(iter(sources))
        colour = QColor(theme.source_colour(source))
        if len(sources) > 1:  # both play it: blend the two colours
            ai = theme.AI
            colour = QColor((colour.red() + ai.red()) // 2, (colour.green() + ai.green()) // 2,
                            (colour.blue() + ai.blue()) // 2)
        return colour

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = float(self.width()), float(self.height())
        p.fillRect(self.rect(), theme.BACKGROUND)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, min(8.0, w / NUM_WHITE / 2.6)))
        p.setFont(small)
        for pitch in range(LOWEST, HIGHEST + 1):
            if is_black(pitch):
                continue
            left, right = key_span(pitch, w)
            rect = QRectF(left + 0.5, 0, right - left - 1, h - 1)
            lit = self._key_colour(pitch)
            grad = QLinearGradient(rect.topLeft(), rect.bottomLeft())
            if lit is not None:
                grad.setColorAt(0, lit.lighter(115))
                grad.setColorAt(1, lit.darker(110))
            else:
                grad.setColorAt(0, QColor("#d9d6cf"))
                grad.setColorAt(1, QColor("#f4f2ec"))
            p.setPen(QPen(QColor("#3a3d44"), 1))
            p.setBrush(grad)
            p.drawRoundedRect(rect, 2.5, 2.5)
            text_rect = QRectF(left, h - 18, right - left, 16)
            if pitch % 12 == 0:
                p.setPen(QColor("#202227") if pitch == 60 else QColor("#6c6f78"))
                p.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, pitch_name(pitch))
            label = self._labels.get(pitch)
            if label:
                p.setPen(theme.HUMAN.darker(130))
                p.drawText(text_rect.translated(0, -16), Qt.AlignmentFlag.AlignCenter, label)
        for pitch in range(LOWEST, HIGHEST + 1):
            if not is_black(pitch):
                continue
            left, right = key_span(pitch, w)
            rect = QRectF(left, -2, right - left, h * BLACK_LENGTH + 2)
            lit = self._key_colour(pitch)
            grad = QLinearGradient(rect.topLeft(), rect.bottomLeft())
            if lit is not None:
                grad.setColorAt(0, lit.darker(140))
                grad.setColorAt(1, lit)
            else:
                grad.setColorAt(0, QColor("#0c0d10"))
                grad.setColorAt(1, QColor("#2b2e36"))
            p.setPen(QPen(QColor("#050506"), 1))
            p.setBrush(grad)
            p.drawRoundedRect(rect, 2, 2)
            label = self._labels.get(pitch)
            if label:
                p.setPen(theme.HUMAN.lighter(120))
                p.drawText(QRectF(left - 4, rect.bottom() - 16, right - left + 8, 14),
                           Qt.AlignmentFlag.AlignCenter, label)
        # a felt strip along the top, as on a real piano; the key's pitch classes marked on it
        p.fillRect(QRectF(0, 0, w, 3), QColor("#7a1f24"))
        if self._key_classes:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(theme.AI)
            for pitch in range(LOWEST, HIGHEST + 1):
                if pitch % 12 in self._key_classes:
                    left, right = key_span(pitch, w)
                    inset = (right - left) * 0.18
                    p.drawRoundedRect(QRectF(left + inset, 0, right - left - 2 * inset, KEY_MARK), 1.5, 1.5)
        p.end()
