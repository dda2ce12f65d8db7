"""perfjam's tokens agree with note-seq's Performance encoding (through the test-only
``tests/noteseq_reference.py``, which was checked against the real note-seq with
``tools/noteseq_agreement.py``), offline and streamed alike."""

from __future__ import annotations

import csv
import difflib
from pathlib import Path

import mido
import noteseq_reference
import pytest
from stream_events import EventStreamEncoder as StreamEncoder

from perfjam.codec.events import VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS
from perfjam.codec.midifile import encode_midi

ASAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "asap"
MS = 60.0 / (120.0 * 500)  # one tick at 500 ticks per beat and the default 120 bpm, in seconds


def similarity(a: list[int], b: list[int]) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def asap_files(count: int) -> list[Path]:
    if not (ASAP / "split.csv").is_file():
        pytest.skip(f"the ASAP data set is not at {ASAP} (../shared beside the checkout)")
    with open(ASAP / "split.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    files = [ASAP / r["midi_performance"] for r in rows[:: len(rows) // count]]
    return [p for p in files if p.stat().st_size < 80_000][:count]  # short ones: the test stays quick


@pytest.mark.parametrize(("vocab", "count"), [(VOCAB_DYNAMICS, 6), (VOCAB_NO_DYNAMICS, 3)],
                         ids=["dynamics", "nodynamics"])
def test_real_performances_encode_as_note_seq_does(vocab, count):
    files = asap_files(count)
    assert len(files) >= count // 2
    scores = []
    for path in files:
        ours = encode_midi(path, vocab)
        reference = noteseq_reference.encode_file(path, vocab.dynamics)
        scores.append(similarity(ours, reference))
    assert sum(scores) / len(scores) >= 0.99, dict(zip([p.name for p in files], scores, strict=True))


def played_midi(played: list[tuple[int, tuple[int, int, int]]]) -> mido.MidiFile:
    """A one-track file (1 ms per tick) from (tick, bytes) pairs in time order."""
    midi = mido.MidiFile(ticks_per_beat=500)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    now = 0
    for tick, data in played:
        track.append(mido.Message.from_bytes(list(data), time=tick - now))
        now = tick
    return midi


def test_a_rolled_chord_streams_offline_and_in_note_seq_alike():
    on, off = 0x90, 0x80
    played = [
        (500, (on, 48, 60)),  # held under the chord...
        (1001, (on, 72, 80)), (1003, (on, 67, 70)), (1004, (off, 48, 0)),  # ...released after its first note
        (1004, (on, 64, 70)),  # one 10 ms step so far (995..1004 ms)...
        (1006, (on, 60, 90)),  # ...and this one in the next
        (1200, (0xB0, 64, 127)), (1300, (off, 60, 0)), (1300, (off, 72, 0)), (1301, (off, 64, 0)),
        (1302, (off, 67, 0)), (1500, (0xB0, 64, 0)),  # the pedal releases them in the order they began
    ]
    midi = played_midi(played)
    offline = encode_midi(midi, VOCAB_NO_DYNAMICS)
    encoder = StreamEncoder(VOCAB_NO_DYNAMICS)
    streamed = []
    for tick, data in played:
        streamed += encoder.flush((tick - 1) * MS)  # the engine flushes every turn
        streamed += encoder.feed_bytes(tick * MS, data)
    streamed += encoder.release_all()
    assert offline == streamed == noteseq_reference.encode_file(midi, dynamics=False)
    describe = VOCAB_NO_DYNAMICS.describe
    assert [describe(e) for e in offline] == [
        "TIME_SHIFT(50)", "NOTE_ON(48)",
        "TIME_SHIFT(50)", "NOTE_OFF(48)", "NOTE_ON(72)", "NOTE_ON(67)", "NOTE_ON(64)",
        "TIME_SHIFT(1)", "NOTE_ON(60)",
        "TIME_SHIFT(49)", "NOTE_OFF(72)", "NOTE_OFF(67)", "NOTE_OFF(64)", "NOTE_OFF(60)",
    ]
