"""Hot-plug: the MIDI port pickers are refreshed every couple of seconds.

Opening a MIDI client (as ``midi_io.list_ports`` does on every call) takes 40-70 ms under JACK,
and python-rtmidi holds the GIL all that time, which would stall the engine thread as well as the
window. So the ports are listed through ``midi_io.PortLister``, whose clients stay open: listing
is then a fraction of a millisecond and runs right on the GUI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

POLL_MS = 2000
RETRY_S = 10.0  # how often to try again to open a MIDI API that could not be opened

Lister = Callable[[], tuple[list[str], list[str]]]


class PersistentLister:
    """``lister() -> (inputs, outputs)`` through a ``midi_io.PortLister`` kept between calls; a
    MIDI API that cannot be opened is tried again after ``RETRY_S``, and a MIDI system that went
    away (e.g. the JACK server stopped) gets a fresh lister at the next call."""

    def __init__(self, api: str | None) -> None:
        self.api = api
        self.lister = None  # midi_io.PortLister, once opened
        self._retry_at = 0.0
        self._error = ""

    def __call__(self) -> tuple[list[str], list[str]]:
        from perfjam import midi_io

        if self.lister is None:
            if time.monotonic() < self._retry_at:
                raise midi_io.MidiError(self._error)
            self.lister = midi_io.PortLister(self.api)
        try:
            return self.lister()
        except midi_io.MidiError as exc:  # the API cannot be opened: not again for a while
            self._retry_at, self._error = time.monotonic() + RETRY_S, str(exc)
            self.close()
            raise
        except Exception:  # the MIDI system went away
            self.close()
            raise

    def close(self) -> None:
        if self.lister is not None:
            self.lister.close()
            self.lister = None


class PortWatcher(QObject):
    """Emits ``changed(inputs, outputs)`` whenever the lists of MIDI ports change."""

    changed = Signal(list, list)
    failed = Signal(str)

    def __init__(self, lister: Lister, poll_ms: int = POLL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lister = lister
        self.inputs: list[str] | None = None  # None until the first listing
        self.outputs: list[str] | None = None
        self._last_error = ""
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(poll_ms)

    def refresh(self) -> None:
        try:
            inputs, outputs = self.lister()
        except Exception as exc:  # a broken MIDI system is reported once, never raised into Qt
            error = str(exc) or type(exc).__name__
            if error != self._last_error:
                self._last_error = error
                self.failed.emit(f"Cannot list MIDI ports: {error}")
            return
        self._last_error = ""
        inputs, outputs = list(inputs), list(outputs)
        if inputs != self.inputs or outputs != self.outputs:
            self.inputs, self.outputs = inputs, outputs
            self.changed.emit(inputs, outputs)

    def stop(self) -> None:
        self._timer.stop()
        close = getattr(self.lister, "close", None)
        if close is not None:
            close()
