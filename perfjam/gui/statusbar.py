"""The status bar, in a musician's words: the MIDI ports, the audio, the latency from a key to the
synth, how busy PerfJam is (a load meter) and the take being recorded. The figures behind them
(model step times, events per second, late notes) are in the tooltips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from perfjam.audio_drivers import AUDIO_LOST
from perfjam.engine import VIRTUAL_INPUT
from perfjam.gui import theme
from perfjam.gui.widgets import fix_width

LOAD_WARN, LOAD_HIGH = 0.6, 0.85  # the meter turns amber, then red (the engine thread's busy fraction)
LEVEL_COLOURS = {"ok": theme.OK, "busy": theme.WARN, "high": theme.RECORD}
API_NAMES = {"jack": "JACK", "alsa": "ALSA MIDI", "coremidi": "Core MIDI", "winmm": "Windows MIDI"}
# The widest each figure gets: its label keeps that width, so that a changing figure never moves the
# labels beside it.
LATENCY_TEXTS = ("Latency –", "Latency <1 ms", "Latency 888 ms")
LOAD_TEXTS = ("Load –", "Load 100 %")
AUDIO_BACK_TIP = "The sound comes back by itself when the audio system returns"
LATENCY_TIP = ("From your key to the synth: 99 % of your notes sound within this time (the audio "
               "output adds its own buffer).")


def _dot(colour: str, text: str) -> str:
    return f'<span style="color:{colour}">●</span>&nbsp;{text}'


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def audio_text(audio: Any) -> tuple[str, str]:
    """(colour, words) for the synth's audio state ("audio: pulseaudio" / "no audio output")."""
    text = "" if audio is None else str(audio).strip()
    if not text or text.lower().startswith("no audio") or text.lower() in ("none", "off"):
        return theme.WARN.name(), "No audio output"
    if text.lower().startswith(AUDIO_LOST):  # its server went away; the engine reopens it when back
        driver = text.split(":", 1)[1].strip()
        return theme.RECORD.name(), f"Audio: {API_NAMES.get(driver, driver)} stopped"
    driver = text.split(":", 1)[1].strip() if text.lower().startswith("audio:") else text
    return theme.OK.name(), f"Audio: {driver}"


def port_text(kind: str, name: Any, state: str = "connected") -> tuple[str, str]:
    """(colour, words) for a port: its name when connected, "not connected" while it is away."""
    if not name or state == "none":
        return theme.OFF.name(), f"{kind}: none"
    if state == "disconnected":
        return theme.RECORD.name(), f"{kind}: {_short(str(name))} (not connected)"
    if kind == "In" and name == VIRTUAL_INPUT:  # no keyboard chosen: PerfJam's own port is open
        return theme.OK.name(), f"In: {VIRTUAL_INPUT} (virtual port)"
    return theme.OK.name(), f"{kind}: {_short(str(name))}"


def stopped_text(api: str | None) -> str:
    """What the MIDI label says while the MIDI system that worked is gone."""
    return f"MIDI: {API_NAMES.get(api or '', 'MIDI system')} stopped — waiting for it to return"


def latency_text(s: Any) -> str:
    thru = float(getattr(s, "thru_latency_ms_p99", 0.0) or 0.0)
    if thru <= 0:
        return "Latency –"
    return "Latency <1 ms" if thru < 1 else f"Latency {thru:.0f} ms"


def many_late(late: int, sent: int) -> bool:
    """More of PerfJam's notes came late than a listener forgives (over 1 %, and over 3)."""
    return late > max(3, sent // 100)


def load_level(load: float, late: int, sent: int) -> str:
    """"ok" | "busy" | "high": the meter's colour (many late notes count as high)."""
    if load >= LOAD_HIGH or many_late(late, sent):
        return "high"
    return "busy" if load >= LOAD_WARN else "ok"


def details(s: Any) -> str:
    """The figures behind the latency and the load, for their tooltips."""
    thru = float(getattr(s, "thru_latency_ms_p99", 0.0) or 0.0)
    lines = [f"Your key → the synth: {thru:.1f} ms for 99 % of your notes" if thru > 0
             else "Your key → the synth: – (play a note)"]
    lines.append(f"PerfJam is busy {100 * float(getattr(s, 'engine_load', 0.0) or 0.0):.0f} % of the time")
    p50, p99 = getattr(s, "step_ms_p50", 0.0) or 0.0, getattr(s, "step_ms_p99", 0.0) or 0.0
    lines.append(f"Model step {p50:.1f} ms (p99 {p99:.1f}) · {getattr(s, 'events_per_s', 0.0) or 0.0:.0f} "
                 "events/s")
    late, sent = int(getattr(s, "late_notes", 0) or 0), int(getattr(s, "events_out", 0) or 0)
    timing = float(getattr(s, "timing_error_ms_p99", 0.0) or 0.0)
    lines.append(f"PerfJam's notes: {late} late of {sent} sent · timing p99 {timing:.1f} ms")
    return "\n".join(lines)


class LoadMeter(QWidget):
    """A small bar: how busy the engine thread is (0..1), green, amber or red."""

    SIZE = QSize(44, 8)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.load = 0.0
        self.colour = QColor(theme.OK)
        self.setFixedSize(self.SIZE)

    def sizeHint(self) -> QSize:
        return self.SIZE

    def minimumSizeHint(self) -> QSize:
        return self.SIZE

    def set_load(self, load: float, colour: QColor) -> None:
        if (load, colour) != (self.load, self.colour):
            self.load, self.colour = load, QColor(colour)
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(theme.BORDER, 1))
        p.setBrush(theme.PANEL_LIGHT)
        p.drawRoundedRect(frame, 3, 3)
        if self.load > 0:
            inner = frame.adjusted(1, 1, -1, -1)
            inner.setWidth(inner.width() * self.load)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self.colour)
            p.drawRoundedRect(inner, 2, 2)
        p.end()


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.midi_in = QLabel()
        self.midi_out = QLabel()
        self.audio = QLabel()
        self.latency = QLabel("Latency –")
        self.load = QLabel("Load –")
        self.load_bar = LoadMeter()
        self.recording = QLabel()
        self.midi_in.setToolTip("Your MIDI keyboard")
        self.midi_out.setToolTip("Where PerfJam's notes go besides the built-in synth")
        self.latency.setToolTip(LATENCY_TIP)
        self.load.setToolTip("How busy PerfJam is: near 100 %, its notes come late")
        for widget in (self.midi_in, self.midi_out, self.audio, self.latency, self.load_bar, self.load,
                       self.recording):
            self.addPermanentWidget(widget)
        self.fix_widths()  # (in the bar: the style sheet's padding counts)
        self.midi_stopped: str | None = None  # the API whose MIDI system stopped, while it is away
        self._audio: Any = None
        self.show_ports(None, None)
        self.audio.setText(_dot(theme.OFF.name(), "Audio: starting…"))

    def fix_widths(self) -> None:
        """The figures keep one width whatever they say (again after the application's style changes)."""
        fix_width(self.latency, LATENCY_TEXTS)
        fix_width(self.load, LOAD_TEXTS)

    def show_ports(self, midi_in: Any, midi_out: Any, in_state: str = "connected",
                   out_state: str = "connected") -> None:
        if self.midi_stopped is not None:
            return  # the engine's ports are stale while the MIDI system is away
        self.midi_in.setText(_dot(*port_text("In", midi_in, in_state)))
        self.midi_out.setText(_dot(*port_text("Out", midi_out, out_state)))
        self.midi_in.setToolTip(f"Other programs can send MIDI to PerfJam's own port “{VIRTUAL_INPUT}”"
                                if midi_in == VIRTUAL_INPUT else "Your MIDI keyboard")

    def show_audio(self, audio: Any) -> None:
        self._audio = audio
        colour, text = audio_text(audio)
        if text == "Audio: jack" and self.midi_stopped == "jack":  # (before the engine's next status)
            colour, text = theme.RECORD.name(), "Audio: JACK stopped"
        self.audio.setText(_dot(colour, text))
        stopped = colour == theme.RECORD.name()
        self.audio.setToolTip(AUDIO_BACK_TIP if stopped else "Where PerfJam's sound goes")

    def show_midi_system(self, stopped_api: str | None) -> None:
        """``stopped_api``: the MIDI API that worked and went away (e.g. the JACK server stopped),
        or None once it is back (the engine's next status then shows the ports)."""
        self.midi_stopped = stopped_api
        if stopped_api is not None:
            self.midi_in.setText(_dot(theme.RECORD.name(), stopped_text(stopped_api)))
            self.midi_in.setToolTip("PerfJam reconnects your MIDI ports when it is back")
        self.midi_out.setVisible(stopped_api is None)
        self.show_audio(self._audio)

    def show_status(self, s: Any) -> None:
        self.show_ports(s.midi_in, s.midi_out, s.midi_in_state, s.midi_out_state)
        self.show_audio(s.audio)
        self.latency.setText(latency_text(s))
        load = max(0.0, min(1.0, float(getattr(s, "engine_load", 0.0) or 0.0)))
        late, sent = int(getattr(s, "late_notes", 0) or 0), int(getattr(s, "events_out", 0) or 0)
        level = load_level(load, late, sent)
        text = f"Load {100 * load:.0f} %"  # many late notes: red (how many: in the tooltip)
        red = theme.RECORD.name()
        self.load.setText(f'<span style="color:{red}">{text}</span>' if level == "high" else text)
        self.load_bar.set_load(load, LEVEL_COLOURS[level])
        tip = details(s)
        self.latency.setToolTip(f"{LATENCY_TIP}\n\n{tip}")
        self.load.setToolTip(f"How busy PerfJam is: near 100 %, its notes come late\n\n{tip}")
        self.load_bar.setToolTip(self.load.toolTip())
        path = getattr(s, "recording_path", None)
        if path:
            elapsed = int(getattr(s, "recording_elapsed_s", 0) or 0)
            name = _short(Path(str(path)).name, 36)
            clock = f"{elapsed // 60:02d}:{elapsed % 60:02d}"
            self.recording.setText(_dot(theme.RECORD.name(), f"REC {name}  {clock}"))
            self.recording.setToolTip(str(path))
        else:
            self.recording.setText("")
