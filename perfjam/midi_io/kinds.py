"""MIDI channel-message kinds: the status byte's high nibble (``message[0] & 0xF0``)."""

NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PITCH_BEND = 0x80, 0x90, 0xB0, 0xE0
