"""``perfjam jam`` as a real process on real JACK ports: clean stops, virtual ports, recordings
that survive SIGKILL, and a clear error for a corrupt model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jackd
import mido
import pytest

from perfjam.journal import JOURNAL_SUFFIX
from perfjam.live.ports import NOT_REALTIME_JACK

pytestmark = pytest.mark.jack
ROOT = Path(__file__).resolve().parents[1]


def _collect(stream, lines: list[str]) -> None:
    for line in iter(stream.readline, ""):
        lines.append(line.rstrip("\n"))


class Jam:
    """``python -m perfjam jam ARGS`` with its output collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "perfjam", "jam", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=_collect, args=(stream, lines), daemon=True).start()

    def wait_for_line(self, text: str, timeout_s: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.out):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self, sig=signal.SIGINT, timeout_s: float = 20.0) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout_s)
        time.sleep(0.1)  # the reader threads take the last lines
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def jams():
    started: list[Jam] = []

    def start(*args: str) -> Jam:
        jam = Jam(*args)
        started.append(jam)
        return jam

    yield start
    for jam in started:
        jam.kill()


def test_jam_plays_records_and_stops_cleanly_on_sigint(jam_rig, engine_models, jams, tmp_path):
    take = tmp_path / "take.mid"
    jam = jams("--midi-in", jam_rig.keyboard_port, "--midi-out", jam_rig.listener_port, "--mode", "duet",
               "--model", engine_models["dense"], "--record", str(take), "--no-audio", "--midi-api", "jack")
    assert jam.wait_for_line("(connected) out"), jam.out + jam.err
    assert jam_rig.wait_for(lambda: any("(connected) | rec" in line for line in jam.out), 10.0), jam.out
    jam_rig.play([(60, 0.2, 0.1), (64, 0.2, 0.1), (67, 0.3, 0.1)] * 2)
    assert jam_rig.wait_for(lambda: jam_rig.notes(), 5.0), "the AI plays along"
    assert jam.stop(signal.SIGINT) == 0, jam.err
    time.sleep(0.1)
    assert jam_rig.sounding() == set(), "notes were left sounding"
    # a server without realtime scheduling (the tests' own: jackd --no-realtime) is said once, as a warning
    realtime = jackd.runs_realtime(os.environ["JACK_DEFAULT_SERVER"])  # None: a server not started by name
    said = [line for line in jam.err if NOT_REALTIME_JACK in line]
    if realtime is not None:
        assert said == ([] if realtime else [f"warning: {NOT_REALTIME_JACK}"]), jam.err
    assert len(said) <= 1, said
    assert take.exists() and not take.with_name(take.name + JOURNAL_SUFFIX).exists()
    midi = mido.MidiFile(take)
    assert [m.note for m in midi.tracks[1] if m.type == "note_on" and m.velocity] == [60, 64, 67] * 2
    assert any(m.type == "note_on" for m in midi.tracks[2])
    status = [line for line in jam.out if line.startswith("[duet")]
    assert status and "events in 12" in status[-1] and "late" in status[-1] and "step" in status[-1]
    assert f"recording: {take}" in jam.out[-1]


def test_jam_opens_virtual_ports_when_none_are_named_and_stops_on_sigterm(jam_rig, engine_models, jams):
    from perfjam import midi_io

    jam = jams("--mode", "solo", "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack")
    assert jam.wait_for_line("PerfJam In (connected) out PerfJam Out (connected)"), jam.out + jam.err
    outputs = midi_io.list_output_ports("jack")
    inputs = midi_io.list_input_ports("jack")
    assert any(p.endswith(":PerfJam In") for p in outputs), "a keyboard can send to PerfJam In"
    assert any(p.endswith(":PerfJam Out") for p in inputs), "a DAW can listen to PerfJam Out"
    port = next(p for p in inputs if p.endswith(":PerfJam Out"))
    import queue

    got: queue.SimpleQueue = queue.SimpleQueue()
    with midi_io.MidiInput(port, got, api="jack", client_name="daw"):
        assert jam_rig.wait_for(lambda: not got.empty(), 5.0), "solo notes reach PerfJam Out"
        assert jam.stop(signal.SIGTERM) == 0, jam.err


def test_a_killed_session_is_recovered_with_at_most_a_second_lost(jam_rig, engine_models, jams, tmp_path):
    take = tmp_path / "killed.mid"
    args = ("--midi-in", jam_rig.keyboard_port, "--midi-out", jam_rig.listener_port, "--mode", "call",
            "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack")
    jam = jams(*args, "--record", str(take))
    recording = jam_rig.wait_for(lambda: any("(connected) | rec" in line for line in jam.out), 20.0)
    assert recording, jam.out + jam.err
    pitches = [48 + i % 24 for i in range(30)]
    jam_rig.play([(p, 0.05, 0.05) for p in pitches])
    killed_at = time.perf_counter()
    jam.proc.send_signal(signal.SIGKILL)
    jam.proc.wait(10)
    journal = take.with_name(take.name + JOURNAL_SUFFIX)
    assert journal.exists() and not take.exists()

    # `perfjam recover` rebuilds it...
    result = subprocess.run([sys.executable, "-m", "perfjam", "recover", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and f"recovered {take}" in result.stdout, result.stdout + result.stderr
    midi = mido.MidiFile(take)
    recorded = [m.note for m in midi.tracks[1] if m.type == "note_on" and m.velocity]
    sent = [(t, m[1]) for t, m in jam_rig.sent if m[0] == 0x90]
    safe = [p for t, p in sent if t < killed_at - 1.0]  # flushed at least once a second
    assert recorded[: len(safe)] == safe and len(recorded) >= len(safe) > 10

    # ...and so does the next start, by itself.
    take.unlink()
    jam = jams(*args, "--record", str(take))
    recording = jam_rig.wait_for(lambda: any("(connected) | rec" in line for line in jam.out), 20.0)
    assert recording, jam.out + jam.err
    jam_rig.play([(60, 0.05, 0.05)] * 5)
    time.sleep(1.2)
    assert journal.exists()
    jam.proc.send_signal(signal.SIGKILL)
    jam.proc.wait(10)
    again = jams(*args)
    assert again.wait_for_line("(connected) out"), again.out + again.err
    assert any(f"recovered an interrupted recording: {take}" in line for line in again.err), again.err
    assert again.stop() == 0
    assert [m.note for m in mido.MidiFile(take).tracks[1] if m.type == "note_on" and m.velocity] == [60] * 5


def test_jam_reports_a_corrupt_model_clearly(engine_models, jams, jack_server):
    jam = jams("--model", engine_models["corrupt"], "--no-audio", "--midi-api", "jack")
    assert jam.proc.wait(30) == 2
    time.sleep(0.1)
    assert any("corrupt.onnx is not a loadable ONNX model" in line for line in jam.err), jam.err


def test_jam_reports_a_missing_model_clearly(jams, jack_server, tmp_path):
    jam = jams("--model", str(tmp_path / "nothing.onnx"), "--no-audio", "--midi-api", "jack")
    assert jam.proc.wait(30) == 2
    time.sleep(0.1)
    assert any("model file not found" in line for line in jam.err), jam.err


def test_jam_status_line_refreshes_in_place_on_a_terminal():
    from perfjam.engine import StatusReport
    from perfjam.jam import status_line

    line = status_line(StatusReport(
        midi_in="kb:keys", midi_out="", audio="no audio", mode="call", temperature=0.9, model_name="m",
        has_controls=False, step_ms_p50=0.4, step_ms_p99=1.2, late_notes=0, events_per_s=50.0,
        recording_path="/x.mid", recording_elapsed_s=75.0, playing=True, midi_in_state="connected",
        midi_out_state="none", state="listening", events_in=3, events_out=7))
    assert line.startswith("[call listening] T=0.90 events in 3 out 7 | step 0.40/1.20 ms | late 0")
    assert line.endswith("in kb:keys (connected) out - (none) | rec 01:15") and "\n" not in line


def test_jam_chooses_the_audio_driver_and_jack_name_like_the_window(jam_rig, engine_models, jams):
    """--audio-driver / --jack-name: perfjam.audio_drivers, shared with the window's arguments."""
    name = f"pjjam{jam_rig.kb_client}"
    jam = jams("--mode", "call", "--model", engine_models["dense"], "--midi-api", "jack",
               "--midi-in", jam_rig.keyboard_port, "--audio-driver", "no-such-driver",
               "--audio-driver", "jack", "--jack-name", name)
    assert jam.wait_for_line("(connected) out"), jam.out + jam.err
    ports = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split()
    assert f"{name}:left" in ports and f"{name}:right" in ports
    assert jam.stop(signal.SIGINT) == 0, jam.err


def test_the_audio_driver_order_is_defined_once(monkeypatch):
    import argparse

    from perfjam import jam as jam_module
    from perfjam.audio_drivers import DEFAULT_AUDIO_DRIVERS, ENV_AUDIO_DRIVERS, audio_settings
    from perfjam.gui import app as gui_app

    monkeypatch.delenv(ENV_AUDIO_DRIVERS, raising=False)
    for add_arguments in (jam_module.add_arguments, gui_app.add_arguments):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        assert audio_settings(parser.parse_args([])) == {"audio_drivers": DEFAULT_AUDIO_DRIVERS,
                                                         "client_name": "perfjam"}
        chosen = parser.parse_args(["--audio-driver", "jack", "--audio-driver", "alsa", "--jack-name", "pj"])
        assert audio_settings(chosen) == {"audio_drivers": ("jack", "alsa"), "client_name": "pj"}
        assert audio_settings(parser.parse_args(["--no-audio"]))["audio_drivers"] == ()
        monkeypatch.setenv(ENV_AUDIO_DRIVERS, "jack, sdl2")
        assert audio_settings(parser.parse_args([]))["audio_drivers"] == ("jack", "sdl2")
        monkeypatch.delenv(ENV_AUDIO_DRIVERS)
