"""File actions: open a model or a SoundFont, the recordings folder, and finished takes (the last
one is remembered and exported as MIDI, a copy, or WAV, rendered on a worker thread with the
SoundFont that is playing while the window stays responsive)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,  # the window: perfjam.gui.window.MainWindow (it imports this module)
    QProgressDialog,
)

PROGRESS_MS = 100


def same_file(a: str | Path | None, b: str | Path | None) -> bool:
    """Whether two paths name one file (a symlink and its target do)."""
    if not a or not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


class WavExport(QObject):
    """Renders a MIDI take to a WAV file on a worker thread; ``done(ok, text)`` on the GUI thread.
    A non-modal progress dialog shows the time spent, so a long take never freezes the window."""

    done = Signal(bool, str)  # ok, the WAV's path or what went wrong

    def __init__(self, take: Path, target: Path, soundfont: str | None, parent: QMainWindow) -> None:
        super().__init__(parent)
        self.take, self.target, self.soundfont = take, target, soundfont
        self.result: tuple[bool, str] | None = None  # set by the worker thread, read by the timer
        self.started_s = time.monotonic()
        self.progress = QProgressDialog(f"Rendering {take.name} to {target.name}…", "", 0, 0, parent)
        self.progress.setWindowTitle("Export WAV")
        self.progress.setCancelButton(None)  # FluidSynth's offline render cannot be interrupted
        self.progress.setWindowModality(Qt.WindowModality.NonModal)
        self.progress.setMinimumDuration(0)
        self.thread = threading.Thread(target=self._render, name="perfjam-wav-export", daemon=True)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)

    def start(self) -> None:
        self.progress.show()
        self.thread.start()
        self._timer.start(PROGRESS_MS)

    @property
    def running(self) -> bool:
        return self.result is None

    def _render(self) -> None:
        try:
            from perfjam.render import render_midi_to_wav

            rendered = render_midi_to_wav(self.take, self.target, soundfont=self.soundfont)
            self.result = (True, str(rendered.path))
        except Exception as exc:  # a failed export never loses the take itself
            self.result = (False, str(exc) or type(exc).__name__)

    def _poll(self) -> None:
        if self.result is None:
            self.progress.setLabelText(f"Rendering {self.take.name} to {self.target.name}…  "
                                       f"{time.monotonic() - self.started_s:.0f} s")
            return
        self._timer.stop()
        self.progress.close()
        self.done.emit(*self.result)


class FileActions:
    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.exports: list[WavExport] = []  # running (and finished, for tests) WAV exports

    def open_model_file(self) -> None:
        home = str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", home, "ONNX models (*.onnx)")
        if path:
            self.window.load_model(path)
            self.window.refresh_models(path)
        else:
            self.window.side.select(self.window.side.model, self.window.settings.model)

    def open_soundfont_file(self) -> None:
        home = str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open SoundFont", home, "SoundFonts (*.sf2)")
        if path:
            self.window.side.set_soundfonts(self.window.services.soundfonts(), path)
            self.window.load_soundfont(path)
        else:
            self.window.side.select(self.window.side.soundfont, self.window.playing_soundfont())

    def open_recordings_folder(self) -> bool:
        """Open the folder in the file manager; without one, say where the takes are."""
        folder = self.window.services.recordings_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.window.show_message(f"Cannot make the recordings folder {folder}.", "error", str(exc))
            return False
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            return True
        self.window.show_message(f"No file manager opened. Your takes are in {folder}", "info")
        return False

    @property
    def last_take(self) -> Path | None:
        path = self.window.settings.last_take
        return Path(path) if path else None

    def take_finished(self, path: str) -> None:
        if self.window.settings.last_take == path:
            return
        self.window.settings.last_take = path
        self.window.settings.sync()
        self.window.takes.take_finished(path)  # the last-take chip names it for good; the list shows it

    def export_last_take(self) -> None:
        take = self.last_take
        if take is None or not take.is_file():
            self.window.show_message("No take to export yet: press Record (R) and play.", "warning")
            return
        target, chosen = QFileDialog.getSaveFileName(
            self.window, "Export last take", str(Path.home() / take.name),
            "MIDI file (*.mid);;WAV audio (*.wav)",
        )
        if target:
            self.export(take, Path(target), wav="wav" in chosen.lower() or target.lower().endswith(".wav"))

    def export(self, take: Path, target: Path, wav: bool = False) -> bool:
        """A MIDI copy at once; a WAV rendered in the background (False only for a failed copy)."""
        if wav:
            job = WavExport(take, target.with_suffix(".wav"), self.window.playing_soundfont(), self.window)
            job.done.connect(lambda ok, text: self._exported(ok, text, take))
            self.exports.append(job)
            job.start()
            return True
        try:
            shutil.copyfile(take, target if target.suffix else target.with_suffix(".mid"))
        except OSError as exc:
            self._exported(False, str(exc), take)
            return False
        self._exported(True, str(target), take)
        return True

    def _exported(self, ok: bool, text: str, take: Path) -> None:
        if ok:
            self.window.show_message(f"Exported {Path(text).name}", "info")
        else:
            self.window.show_message(f"Export failed. The take is still at {take}", "error", text)
