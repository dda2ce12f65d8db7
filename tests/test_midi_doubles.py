"""perfjam.midi_io.doubles: a note-on delivered twice is found; every real strike passes."""

from __future__ import annotations

from perfjam.midi_io.doubles import DOUBLE_WINDOW_S, DoubledNoteOns


def test_the_same_note_on_within_the_window_is_a_double_and_counted():
    doubles = DoubledNoteOns()
    assert not doubles.is_double(1.0, (0x90, 60, 100))
    assert doubles.is_double(1.0 + DOUBLE_WINDOW_S * 0.9, (0x90, 60, 100))
    assert doubles.dropped == 1
    # still the first one that counts: a third copy as late as the window allows is a double too
    assert doubles.is_double(1.0 + DOUBLE_WINDOW_S * 0.99, (0x90, 60, 100))
    assert not doubles.is_double(1.0 + DOUBLE_WINDOW_S, (0x90, 60, 100))  # as slow as a re-strike


def test_a_key_that_rose_in_between_is_struck_again():
    doubles = DoubledNoteOns()
    for release in ((0x80, 60, 0), (0x90, 60, 0)):  # a note-off, or a note-on of velocity 0
        assert not doubles.is_double(1.0, (0x90, 60, 100))
        assert not doubles.is_double(1.001, release)
        assert not doubles.is_double(1.002, (0x90, 60, 100))
        doubles.reset()
    assert doubles.dropped == 0


def test_another_velocity_channel_or_key_is_another_strike():
    doubles = DoubledNoteOns()
    assert not doubles.is_double(1.0, (0x90, 60, 100))
    assert not doubles.is_double(1.001, (0x90, 60, 101))
    assert not doubles.is_double(1.002, (0x91, 60, 101))
    assert not doubles.is_double(1.003, (0x90, 61, 101))
    assert not doubles.is_double(1.004, (0xB0, 64, 127))
    assert not doubles.is_double(1.005, (0xF8,))
    assert doubles.dropped == 0


def test_reset_forgets_the_keys_down():
    doubles = DoubledNoteOns()
    doubles.is_double(1.0, (0x90, 60, 100))
    doubles.reset()  # the port reopened: what was down before is not known
    assert not doubles.is_double(1.001, (0x90, 60, 100))
