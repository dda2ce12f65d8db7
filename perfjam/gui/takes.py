"""Takes you can find and replay: the takes list (File ▸ Takes…, Ctrl+T) and the last-take chip.

The list shows the takes of the recordings folder newest first, each with its date, length and
note counts (``perfjam.takelist``); it follows the folder (a file system watcher) and refreshes
when a recording ends. A take plays back through the synth the engine plays
(``perfjam.playback.TakePlayer``, on its own thread: the window never waits), is shown in the file
manager, exported to WAV in the background with progress (``FileActions.export``), renamed (never
over another take) or deleted (after asking; to the trash where the system has one).

The last-take chip (``perfjam.gui.takechip``) opens its take here.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QFile, QFileSystemWatcher, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMainWindow,  # the window: perfjam.gui.window.MainWindow (it imports this module)
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from perfjam.gui import theme
from perfjam.gui.takechip import LastTakeChip
from perfjam.playback import TakePlayer
from perfjam.takelist import TakeIndex, TakeInfo, TakeNameError, rename_take

POLL_MS = 100  # playback progress
REFRESH_MS = 250  # the folder changed: list it again once it has settled
COLUMNS = ("Take", "Recorded", "Length", "You", "PerfJam")
NO_TAKES = "No takes yet: press Record (R), play, and press it again."


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def live_synth(window: QMainWindow) -> Any | None:
    """The synth the window plays (built at start-up; the engine plays the same one)."""
    synth = getattr(getattr(window, "startup", None), "synth", None)
    return synth if synth is not None else getattr(window.bridge.engine, "synth", None)


class TakesDialog(QDialog):
    """The takes list. ``window.takes``: ``open_takes``, ``take_finished``, ``stop_playback``."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.main = window
        self.folder = window.services.recordings_dir
        self.index = TakeIndex(self.folder)
        self.player: TakePlayer | None = None
        self.reader: threading.Thread | None = None  # reads new takes' lengths and notes
        self.infos: list[TakeInfo] = []
        self.setWindowTitle("Takes")
        self.resize(640, 400)
        self._build()
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(lambda _path: self.isVisible() and self._refresh_soon.start())
        self._refresh_soon = QTimer(self)
        self._refresh_soon.setSingleShot(True)
        self._refresh_soon.setInterval(REFRESH_MS)
        self._refresh_soon.timeout.connect(self.refresh)
        self._progress = QTimer(self)
        self._progress.setInterval(POLL_MS)
        self._progress.timeout.connect(self._poll)
        self._read_poll = QTimer(self)
        self._read_poll.setInterval(POLL_MS)
        self._read_poll.timeout.connect(self._read_done)
        self.chip = LastTakeChip(window.roll, avoid=window.banner)
        self.chip.clicked.connect(lambda: self.open_takes(self.chip.take))
        last = window.settings.last_take
        self.chip.set_take(Path(last) if last and Path(last).is_file() else None)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.where = QLabel(f"In {self.folder}")
        self.where.setObjectName("muted")
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.where, 1)
        layout.addLayout(top)
        self.list = QTreeWidget()
        self.list.setHeaderLabels(list(COLUMNS))
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setAlternatingRowColors(True)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.list.itemDoubleClicked.connect(lambda *_: self.toggle_play())
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())
        layout.addWidget(self.list, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.play_button = QPushButton("▶  Play")
        self.folder_button = QPushButton("Show in folder")
        self.export_button = QPushButton("Export WAV…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        for button, slot in ((self.play_button, self.toggle_play), (self.folder_button, self.show_in_folder),
                             (self.export_button, self.export_wav), (self.rename_button, self.ask_rename),
                             (self.delete_button, self.ask_delete)):
            button.clicked.connect(lambda _=False, s=slot: s())
            row.addWidget(button)
        row.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row.addWidget(close)
        layout.addLayout(row)

    # ---- the list ---------------------------------------------------------------------------
    def refresh(self, select: Path | None = None) -> None:
        """List the folder again (newest first), keeping the selection (or selecting ``select``).
        New takes show at once; their lengths and notes are read on a worker thread."""
        select = select or self.selected()
        if self.folder.is_dir() and str(self.folder) not in self.watcher.directories():
            self.watcher.addPath(str(self.folder))
        self.infos = self.index.list(read=False)
        if self.index.unread and not self.reading:
            self.reader = threading.Thread(target=self.index.read_unread, name="perfjam-takes", daemon=True)
            self.reader.start()
            self._read_poll.start()
        self.list.clear()
        for info in self.infos:
            counts = ("…", "…", "…") if info.pending else (clock_text(info.length_s), str(info.human_notes),
                                                            str(info.ai_notes))
            item = QTreeWidgetItem([info.name, info.modified.strftime("%Y-%m-%d %H:%M"), *counts])
            item.setData(0, Qt.ItemDataRole.UserRole, str(info.path))
            item.setToolTip(0, str(info.path) + (f"\nCannot be read: {info.error}" if info.error else ""))
            for column in range(2, len(COLUMNS)):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.list.addTopLevelItem(item)
            if select is not None and info.path == select:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.topLevelItemCount():
            self.list.setCurrentItem(self.list.topLevelItem(0))
        if not self.infos and self.player is None:
            self._say(NO_TAKES)
        elif self.status.text() == NO_TAKES:
            self._say("")
        self._update_buttons()

    @property
    def reading(self) -> bool:
        return self.reader is not None and self.reader.is_alive()

    def _read_done(self) -> None:
        if not self.reading:
            self._read_poll.stop()
            self.refresh()

    def names(self) -> list[str]:
        return [info.name for info in self.infos]

    def selected(self) -> Path | None:
        item = self.list.currentItem()
        return Path(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None

    def select(self, path: Path) -> bool:
        for i in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(i)
            if Path(item.data(0, Qt.ItemDataRole.UserRole)) == path:
                self.list.setCurrentItem(item)
                return True
        return False

    def open_takes(self, select: Path | None = None) -> None:
        """Show the list (File ▸ Takes…, the chip), with ``select`` chosen."""
        self.refresh(select)
        self.show()
        self.raise_()
        self.activateWindow()

    def take_finished(self, path: str) -> None:
        """A recording ended: the chip names it, and the list shows it once its file is written."""
        self.chip.set_take(Path(path))
        if self.isVisible():
            self.refresh(Path(path))

    def _update_buttons(self) -> None:
        has = self.selected() is not None
        playing = self.player is not None
        for button in (self.folder_button, self.export_button, self.rename_button, self.delete_button):
            button.setEnabled(has)
        self.play_button.setEnabled(has or playing)
        self.play_button.setText("■  Stop" if playing else "▶  Play")

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet(f"color: {theme.RECORD.lighter(130).name()};" if error else "")
        self.status.setText(text)

    # ---- playback ---------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.player is not None:
            self.stop_playback()
        else:
            self.play()

    def play(self, path: Path | None = None) -> TakePlayer | None:
        """Play a take (the selected one) through the live synth, from its start."""
        path = path or self.selected()
        if path is None:
            return None
        self.stop_playback()
        synth = live_synth(self.main)
        if synth is None:
            self._say("No sound: PerfJam has no synthesizer to play the take through.", error=True)
            return None
        self.player = TakePlayer(synth, path)
        self.main.bridge.set_paused(True)  # the AI holds while the take plays (issue 19)
        self.player.start()
        self._progress.start()
        self._poll()
        return self.player

    def stop_playback(self) -> None:
        """Stop now (the notes it holds end before this returns)."""
        player, self.player = self.player, None
        self._progress.stop()
        if player is not None:
            player.stop()
            self.main.bridge.set_paused(False)
            self._say(f"Stopped {player.path.stem}.")
        self._update_buttons()

    def _poll(self) -> None:
        player = self.player
        if player is None:
            return
        if player.running:
            self._say(f"Playing {player.path.stem}   {clock_text(player.position_s)} / "
                      f"{clock_text(player.length_s)}")
            self._update_buttons()
            return
        self.player = None
        self._progress.stop()
        self.main.bridge.set_paused(False)
        if player.error:
            self._say(f"Cannot play {player.path.name}: {player.error}", error=True)
        else:
            self._say(f"Played {player.path.stem} ({clock_text(player.length_s)}).")
        self._update_buttons()

    # ---- files ------------------------------------------------------------------------------
    def show_in_folder(self, path: Path | None = None) -> bool:
        path = path or self.selected()
        if path is None:
            return False
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))):
            return True
        self._say(f"No file manager opened. The take is at {path}")
        return False

    def export_wav(self, path: Path | None = None, target: Path | None = None) -> bool:
        """Render the take to WAV in the background (with progress); asks where when no ``target``."""
        path = path or self.selected()
        if path is None:
            return False
        if target is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export take as WAV", str(path.with_suffix(".wav")),
                                                    "WAV audio (*.wav)")
            if not chosen:
                return False
            target = Path(chosen)
        return self.main.files.export(path, target, wav=True)

    def ask_rename(self, path: Path | None = None) -> QInputDialog | None:
        path = path or self.selected()
        if path is None:
            return None
        box = QInputDialog(self)
        box.setWindowTitle("Rename take")
        box.setLabelText(f"New name for {path.stem}:")
        box.setTextValue(path.stem)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.textValueSelected.connect(lambda text: self.rename(path, text))
        box.open()
        return box

    def rename(self, path: Path, new_name: str) -> Path | None:
        """The take's new path, or None (the reason shown) for a bad name or one already taken."""
        try:
            target = rename_take(path, new_name)
        except TakeNameError as exc:
            self._say(f"Not renamed: {exc}", error=True)
            return None
        except OSError as exc:
            self._say(f"Could not rename {path.name}: {exc.strerror or exc}", error=True)
            return None
        if self.main.settings.last_take == str(path):
            self.main.settings.last_take = str(target)
            self.chip.set_take(target)
        self._say(f"Renamed to {target.stem}.")
        self.refresh(target)
        return target

    def ask_delete(self, path: Path | None = None) -> QMessageBox | None:
        path = path or self.selected()
        if path is None:
            return None
        box = QMessageBox(QMessageBox.Icon.Question, "Delete take",
                          f"Delete the take “{path.stem}”?\nIt goes to the trash (where the system has "
                          "none, it is deleted for good).",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.button(QMessageBox.StandardButton.Yes).setText("Delete")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(button: QPushButton) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.delete(path)

        box.buttonClicked.connect(answered)
        box.open()
        return box

    def delete(self, path: Path) -> bool:
        """Move the take to the trash (else delete it); the chip forgets it if it was the last."""
        if self.player is not None and self.player.path == path:
            self.stop_playback()
        trashed = QFile(str(path)).moveToTrash()
        if not trashed:
            try:
                path.unlink()
            except OSError as exc:
                self._say(f"Could not delete {path.name}: {exc.strerror or exc}", error=True)
                return False
        if self.main.settings.last_take == str(path):
            self.main.settings.last_take = None
            self.chip.set_take(None)
        self._say(f"{path.stem} {'moved to the trash' if trashed else 'deleted'}.")
        self.refresh()
        return True
