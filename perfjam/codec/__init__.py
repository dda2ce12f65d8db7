"""The event codec: vocabulary and core (events), pedal folding (pedal), the live encoder
and decoder (stream), MIDI files (midifile), and the event grammar (grammar)."""
