"""Fuzzing what comes from outside: random MIDI bytes into the live engine's input (real JACK
ports, a real FluidSynth) never stop the AI nor raise in the engine, and random journal files in
a recordings folder never make recovery write outside it, hang or crash."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import JamRig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_recovery import snapshot

from perfjam.engine import ErrorReport
from perfjam.journal import JOURNAL_SUFFIX, MAGIC
from perfjam.recovery import recover_all, run

EXAMPLES = int(os.environ.get("PERFJAM_FUZZ_EXAMPLES", "0"))  # more than the defaults, for a long run
LIVE = settings(max_examples=EXAMPLES or 40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FILES = settings(max_examples=EXAMPLES or 150, deadline=timedelta(seconds=10), database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
ALL_NOTES_OFF = (0xB0, 123, 0)


# --- MIDI bytes into the live input --------------------------------------------------------------------
byte = st.integers(0, 255)
channel_message = st.tuples(st.integers(0x80, 0xEF), byte, byte).map(bytes)  # data bytes over 127 too
# Anything rtmidi sends (wrong lengths, no status byte), but a SysEx start without its end: RtMidi's
# JACK input then takes every later event for the SysEx's continuation until a byte 0xF7 ends one,
# and the input delivers nothing meanwhile (a limitation of RtMidi, not handled here).
short_message = st.binary(min_size=1, max_size=3).filter(lambda data: data[0] != 0xF0)
sysex = st.binary(max_size=40).map(lambda data: b"\xf0" + data + b"\xf7")
midi_bytes = st.lists(st.one_of(channel_message, short_message, sysex), min_size=1, max_size=30)


@pytest.fixture(scope="module")
def live(jack_server, engine_models, tmp_path_factory):
    """A duet engine recording, on real ports, for every example (the AI plays throughout)."""
    saved = {key: os.environ.get(key) for key in ("PERFJAM_MIDI_API", "PERFJAM_RECORDINGS")}
    os.environ["PERFJAM_MIDI_API"] = "jack"
    os.environ["PERFJAM_RECORDINGS"] = str(tmp_path_factory.mktemp("fuzz-takes"))
    rig = JamRig(f"fz{os.getpid() % 10000}")
    # No Python MIDI callback in this process while hypothesis works: a JACK client whose callback
    # waits for the GIL too long is zombified, and libjack's message about it makes every port of
    # the process count its server as lost. The AI's notes are counted by the engine instead.
    rig.listener.close()
    try:
        engine = rig.engine(engine_models["dense"], synth=rig.synth(), mode="duet", note_reports=False,
                            keep_heard=False)
        engine.start_recording()
        rig.play([(60, 0.1, 0.1)])
        assert rig.wait_for(lambda: engine.status().events_out > 0, 5.0), "the AI plays"
        yield rig, engine
    finally:
        rig.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@LIVE
@given(messages=midi_bytes)
def test_random_midi_bytes_never_stop_the_ai_nor_raise_in_the_engine(live, messages):
    rig, engine = live
    for message in messages:
        with contextlib.suppress(ValueError):  # what rtmidi itself refuses to send
            rig.keyboard._rt.send_message(list(message))
    send = rig.keyboard._rt.send_message
    send(list(ALL_NOTES_OFF))  # the keys random note-ons left down
    before = engine.stats()["events_in"]
    send([0x90, 61, 90])
    send([0x80, 61, 0])
    assert rig.wait_for(lambda: engine.stats()["events_in"] >= before + 2, 5.0), "the input is read"
    errors = [r for r in engine.drain_reports() if isinstance(r, ErrorReport) and r.level == "error"]
    assert errors == [] and engine.running
    assert engine.status().playing


def test_after_the_fuzzing_the_ai_still_plays_and_the_take_is_written(live):
    rig, engine = live
    played = engine.status().events_out
    assert rig.wait_for(lambda: engine.status().events_out > played + 10, 10.0), "the AI plays on"
    path = Path(engine.status().recording_path)
    engine.stop_recording()
    assert rig.wait_for(path.exists, 20.0)


# --- journal files into recovery -----------------------------------------------------------------------
outside = st.sampled_from(["/tmp/perfjam-fuzz-evil.sh", "../evil.sh", "../../etc/evil", "~/.bashrc",
                           "sub/../../evil.mid", "", "/", "."])
header = st.one_of(
    st.builds(lambda path, extra: f"{MAGIC} {json.dumps({'path': path, **extra})}\n".encode(),
              outside, st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
    st.binary(max_size=80).map(lambda junk: MAGIC.encode() + b" " + junk + b"\n"),
    st.binary(max_size=80),
)
number = st.one_of(st.integers(-5, 300), st.integers(-(2**40), 2**40))
event_line = st.builds(lambda ms, track, data: f"{ms} {track} {' '.join(map(str, data))}\n".encode(),
                       number, st.integers(-1, 2), st.lists(number, max_size=4))
journal_body = st.lists(st.one_of(event_line, st.binary(max_size=30)), max_size=40).map(b"".join)
name = st.from_regex(r"[A-Za-z0-9_.-]{1,16}", fullmatch=True)
suffix = st.sampled_from([f"{ending}{JOURNAL_SUFFIX}" for ending in (".mid", "", ".midi", ".sh")])


@pytest.fixture(scope="module")
def workroot():
    with tempfile.TemporaryDirectory(prefix="perfjam-fuzz-recovery-") as root:
        yield Path(root)


_folders = iter(range(1 << 30))


@FILES
@given(head=header, body=journal_body, stem=name, ending=suffix)
def test_a_random_journal_never_makes_recovery_write_outside_the_folder(workroot, head, body, stem, ending):
    area = workroot / f"case{next(_folders)}"
    folder = area / "recordings"
    folder.mkdir(parents=True)
    (area / "beside.txt").write_text("untouched\n")
    journal = folder / (stem + ending)
    journal.write_bytes(head + body)
    before = snapshot(area, folder)
    result = recover_all(folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = run(type("Args", (), {"paths": [folder]})())
    assert rc in (0, 1) and "Traceback" not in out.getvalue()
    assert snapshot(area, folder) == before, "nothing outside the recordings folder changed"
    assert not os.path.exists("/tmp/perfjam-fuzz-evil.sh")
    for path in result.written:
        assert path.parent == folder and path.suffix in (".mid", ".midi") and path.is_file()
    leftovers = {p.name for p in folder.iterdir()} - {p.name for p in result.written}
    assert leftovers <= {journal.name}, leftovers  # a journal stays only when it could not be used
    assert (journal.name in leftovers) == bool(result.failed)
