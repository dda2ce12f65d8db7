"""MIDI message kinds: the channel messages' status nibbles (``message[0] & 0xF0``), and which
messages are well formed (``well_formed``: what the MIDI input lets through)."""

NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PITCH_BEND = 0x80, 0x90, 0xB0, 0xE0
PROGRAM_CHANGE, CHANNEL_PRESSURE = 0xC0, 0xD0
SYSEX, SYSEX_END = 0xF0, 0xF7
# System common messages and their lengths (status byte included); 0xF4, 0xF5 are undefined.
SYSTEM_LENGTHS = {0xF1: 2, 0xF2: 3, 0xF3: 2, 0xF6: 1}


def well_formed(message) -> bool:
    """A status byte, then as many data bytes as its kind has, each 0..127 (a byte over 127 in a
    message is a faulty interface's or program's: a MIDI data byte never has the top bit set).
    Channel messages are checked first and fast: the input calls this for every message."""
    status = message[0]
    if 0x80 <= status < 0xF0:
        length = 2 if status & 0xE0 == PROGRAM_CHANGE else 3  # 0xC0, 0xD0: one data byte
        return len(message) == length and (message[1] | message[length - 1]) < 0x80
    if status == SYSEX:
        return len(message) >= 2 and message[-1] == SYSEX_END and all(b < 0x80 for b in message[1:-1])
    if status >= 0xF8:  # real-time: a single byte
        return len(message) == 1
    length = SYSTEM_LENGTHS.get(status)
    return length is not None and len(message) == length and all(b < 0x80 for b in message[1:])
