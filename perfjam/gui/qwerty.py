"""The computer keyboard as a piano: two rows in piano layout, Z/X shift octaves, C/V velocity.

::

     W E   T Y U   O P          black keys
    A S D F G H J K L ; '       white keys  (A = C of the current octave)

Auto-repeat is ignored; a held key releases the pitch it started even after an octave shift.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent

K = Qt.Key
# key -> semitones above the C of the current octave
KEY_OFFSETS: dict[int, int] = {
    K.Key_A: 0, K.Key_W: 1, K.Key_S: 2, K.Key_E: 3, K.Key_D: 4, K.Key_F: 5, K.Key_T: 6,
    K.Key_G: 7, K.Key_Y: 8, K.Key_H: 9, K.Key_U: 10, K.Key_J: 11, K.Key_K: 12, K.Key_O: 13,
    K.Key_L: 14, K.Key_P: 15, K.Key_Semicolon: 16, K.Key_Apostrophe: 17,
}
KEY_LABELS: dict[int, str] = {
    K.Key_A: "A", K.Key_W: "W", K.Key_S: "S", K.Key_E: "E", K.Key_D: "D", K.Key_F: "F", K.Key_T: "T",
    K.Key_G: "G", K.Key_Y: "Y", K.Key_H: "H", K.Key_U: "U", K.Key_J: "J", K.Key_K: "K", K.Key_O: "O",
    K.Key_L: "L", K.Key_P: "P", K.Key_Semicolon: ";", K.Key_Apostrophe: "'",
}
OCTAVE_DOWN, OCTAVE_UP = K.Key_Z, K.Key_X
VELOCITY_DOWN, VELOCITY_UP = K.Key_C, K.Key_V
CONTROL_KEYS = frozenset({OCTAVE_DOWN, OCTAVE_UP, VELOCITY_DOWN, VELOCITY_UP})
MIN_BASE, MAX_BASE = 24, 96  # C1 .. C7
DEFAULT_BASE = 60  # C4 under the A key
VELOCITY_STEPS = (40, 64, 80, 96, 112, 127)


class QwertyPiano(QObject):
    """Turns key events into note events. ``handle`` returns True when it used the event."""

    noteOn = Signal(int, int)  # pitch, velocity
    noteOff = Signal(int)
    layoutChanged = Signal()  # octave or velocity changed

    def __init__(self, base: int = DEFAULT_BASE, velocity: int = 96, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.base = base
        self.velocity = velocity
        self._held: dict[int, int] = {}  # key -> pitch it started

    def set_base(self, base: int) -> None:
        """Move the keys to the octave starting at ``base`` (held keys keep their pitch)."""
        base = max(MIN_BASE, min(MAX_BASE, base))
        if base != self.base:
            self.base = base
            self.layoutChanged.emit()

    def pitch_for(self, key: int) -> int | None:
        offset = KEY_OFFSETS.get(key)
        return None if offset is None else self.base + offset

    def labels(self) -> dict[int, str]:
        """pitch -> key letter, for drawing on the on-screen keyboard."""
        return {self.base + off: KEY_LABELS[key] for key, off in KEY_OFFSETS.items()}

    def press(self, key: int) -> bool:
        if key in self._held:
            return True
        if key in CONTROL_KEYS:
            if key in (OCTAVE_DOWN, OCTAVE_UP):
                self.base = max(MIN_BASE, min(MAX_BASE, self.base + (12 if key == OCTAVE_UP else -12)))
            else:
                self.velocity = self._next_velocity(up=key == VELOCITY_UP)
            self.layoutChanged.emit()
            return True
        pitch = self.pitch_for(key)
        if pitch is None:
            return False
        self._held[key] = pitch
        self.noteOn.emit(pitch, self.velocity)
        return True

    def release(self, key: int) -> bool:
        pitch = self._held.pop(key, None)
        if pitch is not None:
            self.noteOff.emit(pitch)
            return True
        return key in KEY_OFFSETS or key in CONTROL_KEYS

    def release_all(self) -> None:
        for key in list(self._held):
            self.release(key)

    def _next_velocity(self, up: bool) -> int:
        if up:
            return next((v for v in VELOCITY_STEPS if v > self.velocity), VELOCITY_STEPS[-1])
        return next((v for v in reversed(VELOCITY_STEPS) if v < self.velocity), VELOCITY_STEPS[0])

    def handle(self, event: QEvent) -> bool:
        if event.type() not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        if event.type() == QEvent.Type.KeyRelease and key in self._held and not event.isAutoRepeat():
            return self.release(key)  # whatever modifiers are down now, never leave a note hanging
        mods = event.modifiers() & ~(Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier)
        if mods != Qt.KeyboardModifier.NoModifier:  # Ctrl/Alt/Meta combinations are shortcuts
            return False
        if key not in KEY_OFFSETS and key not in CONTROL_KEYS:
            return False
        if event.isAutoRepeat():
            return True
        return self.press(key) if event.type() == QEvent.Type.KeyPress else self.release(key)
