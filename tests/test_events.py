"""The event codec: exact indices, encoding rules, decoding that never hangs a note."""

from __future__ import annotations

import io
from pathlib import Path

import mido
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_events import EventStreamEncoder as StreamEncoder
from stream_events import StreamDecoder

from perfjam.codec.events import (
    DEFAULT_VELOCITY,
    VOCAB_DYNAMICS,
    VOCAB_NO_DYNAMICS,
    EventReader,
    EventType,
    EventWriter,
    Note,
    bin_to_velocity,
    decode_actions,
    encode_notes,
    quantize_note,
    seconds_to_step,
    velocity_to_bin,
)
from perfjam.codec.midifile import decode_events, encode_midi, events_to_midi, read_notes, timed_messages

ASAP = Path(__file__).resolve().parents[2] / "shared" / "data" / "asap"
V = VOCAB_DYNAMICS


def names(events, vocab=V):
    return [vocab.describe(e) for e in events]


def test_boundary_indices_match_magenta_layout():
    assert V.size == 388 and VOCAB_NO_DYNAMICS.size == 356
    assert V.index(EventType.NOTE_ON, 0) == 0
    assert V.index(EventType.NOTE_ON, 127) == 127
    assert V.index(EventType.NOTE_OFF, 0) == 128
    assert V.index(EventType.NOTE_OFF, 127) == 255
    assert V.index(EventType.TIME_SHIFT, 1) == 256  # 10 ms
    assert V.index(EventType.TIME_SHIFT, 100) == 355  # 1 s
    assert V.index(EventType.VELOCITY, 1) == 356
    assert V.index(EventType.VELOCITY, 32) == 387
    assert VOCAB_NO_DYNAMICS.index(EventType.TIME_SHIFT, 100) == 355


@pytest.mark.parametrize("vocab", [VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS])
def test_every_index_round_trips_through_its_event(vocab):
    for index in range(vocab.size):
        assert vocab.index(*vocab.event(index)) == index
    with pytest.raises(ValueError):
        vocab.event(vocab.size)
    with pytest.raises(ValueError):
        vocab.index(EventType.TIME_SHIFT, 0)


def test_vocabulary_without_dynamics_has_no_velocity_events():
    with pytest.raises(ValueError, match="no VELOCITY"):
        VOCAB_NO_DYNAMICS.index(EventType.VELOCITY, 1)


def test_velocity_bins():
    assert [velocity_to_bin(v) for v in (1, 4, 5, 8, 9, 124, 125, 127)] == [1, 1, 2, 2, 3, 31, 32, 32]
    assert bin_to_velocity(1) == 1 and bin_to_velocity(32) == 125
    for v in range(1, 128):
        assert velocity_to_bin(bin_to_velocity(velocity_to_bin(v))) == velocity_to_bin(v)


def test_velocity_event_only_when_the_bin_changes():
    notes = [Note(60, 77, 0.0, 0.1), Note(62, 80, 0.1, 0.2), Note(64, 100, 0.2, 0.3)]
    assert names(encode_notes(notes)) == [
        "VELOCITY(20)", "NOTE_ON(60)", "TIME_SHIFT(10)", "NOTE_OFF(60)", "NOTE_ON(62)",
        "TIME_SHIFT(10)", "NOTE_OFF(62)", "VELOCITY(25)", "NOTE_ON(64)", "TIME_SHIFT(10)", "NOTE_OFF(64)",
    ]


def test_a_gap_over_one_second_becomes_several_shifts():
    events = encode_notes([Note(60, 64, 2.5, 2.6)], VOCAB_NO_DYNAMICS)
    assert names(events, VOCAB_NO_DYNAMICS) == [
        "TIME_SHIFT(100)", "TIME_SHIFT(100)", "TIME_SHIFT(50)",
        "NOTE_ON(60)", "TIME_SHIFT(10)", "NOTE_OFF(60)",
    ]


def test_zero_length_note_gets_one_step():
    events = encode_notes([Note(60, 64, 1.0, 1.0)], VOCAB_NO_DYNAMICS)
    assert names(events, VOCAB_NO_DYNAMICS)[-3:] == ["NOTE_ON(60)", "TIME_SHIFT(1)", "NOTE_OFF(60)"]


def test_order_within_a_step_is_note_seqs():
    # notes ranked by (unquantized start, pitch); actions by (step, rank, is_off)
    notes = [Note(67, 64, 0.0, 0.5), Note(60, 64, 0.0, 0.5), Note(64, 64, 0.5, 1.0)]
    assert names(encode_notes(notes, VOCAB_NO_DYNAMICS), VOCAB_NO_DYNAMICS) == [
        "NOTE_ON(60)", "NOTE_ON(67)", "TIME_SHIFT(50)", "NOTE_OFF(60)", "NOTE_OFF(67)", "NOTE_ON(64)",
        "TIME_SHIFT(50)", "NOTE_OFF(64)",
    ]
    # A chord rolled downwards within one step keeps its order, and so do its note-offs.
    rolled = [Note(64, 64, 1.003, 1.5), Note(67, 64, 1.001, 1.502), Note(72, 64, 0.999, 1.5)]
    assert names(encode_notes(rolled, VOCAB_NO_DYNAMICS), VOCAB_NO_DYNAMICS) == [
        "TIME_SHIFT(100)", "NOTE_ON(72)", "NOTE_ON(67)", "NOTE_ON(64)",
        "TIME_SHIFT(50)", "NOTE_OFF(72)", "NOTE_OFF(67)", "NOTE_OFF(64)",
    ]


def test_quantization_rounds_halves_up_as_note_seq():
    assert [seconds_to_step(t) for t in (0.0, 0.004, 0.125, 0.135, 1.0049)] == [0, 0, 13, 14, 100]
    assert quantize_note(0.125, 0.125) == (13, 14)  # a note ending in its start step gets one step


def midi_file(messages: list[tuple[float, mido.Message]]) -> mido.MidiFile:
    """A one-track file at 1 ms per tick from (time_s, message) pairs."""
    midi = mido.MidiFile(ticks_per_beat=500)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    now = 0
    for time_s, msg in messages:
        tick = round(time_s * 1000)
        track.append(msg.copy(time=tick - now))
        now = tick
    return midi


def test_sustain_pedal_extends_notes_to_release_or_restrike():
    on, off = "note_on", "note_off"
    midi = midi_file([
        (0.0, mido.Message("control_change", control=64, value=127)),
        (0.1, mido.Message(on, note=60, velocity=70)),
        (0.2, mido.Message(off, note=60)),
        (0.3, mido.Message(on, note=64, velocity=70)),
        (0.4, mido.Message(off, note=64)),
        (0.6, mido.Message(on, note=60, velocity=90)),  # re-strike under the pedal
        (0.7, mido.Message(off, note=60)),
        (1.0, mido.Message("control_change", control=64, value=0)),
        (1.2, mido.Message(on, note=67, velocity=70)),
        (1.3, mido.Message(on, note=67, velocity=0)),  # velocity 0 = note off
    ])
    notes = [(n.pitch, round(n.start_s, 3), round(n.end_s, 3)) for n in read_notes(midi)]
    assert notes == [(60, 0.1, 0.6), (64, 0.3, 1.0), (60, 0.6, 1.0), (67, 1.2, 1.3)]
    without_pedal = [(n.pitch, round(n.end_s, 3)) for n in read_notes(midi, sustain=False)]
    assert without_pedal == [(60, 0.2), (64, 0.4), (60, 0.7), (67, 1.3)]


def test_decoding_ignores_stray_offs_restrikes_and_closes_everything():
    e = V.index
    events = [
        e(EventType.NOTE_OFF, 50),  # never started: ignored
        e(EventType.VELOCITY, 10), e(EventType.NOTE_ON, 60), e(EventType.TIME_SHIFT, 20),
        e(EventType.NOTE_ON, 60),  # re-strike: off then on
        e(EventType.TIME_SHIFT, 30), e(EventType.NOTE_ON, 64),  # never closed
    ]
    notes = [(n.pitch, n.velocity, round(n.start_s, 2), round(n.end_s, 2)) for n in decode_events(events)]
    assert notes == [(60, 37, 0.0, 0.2), (60, 37, 0.2, 0.51), (64, 37, 0.5, 0.51)]


def test_decoding_without_dynamics_uses_the_fixed_velocity():
    notes = decode_events([60, 256, 188], VOCAB_NO_DYNAMICS)
    assert [(n.pitch, n.velocity) for n in notes] == [(60, DEFAULT_VELOCITY)]


def assert_every_note_on_paired(midi: mido.MidiFile) -> int:
    buffer = io.BytesIO()
    midi.save(file=buffer)
    buffer.seek(0)
    reread = mido.MidiFile(file=buffer)
    count = 0
    for track in reread.tracks:
        sounding: set[tuple[int, int]] = set()
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                assert (msg.channel, msg.note) not in sounding, "note-on over a sounding note"
                sounding.add((msg.channel, msg.note))
                count += 1
            elif msg.type in ("note_off", "note_on"):
                sounding.discard((msg.channel, msg.note))
        assert not sounding, f"hanging notes: {sounding}"
    return count


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, V.size - 1), max_size=300),
       st.sampled_from([VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS]))
def test_any_event_sequence_decodes_to_a_midi_file_with_every_note_paired(events, vocab):
    events = [e % vocab.size for e in events]
    notes = decode_events(events, vocab)
    # a strike re-struck within the same 10 ms step has no length and is not written
    starts = [(n.pitch, round(n.start_s * 100)) for n in notes]
    audible = [s for i, s in enumerate(starts) if s not in starts[i + 1:]]
    assert assert_every_note_on_paired(events_to_midi(events, vocab)) == len(audible)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.integers(1, 127), st.integers(0, 300), st.integers(0, 150)),
                max_size=40))
def test_encode_then_decode_keeps_pitches_and_quantized_times(raw):
    # non-overlapping per pitch, as the pedal folder guarantees for real files
    notes, busy_until = [], {}
    for pitch, velocity, start, length in sorted(raw, key=lambda r: r[2]):
        if start >= busy_until.get(pitch, -1):
            notes.append(Note(pitch, velocity, start / 100, (start + length) / 100))
            busy_until[pitch] = start + max(length, 1)
    decoded = decode_events(encode_notes(notes))
    key = sorted((n.pitch, round(n.start_s * 100), max(round(n.end_s * 100), round(n.start_s * 100) + 1),
                  velocity_to_bin(n.velocity)) for n in notes)
    got = sorted((n.pitch, round(n.start_s * 100), round(n.end_s * 100), velocity_to_bin(n.velocity))
                 for n in decoded)
    assert got == key


def stream_events(played, vocab=V, origin_s: float = 0.0, flush_before=frozenset()) -> list[int]:
    """``played`` ((time_s, bytes) in time order) through a ``StreamEncoder`` as the engine feeds
    it: each message at its time (what is over is written), ``flush`` halfway before the messages
    numbered in ``flush_before``, and every note ended at the last event, as a file ends."""
    encoder = StreamEncoder(vocab, origin_s=origin_s)
    events, previous_s = [], origin_s
    for i, (time_s, data) in enumerate(played):
        if i in flush_before:
            events += encoder.flush((previous_s + time_s) / 2)
        events += encoder.feed_bytes(time_s, data)
        previous_s = time_s
    return events + encoder.release_all()


def test_streaming_encoder_matches_offline_encoding_of_the_same_performance():
    played = [(0.0, (0x90, 60, 80)), (0.25, (0x90, 64, 60)), (0.5, (0x80, 60, 0)), (0.5, (0xB0, 64, 100)),
              (0.75, (0x80, 64, 0)), (1.0, (0x90, 67, 100)), (2.0, (0xB0, 64, 0)), (3.5, (0x80, 67, 0))]
    streamed = stream_events([(10.0 + t, data) for t, data in played], origin_s=10.0)
    midi = midi_file([(t, mido.Message.from_bytes(list(data))) for t, data in played])
    assert streamed == encode_notes(read_notes(midi))
    # the pedal goes down at the instant 60 is released: note-seq applies the pedal first
    assert [(n.pitch, n.end_s) for n in read_notes(midi)] == [(60, 2.0), (64, 2.0), (67, 3.5)]


def test_streaming_holds_a_step_until_it_is_over_then_gives_note_seqs_order():
    encoder = StreamEncoder(VOCAB_NO_DYNAMICS)
    assert encoder.feed_bytes(0.500, (0x90, 48, 70)) == []  # held: step 50 is not over
    assert names(encoder.flush(0.505), VOCAB_NO_DYNAMICS) == ["TIME_SHIFT(50)", "NOTE_ON(48)"]
    # Step 100 (0.995 <= t < 1.005): a rolled chord, and 48's release arriving after its first note.
    for time_s, data in [(1.001, (0x90, 67, 70)), (1.003, (0x90, 60, 70)), (1.004, (0x80, 48, 0))]:
        assert encoder.feed_bytes(time_s, data) == []
    assert encoder.due_s == pytest.approx(1.005)
    assert encoder.flush(1.0049) == []
    assert names(encoder.flush(1.0051), VOCAB_NO_DYNAMICS) == [
        "TIME_SHIFT(50)", "NOTE_OFF(48)", "NOTE_ON(67)", "NOTE_ON(60)"]
    assert not encoder.pending and encoder.due_s is None


def test_pedal_release_ends_notes_in_the_order_they_began():
    played = [(0.0, (0xB0, 64, 127)), (0.100, (0x90, 72, 70)), (0.102, (0x90, 65, 70)), (0.2, (0x80, 72, 0)),
              (0.2, (0x80, 65, 0)), (0.5, (0xB0, 64, 0))]
    events = names(stream_events(played), VOCAB_DYNAMICS)
    assert events[-3:] == ["TIME_SHIFT(40)", "NOTE_OFF(72)", "NOTE_OFF(65)"]
    midi = midi_file([(t, mido.Message.from_bytes(list(data))) for t, data in played])
    assert names(encode_notes(read_notes(midi))) == events


def test_pairing_follows_pretty_midi():
    on, off = "note_on", "note_off"
    midi = midi_file([
        (0.1, mido.Message(on, note=60, velocity=70)),
        (0.2, mido.Message(on, note=60, velocity=80)),  # keys of one pitch overlap...
        (0.3, mido.Message(off, note=60)),  # ...and one note-off ends both
        (0.4, mido.Message(on, note=62, velocity=70)),
        (0.4, mido.Message(off, note=62)),  # begun and ended at one instant: never sounds
        (0.5, mido.Message(off, note=64)),  # never begun: ignored
    ])
    notes = [(n.pitch, n.velocity, round(n.start_s, 3), round(n.end_s, 3)) for n in read_notes(midi)]
    assert notes == [(60, 70, 0.1, 0.3), (60, 80, 0.2, 0.3)]


MS = 60.0 / (120.0 * 500)  # one tick of ``midi_file`` in seconds, as the reader computes it


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["on", "off", "down", "up"]),
                          st.sampled_from([60, 61, 64]), st.booleans()), max_size=40))
def test_streaming_equals_offline_for_any_messages(raw):
    """Any notes, pedal, overlaps, stray releases and equal times, with flushes in between.

    Each performance ends as real ones do, pedal up and every key released: notes still sounding
    when the input stops are ended differently by design (a file ends them at its last note or
    pedal event, the live engine at "now", see ``StreamEncoder.end_all``)."""
    played, tick, flush_before = [], 0, set()
    ending = [(1, "up", 60, False)] + [(0, "off", p, False) for p in (60, 61, 64)]
    for i, (gap_ms, kind, pitch, flush) in enumerate(raw + ending):
        tick += gap_ms
        data = {"on": (0x90, pitch, 90), "off": (0x80, pitch, 0), "down": (0xB0, 64, 127),
                "up": (0xB0, 64, 0)}[kind]
        played.append((tick * MS, data))
        if flush:
            flush_before.add(i)
    midi = midi_file([(t, mido.Message.from_bytes(list(data))) for t, data in played])
    assert stream_events(played, flush_before=flush_before) == encode_notes(read_notes(midi))


def test_streaming_decoder_matches_offline_decoding():
    events = encode_notes([Note(60, 80, 0.0, 0.3), Note(64, 40, 0.1, 1.7), Note(67, 100, 1.5, 2.0)])
    decoder = StreamDecoder(V, origin_s=5.0)
    timed = [t for e in events for t in decoder.feed(e)] + decoder.close_all()
    offline = decode_actions(events)
    assert [(round(t.time_s - 5.0, 2), t.pitch, t.is_on) for t in timed] == [
        (a.step / 100, a.pitch, a.is_on) for a in offline
    ]


def test_writer_observes_events_written_elsewhere():
    writer = EventWriter(V)
    writer.observe(V.index(EventType.TIME_SHIFT, 30))
    writer.observe(V.index(EventType.VELOCITY, 20))
    assert writer.state == (30, 20)
    assert names(writer.note_on(30, 60, bin_to_velocity(20))) == ["NOTE_ON(60)"]
    assert names(writer.note_on(10, 62, 1)) == ["VELOCITY(1)", "NOTE_ON(62)"]  # past step clamped to now


def test_reader_state_can_be_saved_and_restored():
    reader = EventReader(V)
    reader.feed(60)
    saved = reader.state
    reader.feed(V.index(EventType.NOTE_OFF, 60))
    reader.state = saved
    assert set(reader.sounding) == {60}


def real_files(count: int) -> list[Path]:
    if not ASAP.is_dir():
        pytest.skip(f"the ASAP data set is not at {ASAP} (../shared beside the checkout)")
    return sorted(ASAP.rglob("*.mid"))[:: max(1, len(list(ASAP.rglob("*.mid"))) // count)][:count]


@pytest.mark.parametrize("vocab", [VOCAB_DYNAMICS, VOCAB_NO_DYNAMICS])
def test_real_performances_round_trip_within_one_step(vocab):
    for path in real_files(4):
        notes = read_notes(path)
        assert notes, path
        decoded = decode_events(encode_notes(notes, vocab), vocab)
        assert len(decoded) == len(notes)
        by_onset = sorted(notes, key=lambda n: (seconds_to_step(n.start_s), n.pitch))
        by_onset_decoded = sorted(decoded, key=lambda n: (seconds_to_step(n.start_s), n.pitch))
        for original, back in zip(by_onset, by_onset_decoded, strict=True):
            assert back.pitch == original.pitch
            assert abs(back.start_s - original.start_s) <= 0.005 + 1e-9
            one_step_note = round((back.end_s - back.start_s) * 100) == 1
            assert abs(back.end_s - original.end_s) <= 0.01 + 1e-9 or one_step_note
            if vocab.dynamics:
                assert velocity_to_bin(back.velocity) == velocity_to_bin(original.velocity)
            else:
                assert back.velocity == DEFAULT_VELOCITY


def test_real_performances_stream_exactly_as_they_encode_offline():
    streamed_files = 0
    for path in real_files(3):
        played = [(t, data) for t, _track, data in timed_messages(path)]
        channels = {data[0] & 0x0F for _t, data in played if data[0] & 0xF0 != 0xB0 or data[1] == 64}
        if len({track for _t, track, _d in timed_messages(path)} - {0}) > 1 or len(channels) > 1:
            continue  # one encoder folds one keyboard; offline folds per track and channel
        assert stream_events(played, flush_before=set(range(0, len(played), 3))) == encode_midi(path)
        streamed_files += 1
    assert streamed_files


def test_pedal_messages_and_note_offs_that_change_no_note_are_known_silent():
    from perfjam.codec.pedal import PedalFolder

    folder = PedalFolder()
    down, up, half = (0xB0, 64, 127), (0xB0, 64, 0), (0xB0, 64, 40)
    assert folder.is_silent(down) and folder.is_silent(up) and folder.is_silent(half)
    assert not folder.is_silent((0x90, 60, 90))
    assert folder.is_silent((0x80, 60, 0)) and folder.is_silent((0x90, 60, 0)), "a key that is not down"
    folder.take(0.0, (0x90, 60, 90))
    assert not folder.is_silent((0x80, 60, 0)) and not folder.is_silent((0x90, 60, 0)), "its key is down"
    folder.take(0.1, down)
    folder.take(0.2, (0x80, 60, 0))  # the key goes up under the pedal: the note sounds on
    assert folder.is_silent(down), "the pedal going (further) down changes nothing"
    assert not folder.is_silent(half), "a release under the threshold ends the held note"
    actions = folder.take(0.3, half) + folder.advance(0.4)
    assert [(a.pitch, a.is_on) for a in actions] == [(60, False)]
    assert folder.is_silent(up) and folder.is_silent(half), "nothing held any more"
    assert PedalFolder(sustain=False).is_silent(up)


@given(st.lists(st.tuples(st.sampled_from(["on", "off", "cc"]), st.integers(60, 63), st.integers(0, 127)),
                max_size=40))
@settings(max_examples=200, deadline=None)
def test_a_message_known_silent_never_adds_an_action(messages):
    from perfjam.codec.pedal import PedalFolder

    folder = PedalFolder()
    for i, (kind, pitch, value) in enumerate(messages):
        data = {"on": (0x90, pitch, max(1, value)), "off": (0x80, pitch, 0), "cc": (0xB0, 64, value)}[kind]
        time_s = i * 0.05
        silent = folder.is_silent(data)
        folder.take(time_s, data)
        if silent:
            assert folder.advance(time_s + 0.01) == [], data
        else:
            folder.advance(time_s + 0.01)
