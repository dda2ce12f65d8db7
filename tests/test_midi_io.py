"""perfjam.midi_io with real JACK MIDI ports (a private JACK server with the dummy backend)."""

from __future__ import annotations

import argparse
import itertools
import os
import queue
import time

import pytest

from perfjam import midi_io
from perfjam.midi_io import MidiError, MidiInput, MidiOutput, MidiPortError, find_port

pytestmark = pytest.mark.jack
_ids = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000}x{next(_ids)}"


PROBE = (0x8F, 0, 0)  # a note-off on channel 16: harmless, and never part of what a test checks


def drain(inbox: queue.SimpleQueue, count: int, timeout_s: float = 3.0) -> list:
    """The next ``count`` items, probes left out (fewer if they do not come within the timeout)."""
    items, deadline = [], time.monotonic() + timeout_s
    while len(items) < count and time.monotonic() < deadline:
        try:
            item = inbox.get(timeout=0.01)
        except queue.Empty:
            continue
        if item[-1] != PROBE:
            items.append(item)
    return items


def settle(sender: MidiOutput, inbox: queue.SimpleQueue, timeout_s: float = 5.0) -> None:
    """Wait until a new JACK connection carries messages: it takes effect at a later process cycle,
    so a message sent right after connecting can be lost (seen on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sender.send(PROBE)
        try:
            if inbox.get(timeout=0.02)[-1] == PROBE:
                return
        except queue.Empty:
            pass
    pytest.fail("the JACK MIDI connection never carried a message")


def wait_for(predicate, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def jack(jack_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(midi_io.ENV_API, "jack")
    return jack_server


def test_messages_flow_from_a_virtual_output_to_an_input_opened_by_name(jack: str):
    client = unique("kbd")
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    with MidiOutput("keys", virtual=True, client_name=client) as keyboard:
        assert f"{client}:keys" in midi_io.list_input_ports()
        with MidiInput(f"{client}:keys", inbox) as port:
            assert port.state == "connected" and port.name == f"{client}:keys" and port.api == "jack"
            settle(keyboard, inbox)
            before_s = time.perf_counter()
            messages = [(0x90, 60, 100), (0x90, 64, 90), (0x80, 60, 0), (0x80, 64, 0)]
            for message in messages:
                assert keyboard.send(message)
            received = drain(inbox, len(messages))
    assert [message for _, message in received] == messages
    times = [time_s for time_s, _ in received]
    assert times == sorted(times) and before_s <= times[0] <= time.perf_counter()
    assert all(isinstance(b, int) for _, message in received for b in message)


def test_input_by_substring_and_index_with_a_tag(jack: str):
    client = unique("subst")
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    with MidiOutput("piano-out", virtual=True, client_name=client) as source:
        ports = midi_io.list_input_ports()
        with MidiInput(client.upper(), inbox, tag="midi") as by_substring:
            assert by_substring.name == f"{client}:piano-out"
            settle(source, inbox)
            source.note_on(2, 70, 80)
            assert [(tag, msg) for tag, _, msg in drain(inbox, 1)] == [("midi", (0x92, 70, 80))]
        with MidiInput(ports.index(f"{client}:piano-out"), inbox) as by_index:
            assert by_index.name == f"{client}:piano-out"


def test_output_opened_by_name_reaches_a_virtual_input(jack: str):
    client = unique("synth")
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    with MidiInput("notes-in", inbox, virtual=True, client_name=client):
        with MidiOutput(f"{client}:notes-in") as out:
            settle(out, inbox)
            assert out.note_on(0, 60, 100) and out.control_change(0, 64, 127) and out.note_off(0, 60)
            assert [m for _, m in drain(inbox, 3)] == [(0x90, 60, 100), (0xB0, 64, 127), (0x80, 60, 0)]


def test_panic_releases_open_notes_then_resets_every_channel(jack: str):
    client = unique("panic")
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    with MidiInput("in", inbox, virtual=True, client_name=client):
        with MidiOutput(f"{client}:in") as out:
            settle(out, inbox)
            out.note_on(0, 60, 100)
            out.note_on(0, 64, 100)
            out.note_on(9, 36, 120)
            out.note_off(0, 64)
            assert out.sounding_notes() == {(0, 60), (9, 36)}
            drain(inbox, 4)
            out.panic()
            assert out.sounding_notes() == set()
            received = [m for _, m in drain(inbox, 2 + 16 * 3)]
    assert received[:2] == [(0x80, 60, 0), (0x89, 36, 0)]
    for channel in range(16):
        assert (0xB0 | channel, 123, 0) in received  # All Notes Off
        assert (0xB0 | channel, 120, 0) in received  # All Sound Off
        assert (0xB0 | channel, 64, 0) in received  # sustain pedal up
    assert len(received) == 2 + 16 * 3


def test_hot_plug_input_disconnects_and_reconnects(jack: str):
    client = unique("plug")
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    keyboard = MidiOutput("keys", virtual=True, client_name=client)
    port = MidiInput(f"{client}:keys", inbox)
    try:
        assert port.check() is False and port.state == "connected"
        keyboard.close()  # the device goes away
        assert wait_for(port.check) and port.state == "disconnected"
        assert port.check() is False and port.state == "disconnected"  # still gone: no change
        keyboard = MidiOutput("keys", virtual=True, client_name=client)  # ... and comes back
        assert wait_for(port.check) and port.state == "connected" and port.name == f"{client}:keys"
        settle(keyboard, inbox)
        keyboard.note_on(0, 61, 100)
        assert [m for _, m in drain(inbox, 1)] == [(0x90, 61, 100)]  # messages flow again
    finally:
        port.close()
        keyboard.close()
    assert port.state == "closed" and port.check() is False


def test_hot_plug_output_drops_messages_while_its_port_is_gone(jack: str):
    client = unique("gone")
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    synth = MidiInput("in", inbox, virtual=True, client_name=client)
    out = MidiOutput(f"{client}:in")
    try:
        out.note_on(0, 60, 100)
        synth.close()
        assert wait_for(out.check) and out.state == "disconnected"
        assert out.note_on(0, 62, 100) is False  # dropped, never raised
        assert out.sounding_notes() == set()
        out.panic()  # harmless while disconnected
        synth = MidiInput("in", inbox, virtual=True, client_name=client)
        assert wait_for(out.check) and out.state == "connected"
        settle(out, inbox)
        assert out.note_on(0, 63, 100)
        assert [m for _, m in drain(inbox, 1)] == [(0x90, 63, 100)]
    finally:
        out.close()
        synth.close()


def test_unknown_port_names_the_available_ones(jack: str):
    client = unique("avail")
    with MidiOutput("here", virtual=True, client_name=client):
        with pytest.raises(MidiPortError, match=f"no MIDI input named 'no-such-port'.*{client}:here"):
            MidiInput("no-such-port", queue.SimpleQueue())
        with pytest.raises(MidiPortError, match="no MIDI input number 999"):
            MidiInput(999, queue.SimpleQueue())


def test_find_port_rules():
    ports = ["Piano:Piano MIDI 1 20:0", "Through:Port-0 14:0", "Through:Port-1 14:1"]
    assert find_port(ports, 1) == 1
    assert find_port(ports, "Through:Port-1 14:1") == 2
    assert find_port(ports, "Piano:Piano MIDI 1 24:0") == 0  # replugged: other ALSA numbers
    assert find_port(ports, "piano") == 0
    with pytest.raises(MidiPortError, match="ambiguous"):
        find_port(ports, "through")


def test_alsa_api_fails_clearly_or_works(monkeypatch: pytest.MonkeyPatch):
    if os.path.exists("/dev/snd/seq"):
        assert "alsa" in midi_io.available_apis()
        return
    with pytest.raises(MidiError, match="cannot open the alsa MIDI API.*JACK"):
        midi_io.list_input_ports("alsa")
    assert "alsa" not in midi_io.available_apis()
    with pytest.raises(MidiError, match="unknown MIDI API 'bogus'"):
        midi_io.list_input_ports("bogus")


def test_auto_api_falls_back_to_jack_without_an_alsa_sequencer(jack: str, monkeypatch: pytest.MonkeyPatch):
    if os.path.exists("/dev/snd/seq"):
        pytest.skip("this machine has an ALSA sequencer")
    monkeypatch.delenv(midi_io.ENV_API)
    assert midi_io.default_api() == "auto"
    client = unique("auto")
    with MidiOutput("x", virtual=True, client_name=client) as out:
        assert out.api == "jack"
    assert midi_io.available_apis() == ["jack"]


def test_ports_subcommand_lists_ports(jack: str, capsys: pytest.CaptureFixture[str]):
    client = unique("cli")
    with MidiOutput("listed", virtual=True, client_name=client):
        parser = argparse.ArgumentParser()
        midi_io.add_arguments(parser)
        assert midi_io.run(parser.parse_args(["--midi-api", "jack"])) == 0
    out = capsys.readouterr().out
    assert "MIDI API: jack" in out and f"{client}:listed" in out


# --- polled input, port lister ----------------------------------------------------------------------
def poll_for(port: MidiInput, count: int, timeout_s: float = 3.0) -> list:
    """The next ``count`` (time_s, message, read_s) from a polled input, probes left out; polls
    every ~0.2 ms as the engine does."""
    items, deadline = [], time.monotonic() + timeout_s
    while len(items) < count and time.monotonic() < deadline:
        for time_s, message in port.iter_pending():
            if message != PROBE:
                items.append((time_s, message, time.perf_counter()))
        time.sleep(0.0002)
    return items


def settle_polled(sender: MidiOutput, port: MidiInput, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sender.send(PROBE)
        time.sleep(0.02)
        if any(message == PROBE for _, message in port.iter_pending()):
            return
    pytest.fail("the JACK MIDI connection never carried a message")


def test_a_polled_input_stamps_each_arrival_from_the_midi_clock(jack: str):
    client = unique("poll")
    with MidiOutput("keys", virtual=True, client_name=client) as keyboard, \
            MidiInput(f"{client}:keys", queue_size=64) as port:
        with MidiInput(f"{client}:keys", queue.SimpleQueue()) as delivering, pytest.raises(RuntimeError):
            delivering.poll()  # an input that delivers to a queue is not polled
        settle_polled(keyboard, port)
        sent, got = [], []
        for i in range(40):
            sent.append(time.perf_counter())
            keyboard.send((0x90, 40 + i, 100))
            if i % 10 == 3:
                keyboard.send((0xFE,))  # active sensing: ignored, and its time still counted
            if i % 10 == 7:
                time.sleep(0.03)  # the reader is busy: what arrives meanwhile keeps its own time
            got += poll_for(port, 1, timeout_s=0.004)  # read as the engine does, every ~0.2 ms
        got += poll_for(port, 40 - len(got))
        assert [m for _, m, _ in got] == [(0x90, 40 + i, 100) for i in range(40)]
        for sent_s, (time_s, _, read_s) in zip(sent, got, strict=True):
            # arrived after it was sent, within a JACK period or a few (a loaded machine delays the
            # server), and before it was read: not when it was read (up to 30 ms later)
            assert sent_s <= time_s <= read_s and time_s - sent_s < 0.025
        assert max(read_s - time_s for time_s, _, read_s in got) > 0.025
        assert port.stamp_error_s < 0.001
        # rtmidi's queue holds the messages while nobody reads (up to queue_size)
        for i in range(30):
            keyboard.send((0xB0, 64, i))
        time.sleep(0.1)
        assert [m[2] for _, m, _ in poll_for(port, 30)] == list(range(30))
    assert port.poll() is None  # closed: nothing, no error


def test_a_port_lister_keeps_its_clients_and_sees_new_ports(jack: str):
    client = unique("lister")
    with midi_io.PortLister() as lister:
        inputs, outputs = lister()
        assert lister.api == "jack"
        kept = dict(lister._clients)
        with MidiOutput("probe", virtual=True, client_name=client):
            assert f"{client}:probe" in lister.inputs()
            assert dict(lister._clients) == kept  # no new MIDI client per listing
        assert f"{client}:probe" not in lister.inputs()
        assert lister.outputs() == outputs


def test_a_quick_check_notices_a_returning_port(jack: str):
    client = unique("quick")
    keyboard = MidiOutput("keys", virtual=True, client_name=client)
    port = MidiInput(f"{client}:keys")
    try:
        keyboard.close()
        assert wait_for(port.check) and port.state == "disconnected"
        assert port.check(quick=True) is False  # nothing new: one cheap query
        keyboard = MidiOutput("keys", virtual=True, client_name=client)
        assert wait_for(lambda: port.check(quick=True)) and port.state == "connected"
        settle_polled(keyboard, port)
        keyboard.note_on(0, 61, 100)
        assert [m for _, m, _ in poll_for(port, 1)] == [(0x90, 61, 100)]
    finally:
        port.close()
        keyboard.close()


def test_a_polled_input_drops_a_note_on_delivered_twice_and_keeps_real_repeats(jack: str):
    client = unique("dbl")
    with MidiOutput("keys", virtual=True, client_name=client) as keyboard, \
            MidiInput(f"{client}:keys") as port:
        settle_polled(keyboard, port)
        played = [
            ((0x90, 60, 100), 0.003), ((0x90, 60, 100), 0.05),  # the same note-on again, 3 ms on: doubled
            ((0x90, 62, 90), 0.002), ((0x80, 62, 0), 0.002), ((0x90, 62, 90), 0.05),  # rose: struck again
            ((0x90, 64, 80), 0.002), ((0x90, 64, 81), 0.05),  # another velocity: a second strike
            ((0x91, 60, 100), 0.05),  # the same key on another channel
            ((0x90, 65, 70), 0.06), ((0x90, 65, 70), 0.05),  # 60 ms on: a re-strike whose note-off was lost
        ]
        for message, pause_s in played:
            keyboard.send(message)
            time.sleep(pause_s)
        got = [m for _, m, _ in poll_for(port, len(played) - 1)]
        assert got == [m for i, (m, _) in enumerate(played) if i != 1]
        assert port.doubled_note_ons == 1
