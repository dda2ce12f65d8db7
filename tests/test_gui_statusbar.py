"""The status bar speaks to a musician (issue 11, §4 and §1): latency in ms and a load meter, the
model's figures only in the tooltips; PerfJam's own virtual input named as such; a MIDI system
that stopped said plainly (never a green state from the engine's stale ports), and audio through
a JACK that went away not shown as working."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from perfjam.engine import VIRTUAL_INPUT, StatusReport  # noqa: E402
from perfjam.gui import theme  # noqa: E402
from perfjam.gui.statusbar import StatusBar  # noqa: E402

REPORT = StatusReport(
    midi_in="Keystation 49:Keystation 49 MIDI 1 20:0", midi_out="", audio="audio: jack", mode="call",
    temperature=1.0, model_name="perfjam-dynamics", has_controls=True, step_ms_p50=0.3, step_ms_p99=1.3,
    late_notes=0, events_per_s=120.0, recording_path=None, recording_elapsed_s=0.0, playing=True,
    midi_in_state="connected", midi_out_state="none", state="listening", events_in=40, events_out=300,
    timing_error_ms_p99=0.4, thru_latency_ms_p99=3.2, engine_load=0.12,
)


@pytest.fixture
def bar(qtbot) -> StatusBar:
    widget = StatusBar()
    qtbot.addWidget(widget)
    return widget


def _texts(bar: StatusBar) -> str:
    return " | ".join(label.text() for label in (bar.midi_in, bar.midi_out, bar.audio, bar.latency, bar.load))


def test_latency_and_load_in_a_musicians_words_with_the_figures_behind_a_tooltip(bar):
    bar.show_status(REPORT)
    assert bar.latency.text() == "Latency 3 ms"
    assert bar.load.text() == "Load 12 %" and bar.load_bar.load == pytest.approx(0.12)
    shown = _texts(bar)
    assert "ev/s" not in shown and "p99" not in shown and "Model" not in shown
    tip = bar.load.toolTip()
    assert "Model step 0.3 ms (p99 1.3)" in tip and "120 events/s" in tip and "0 late of 300" in tip
    assert "3.2 ms" in bar.latency.toolTip()
    assert bar.load_bar.colour == theme.OK


def test_a_busy_engine_and_late_notes_turn_the_meter_red(bar):
    bar.show_status(dataclasses.replace(REPORT, engine_load=0.93))
    assert "Load 93 %" in bar.load.text() and theme.RECORD.name() in bar.load.text()
    assert bar.load_bar.colour == theme.RECORD
    bar.show_status(dataclasses.replace(REPORT, engine_load=0.2, late_notes=40, events_out=1000))
    assert theme.RECORD.name() in bar.load.text() and bar.load_bar.colour == theme.RECORD
    assert "40 late of 1000" in bar.load.toolTip()
    bar.show_status(dataclasses.replace(REPORT, engine_load=0.7))
    assert bar.load_bar.colour == theme.WARN and theme.RECORD.name() not in bar.load.text()
    bar.show_status(dataclasses.replace(REPORT, thru_latency_ms_p99=0.0))  # nothing played yet
    assert bar.latency.text() == "Latency –"
    bar.show_status(dataclasses.replace(REPORT, thru_latency_ms_p99=0.3))
    assert bar.latency.text() == "Latency <1 ms"


def test_the_figures_keep_their_width_whatever_they_say(bar):
    widths = set()
    for load, thru in ((0.03, 0.4), (0.12, 3.0), (1.0, 250.0), (0.0, 0.0)):
        bar.show_status(dataclasses.replace(REPORT, engine_load=load, thru_latency_ms_p99=thru))
        widths.add(tuple((w.minimumWidth(), w.maximumWidth()) for w in (bar.latency, bar.load)))
    ((latency_min, latency_max), (load_min, load_max)), = widths
    assert latency_min == latency_max > 0 and load_min == load_max > 0


def test_perfjams_own_input_port_is_named_as_such(bar):
    bar.show_status(dataclasses.replace(REPORT, midi_in=VIRTUAL_INPUT))
    assert f"In: {VIRTUAL_INPUT} (virtual port)" in bar.midi_in.text()
    assert "Other programs can send MIDI" in bar.midi_in.toolTip()


def test_a_stopped_jack_is_said_plainly_until_it_returns(bar):
    bar.show_status(REPORT)
    assert theme.OK.name() in bar.midi_in.text() and "Audio: jack" in bar.audio.text()
    bar.show_midi_system("jack")
    stale = dataclasses.replace(REPORT, midi_in_state="connected")  # the engine's dead client says so
    bar.show_status(stale)
    assert "MIDI: JACK stopped — waiting for it to return" in bar.midi_in.text()
    assert theme.RECORD.name() in bar.midi_in.text() and theme.OK.name() not in bar.midi_in.text()
    assert bar.midi_out.isHidden()
    assert "Audio: JACK stopped" in bar.audio.text() and theme.OK.name() not in bar.audio.text()
    bar.show_midi_system(None)  # MIDI back; the engine has not reopened the audio yet
    bar.show_status(dataclasses.replace(REPORT, audio="audio lost: jack"))
    assert "Keystation 49" in bar.midi_in.text() and not bar.midi_out.isHidden()
    assert "Audio: JACK stopped" in bar.audio.text() and theme.RECORD.name() in bar.audio.text()
    assert "comes back by itself" in bar.audio.toolTip()
    bar.show_status(REPORT)  # the engine reopened FluidSynth's JACK audio
    assert "Audio: jack" in bar.audio.text() and theme.OK.name() in bar.audio.text()


def test_audio_that_does_not_go_through_jack_is_not_blamed_on_it(bar):
    bar.show_midi_system("jack")
    bar.show_status(dataclasses.replace(REPORT, audio="audio: pulseaudio"))
    assert "Audio: pulseaudio" in bar.audio.text() and theme.OK.name() in bar.audio.text()
    bar.show_midi_system("alsa")
    assert "MIDI: ALSA MIDI stopped" in bar.midi_in.text()
