"""File actions: open a model or a SoundFont, the recordings folder, and finished takes (the last
one is remembered and exported as MIDI, a copy, or WAV, rendered)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

if TYPE_CHECKING:
    from perfjam.gui.window import MainWindow


class FileActions:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

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
            self.window.side.select(self.window.side.soundfont, self.window.settings.soundfont)

    def open_recordings_folder(self) -> None:
        folder = self.window.services.recordings_dir
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @property
    def last_take(self) -> Path | None:
        path = self.window.settings.last_take
        return Path(path) if path else None

    def take_finished(self, path: str) -> None:
        if self.window.settings.last_take == path:
            return
        self.window.settings.last_take = path
        self.window.settings.sync()
        self.window.show_message(f"Take saved: {path}", "info")

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
        try:
            if wav:
                from perfjam.synth import render_midi_to_wav

                render_midi_to_wav(take, target.with_suffix(".wav"), soundfont=self.window.settings.soundfont)
            else:
                shutil.copyfile(take, target if target.suffix else target.with_suffix(".mid"))
        except Exception as exc:  # a failed export never loses the take itself
            self.window.show_message(f"Export failed: {exc}. The take is still at {take}", "error")
            return False
        self.window.show_message(f"Exported {target.name}", "info")
        return True
