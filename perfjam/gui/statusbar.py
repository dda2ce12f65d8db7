"""The status bar: ports, audio, model timing, events/s and the take being recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from perfjam.gui import theme


def _dot(colour: str, text: str) -> str:
    return f'<span style="color:{colour}">●</span>&nbsp;{text}'


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def audio_text(audio: Any) -> tuple[str, str]:
    """(colour, words) for the synth's audio state ("audio: pulseaudio" / "no audio output")."""
    text = "" if audio is None else str(audio).strip()
    if not text or text.lower().startswith("no audio") or text.lower() in ("none", "off"):
        return theme.WARN.name(), "No audio output"
    driver = text.split(":", 1)[1].strip() if text.lower().startswith("audio:") else text
    return theme.OK.name(), f"Audio: {driver}"


def port_text(kind: str, name: Any, state: str = "connected") -> tuple[str, str]:
    """(colour, words) for a port: its name when connected, "not connected" while it is away."""
    if not name or state == "none":
        return theme.OFF.name(), f"{kind}: none"
    if state == "disconnected":
        return theme.RECORD.name(), f"{kind}: {_short(str(name))} (not connected)"
    return theme.OK.name(), f"{kind}: {_short(str(name))}"


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.midi_in = QLabel()
        self.midi_out = QLabel()
        self.audio = QLabel()
        self.timing = QLabel()
        self.events = QLabel()
        self.recording = QLabel()
        self.midi_in.setToolTip("Your MIDI keyboard")
        self.midi_out.setToolTip("Where PerfJam's notes go besides the built-in synth")
        self.timing.setToolTip("Model step time (median / 99th percentile) and notes that played late")
        self.events.setToolTip("Model events per second")
        for label in (self.midi_in, self.midi_out, self.audio, self.timing, self.events, self.recording):
            self.addPermanentWidget(label)
        self.show_ports(None, None)
        self.audio.setText(_dot(theme.OFF.name(), "Audio: starting…"))
        self.timing.setText("Model: –")
        self.events.setText("– ev/s")

    def show_ports(self, midi_in: Any, midi_out: Any, in_state: str = "connected",
                   out_state: str = "connected") -> None:
        self.midi_in.setText(_dot(*port_text("In", midi_in, in_state)))
        self.midi_out.setText(_dot(*port_text("Out", midi_out, out_state)))

    def show_audio(self, audio: Any) -> None:
        self.audio.setText(_dot(*audio_text(audio)))

    def show_status(self, s: Any) -> None:
        self.show_ports(s.midi_in, s.midi_out, s.midi_in_state, s.midi_out_state)
        self.show_audio(s.audio)
        p50, p99 = getattr(s, "step_ms_p50", None), getattr(s, "step_ms_p99", None)
        late = int(getattr(s, "late_notes", 0) or 0)
        if p50 is None:
            self.timing.setText("Model: –")
        else:
            sent = int(getattr(s, "events_out", 0) or 0)
            colour = theme.RECORD.name() if late > max(3, sent // 100) else theme.MUTED.name()
            late_html = f'<span style="color:{colour}">{late} late</span>'
            self.timing.setText(f"Model {p50:.1f} ms (p99 {p99 or 0:.1f}) · {late_html}")
        rate = getattr(s, "events_per_s", None)
        self.events.setText(f"{rate:.0f} ev/s" if rate is not None else "– ev/s")
        path = getattr(s, "recording_path", None)
        if path:
            elapsed = int(getattr(s, "recording_elapsed_s", 0) or 0)
            name = _short(Path(str(path)).name, 36)
            clock = f"{elapsed // 60:02d}:{elapsed % 60:02d}"
            self.recording.setText(_dot(theme.RECORD.name(), f"REC {name}  {clock}"))
            self.recording.setToolTip(str(path))
        else:
            self.recording.setText("")
