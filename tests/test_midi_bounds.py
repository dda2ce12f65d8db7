"""MIDI files are bounded before mido reads them: a file over the size limit, a delta time that
never ends (mido's reader is quadratic on it: 142 s for 800 KB), a header declaring 32768 tracks or
more (mido read it as "no notes") and a flood of events are refused in one line, in a fraction of
a second, wherever a file comes in: a primer (generate, jam), training.prepare, the takes list and
take playback. Files a real program writes still read as before."""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import mido
import pytest

from perfjam.cli import main
from perfjam.codec.midifile import MidiFileError, load_midi, read_notes
from perfjam.codec.smf_bounds import MAX_MIDI_BYTES, MAX_MIDI_EVENTS, bounds_problem
from perfjam.takelist import read_take

QUICK_S = 5.0  # refusing takes a scan of the file at most (1.2 s for a million events; a busy machine)


def smf(tracks: list[bytes], declared: int | None = None, division: int = 480) -> bytes:
    """A type-1 file with these track chunks' data (``declared``: the header's track count)."""
    header = b"MThd" + struct.pack(">LHHH", 6, 1, len(tracks) if declared is None else declared, division)
    return header + b"".join(b"MTrk" + struct.pack(">L", len(t)) + t for t in tracks)


NOTE = bytes([0x00, 0x90, 60, 90, 0x60, 0x80, 60, 0])
END = bytes([0x00, 0xFF, 0x2F, 0x00])
CRAFTED = {
    "endless delta": smf([NOTE + b"\xff" * 800_000]),  # a variable-length number that never ends
    "too many tracks": smf([NOTE + END], declared=40_000),
    "too large": smf([NOTE + bytes([0x00, 0xF0]) + b"\x83\xff\xff\x7f" + b"\x01" * (MAX_MIDI_BYTES + 10)]),
    "event flood": smf([bytes([0x00, 0x90, 60, 90]) + bytes([0x00, 60, 90]) * (MAX_MIDI_EVENTS + 10) + END]),
}
REASONS = {"endless delta": "a variable-length number longer than 4 bytes",
           "too many tracks": "declares 40,000 tracks", "too large": "bytes, more than the 8,388,608",
           "event flood": "more than 1,000,000 events"}


def _write(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind.replace(' ', '-')}.mid"
    path.write_bytes(CRAFTED[kind])
    return path


def test_a_real_file_is_within_the_bounds_and_reads_as_before(tmp_path):
    midi = mido.MidiFile(type=1, ticks_per_beat=96)
    track = mido.MidiTrack([mido.Message("program_change", program=3, time=0),
                            mido.Message("control_change", control=64, value=127, time=0)])
    for i in range(50):
        track += [mido.Message("note_on", note=60 + i % 12, velocity=80, time=10),
                  mido.Message("note_off", note=60 + i % 12, velocity=0, time=20)]
    track.append(mido.MetaMessage("text", text="x" * 300, time=0))
    midi.tracks.append(track)
    out = io.BytesIO()
    midi.save(file=out)
    assert bounds_problem(out.getvalue()) is None
    path = tmp_path / "real.mid"
    path.write_bytes(out.getvalue())
    assert len(read_notes(path)) == 50


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_a_crafted_file_is_refused_quickly_in_one_line(tmp_path, kind):
    path = _write(tmp_path, kind)
    started = time.perf_counter()
    with pytest.raises(MidiFileError) as caught:
        load_midi(path)
    assert time.perf_counter() - started < QUICK_S
    message = str(caught.value)
    assert message.startswith(f"{path}: refused: ") and REASONS[kind] in message and "\n" not in message


@pytest.mark.parametrize("kind", ["endless delta", "too many tracks"])
def test_generate_refuses_a_crafted_primer_in_one_line(tmp_path, capsys, kind):
    pytest.importorskip("torch")
    from training.export_onnx import export_checkpoint, write_random_checkpoint
    from training.model import ModelConfig

    checkpoint = write_random_checkpoint(tmp_path / "tiny.pt", ModelConfig(embedding=8, layers=1, hidden=16))
    model = export_checkpoint(checkpoint, tmp_path / "tiny.onnx").path
    path = _write(tmp_path, kind)
    started = time.perf_counter()
    rc = main(["generate", "--model", str(model), "--primer", str(path), "--seconds", "0.1", "--out",
               str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith(f"generate: {path}: refused: ") and "\n" not in err
    assert time.perf_counter() - started < 30


def test_the_takes_list_shows_a_crafted_file_as_unreadable(tmp_path):
    for kind in CRAFTED:
        path = _write(tmp_path, kind)
        started = time.perf_counter()
        info = read_take(path)
        assert time.perf_counter() - started < QUICK_S
        assert info.length_s is None and info.error.startswith("refused: ") and REASONS[kind] in info.error


def test_training_prepare_skips_a_crafted_file_with_its_reason(tmp_path):
    pytest.importorskip("torch")
    from training.prepare import encode_file

    for kind in CRAFTED:
        reason = encode_file(_write(tmp_path, kind), ["dynamics"])
        assert isinstance(reason, str) and "refused" in reason and REASONS[kind] in reason
