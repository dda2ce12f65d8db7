"""The main window's menus and their shortcuts. The Help ▸ Keyboard shortcuts list is read from
these menus, so it names every shortcut there is."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QMainWindow,  # the window: perfjam.gui.window.MainWindow (it imports this module)
    QMenu,
    QMenuBar,
    QMessageBox,
)

from perfjam.gui.messages import key_text, show_about, show_shortcuts
from perfjam.gui.preferences import open_preferences

TEMPERATURE_STEP = 0.05
RESET_QUESTION = (
    "Forget every setting: the model, sound and MIDI ports chosen, the response, steering and "
    "temperature, the window's size? The next start will be like the first one."
)


def _action(window: QMainWindow, menu: QMenu, text: str, slot: Callable, *keys: str) -> QAction:
    action = QAction(text, window)
    if keys:
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window: QMainWindow) -> None:
    bar = window.menuBar()
    files, transport = window.files, window.transport
    file = bar.addMenu("&File")
    _action(window, file, "Open &model…", files.open_model_file, "Ctrl+O")
    _action(window, file, "Open &SoundFont…", files.open_soundfont_file)
    file.addSeparator()
    _action(window, file, "&Recordings folder", files.open_recordings_folder)
    _action(window, file, "&Export last take…", files.export_last_take, "Ctrl+E")
    _action(window, file, "&Takes…", lambda: window.takes.open_takes(), "Ctrl+T")
    file.addSeparator()
    _action(window, file, "&Audio and MIDI settings…", lambda: open_preferences(window), "Ctrl+,")
    _action(window, file, "Reset se&ttings…", lambda: confirm_reset(window))
    _action(window, file, "&Quit", window.close, "Ctrl+Q")
    play = bar.addMenu("&Play")
    _action(window, play, "Start / stop", transport.play.toggle, "Space")
    _action(window, play, "Record", transport.record.toggle, "R")
    _action(window, play, "Panic (all notes off)", window.panic, "Esc")
    _action(window, play, "Answer now", lambda: window.steering.answer_now(), "Return", "Enter")
    _action(window, play, "Roll back to now", window.roll.go_live, "End")
    play.addSeparator()
    nudge = transport.nudge_temperature
    _action(window, play, "Temperature up", lambda: nudge(TEMPERATURE_STEP), "Up", "Right")
    _action(window, play, "Temperature down", lambda: nudge(-TEMPERATURE_STEP), "Down", "Left")
    help_menu = bar.addMenu("&Help")

    def shortcuts() -> None:
        show_shortcuts(window, menu_shortcuts(bar))

    _action(window, help_menu, "&Keyboard shortcuts", shortcuts, "F1")
    _action(window, help_menu, "&About PerfJam", lambda: show_about(window))


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, str]]:
    """(keys, what they do) of every menu action that has a shortcut, in menu order."""
    rows = []
    for top in bar.actions():
        menu = top.menu()
        for action in menu.actions() if menu is not None else ():
            keys = [key_text(k.toString(QKeySequence.SequenceFormat.NativeText)) for k in action.shortcuts()]
            if keys:
                rows.append((" / ".join(keys), action.text().replace("&", "").rstrip("…")))
    return rows


def confirm_reset(window: QMainWindow) -> QMessageBox:
    """Ask before forgetting the settings (a window-modal question: the music plays on)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Reset settings", RESET_QUESTION,
                      QMessageBox.StandardButton.Reset | QMessageBox.StandardButton.Cancel, window)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def answered(button: object) -> None:
        if box.standardButton(button) == QMessageBox.StandardButton.Reset:
            window.reset_settings()

    box.buttonClicked.connect(answered)
    box.open()
    return box
