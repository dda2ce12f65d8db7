"""``perfjam jam`` gets its MIDI ports back after the JACK server restarts (the engine reopens them
on new clients, named and virtual ports alike, whether the AI plays or listens): a real jackd of
the test's own, stopped and started again under a running ``perfjam jam``."""

from __future__ import annotations

import os
import queue
import signal
import time

import jackd
import pytest
from test_jam import jams  # noqa: F401 - the fixture starting `perfjam jam` processes

pytestmark = pytest.mark.jack


@pytest.fixture
def own_server(tmp_path, monkeypatch, jack_server):
    """A JACK server of this test's own (this process and the jam's talk to it), and a function
    that restarts it."""
    name = f"perfjam-jam-restart-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    log = open(tmp_path / "jackd.log", "wb")  # noqa: SIM115 (closed below)
    server = [jackd.start(name, log)]

    def restart() -> None:
        jackd.stop(server[0])
        server[0] = jackd.start(name, log)

    yield restart
    jackd.stop(server[0])
    log.close()


class Rig:
    """A keyboard (a virtual output the jam reads) and a listener (a virtual input it sends to)
    on the current server; ``replug`` makes new ones (the old died with their server)."""

    def __init__(self) -> None:
        self.ports: list = []
        self.losses = 0
        self.replug()

    def replug(self) -> None:
        from perfjam import midi_io
        from perfjam.midi_io import jack_log

        deadline = time.monotonic() + 5  # the dead clients all said so (or a new one counts itself dead)
        while len(self.ports) and jack_log.server_losses() - self.losses < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.losses = jack_log.server_losses()
        self.received: queue.SimpleQueue = queue.SimpleQueue()
        self.keyboard = midi_io.MidiOutput("keys", api="jack", virtual=True, client_name="rkeys")
        self.listener = midi_io.MidiInput("listen", self.received, api="jack", virtual=True,
                                          client_name="rlisten")
        self.ports += [self.keyboard, self.listener]

    def notes(self, timeout_s: float, channel: int) -> list[tuple[int, ...]]:
        """Note-ons on ``channel`` received within ``timeout_s`` (at least one, or none)."""
        got, deadline = [], time.monotonic() + timeout_s
        while time.monotonic() < deadline and not got:
            try:
                _t, message = self.received.get(timeout=0.05)
            except queue.Empty:
                continue
            if len(message) == 3 and message[0] == 0x90 | channel and message[2] > 0:
                got.append(message)
        return got

    def close(self) -> None:
        for port in self.ports:
            port.close()


def _wait_line(jam, text: str, after: int, timeout_s: float = 30.0) -> float | None:
    """Seconds until a stdout line after the first ``after`` ones contains ``text``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if any(text in line for line in jam.out[after:]):
            return time.monotonic() - start
        if jam.proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("mode", ["call", "solo"])
def test_jam_gets_its_named_ports_back_after_a_jack_restart(own_server, engine_models, jams, mode):  # noqa: F811
    rig = Rig()
    try:
        jam = jams("--midi-in", "rkeys:keys", "--midi-out", "rlisten:listen", "--mode", mode, "--thru",
                   "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack")
        connected = "in rkeys:keys (connected) out rlisten:listen (connected)"
        assert _wait_line(jam, connected, 0) is not None, jam.out + jam.err
        rig.keyboard.note_on(0, 60, 90)
        assert rig.notes(5.0, channel=1), "thru works before the restart"
        rig.keyboard.note_off(0, 60)

        own_server()  # the JACK server stops and starts again: every client of it is gone
        rig.replug()
        seen = len(jam.out)
        assert _wait_line(jam, connected, seen) is not None, jam.out[-3:] + jam.err
        rig.keyboard.note_on(0, 62, 90)
        assert rig.notes(5.0, channel=1), "the keyboard plays through the jam again (thru)"
        rig.keyboard.note_off(0, 62)
        assert rig.notes(10.0, channel=0), "\n".join(jam.out[seen - 2:] + jam.err)
        assert jam.stop(signal.SIGINT) == 0, jam.err
        assert not any("Traceback" in line for line in jam.err), jam.err
    finally:
        rig.close()


def test_jam_gets_its_virtual_ports_back_after_a_jack_restart(own_server, engine_models, jams):  # noqa: F811
    from perfjam import midi_io

    jam = jams("--mode", "solo", "--model", engine_models["dense"], "--no-audio", "--midi-api", "jack")
    assert _wait_line(jam, "in PerfJam In (connected) out PerfJam Out (connected)", 0) is not None, jam.err
    own_server()  # a new server: the ports listed on it are the jam's new ones
    deadline = time.monotonic() + 30
    while not {"perfjam-in:PerfJam In", "perfjam-out:PerfJam Out"} <= set(jackd.ports()):
        assert time.monotonic() < deadline and jam.proc.poll() is None, jam.out[-2:] + jam.err
        time.sleep(0.1)
    port = next(p for p in midi_io.list_input_ports("jack") if p.endswith(":PerfJam Out"))
    got: queue.SimpleQueue = queue.SimpleQueue()
    with midi_io.MidiInput(port, got, api="jack", client_name="daw"):
        deadline = time.monotonic() + 10
        while got.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not got.empty(), "a DAW hears PerfJam Out again"
        assert jam.stop(signal.SIGTERM) == 0, jam.err
