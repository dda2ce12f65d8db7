"""MIDI messages -> note-ons and note-offs with the sustain pedal folded in, causally, with the
rules note-seq applies to a MIDI file (a leaf of the codec: no imports).

note-seq reads a file with pretty_midi (which pairs note-ons with note-offs) and then extends the
notes with ``apply_sustain_control_changes``. ``PedalFolder`` does both as the messages come:

* Pairing, per message in arrival order: a note-on opens a note (keys of one pitch may overlap:
  two note-ons, then one note-off); a note-off ends every open note of its pitch that began at
  an earlier instant; a note-off at the very instant its pitch's only open notes began removes
  them (they never sound). A note-off of a pitch with no open note is ignored (and begins no
  instant: it changes nothing).
* Pedal, per *instant* (all messages with the same time): pedal-downs first, then pedal-ups,
  then note-ons, then note-offs, whatever their order within the instant. A pedal-up ends every
  note whose key is up. A note-on while the pedal is down ends the notes of its pitch still
  sounding (a re-strike; one begun at the same instant is dropped). A note-off while the pedal
  is down leaves its note sounding until the pedal goes up or the pitch is struck again.

An instant is folded once a later time is seen (``take``, ``advance``) or by ``finish``. Every
note-off carries the start of the note it ends (``TimedNote.start_s``): the codec orders the
note-offs of one step by their notes' starts, as note-seq does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

SUSTAIN_CC = 64


@dataclass(frozen=True, slots=True)
class TimedNote:
    """A note-on or note-off at a time in seconds; a note-off may name its note's start."""

    time_s: float
    pitch: int
    velocity: int
    is_on: bool
    start_s: float | None = None  # a note-off: when the note it ends began (None: not known)

    @property
    def note_start_s(self) -> float:
        """When this action's note began (a note-on's own time)."""
        return self.time_s if self.start_s is None else self.start_s


@dataclass(slots=True, eq=False)  # compared by identity
class _Sounding:
    start_s: float
    key_up: bool = False  # released while the pedal was down: sounds until the pedal goes up


@dataclass(slots=True)
class _Instant:
    time_s: float
    starts: list[tuple[int, int]] = field(default_factory=list)  # (pitch, velocity) in arrival order
    ends: list[tuple[int, float]] = field(default_factory=list)  # (pitch, start_s) keys released
    pedal_down: bool = False
    pedal_up: bool = False


class PedalFolder:
    """Folds the sustain pedal (CC64 >= 64 is down) into note lengths (see the module docstring)."""

    def __init__(self, sustain: bool = True) -> None:
        self.sustain = sustain
        self.pedal_down = False
        self.keys: dict[int, list[tuple[float, int]]] = {}  # pitch -> open keys (start_s, velocity)
        self.notes: dict[int, list[_Sounding]] = {}  # pitch -> sounding notes, oldest first
        self.instant: _Instant | None = None  # messages not folded yet (all at one time)
        self.last_event_s: float | None = None  # time of the last note or pedal event folded
        self.has_notes = False

    @property
    def held(self) -> set[int]:
        """Pitches whose key is down."""
        return {pitch for pitch, keys in self.keys.items() if keys}

    @property
    def sounding(self) -> set[int]:
        """Pitches sounding or about to (keys down, notes held by the pedal)."""
        return self.held | {pitch for pitch, notes in self.notes.items() if notes}

    @property
    def pedal_holds(self) -> bool:
        """The sustain pedal holds notes whose key is up."""
        return any(n.key_up for notes in self.notes.values() for n in notes)

    @property
    def pending_s(self) -> float | None:
        """The time of the instant not folded yet, if any."""
        return None if self.instant is None else self.instant.time_s

    # --- messages ----------------------------------------------------------------------------------
    def take(self, time_s: float, data: Sequence[int]) -> list[TimedNote]:
        """A raw MIDI channel message (any channel) at ``time_s``; returns the actions of the
        instant before it, if this message begins a later one."""
        out = self.advance(time_s)
        if len(data) < 3:
            return out
        kind = data[0] & 0xF0
        if kind == 0x90 and data[2] > 0:
            self._key_down(self._at(time_s), data[1], data[2])
        elif (kind == 0x80 or kind == 0x90) and self.keys.get(data[1]):
            self._key_up(self._at(time_s), data[1])  # (a note-off of a key not down changes nothing)
        elif kind == 0xB0 and data[1] == SUSTAIN_CC and self.sustain:
            instant = self._at(time_s)
            if data[2] >= 64:
                instant.pedal_down = True
            else:
                instant.pedal_up = True
        return out

    def is_silent(self, data: Sequence[int]) -> bool:
        """Whether ``take``-ing this message can change no note: a note-off of a key that is not
        down, a sustain message that is a pedal down (it holds only what is released later), or a
        pedal up while the pedal holds no note. A continuous pedal sends such messages every
        ~20 ms (and a faulty keyboard stray note-offs); the live engine takes them without rolling
        back what the model has generated."""
        if len(data) < 3:
            return False
        if data[0] & 0xF0 == 0x80 or data[0] & 0xF0 == 0x90 and data[2] == 0:
            return not self.keys.get(data[1])
        if data[0] & 0xF0 != 0xB0 or data[1] != SUSTAIN_CC:
            return False
        if not self.sustain or data[2] >= 64:
            return True
        if self.instant is not None and self.instant.ends:
            return False
        return not any(n.key_up for notes in self.notes.values() for n in notes)

    def advance(self, time_s: float) -> list[TimedNote]:
        """The actions of the pending instant once ``time_s`` is past it."""
        if self.instant is not None and time_s > self.instant.time_s:
            return self._fold()
        return []

    def finish(self) -> list[TimedNote]:
        """The actions of the pending instant, now (the end of a stream)."""
        return self._fold() if self.instant is not None else []

    def release_all(self, time_s: float | None = None) -> list[TimedNote]:
        """Every note ends at ``time_s`` (not before the pending instant), or by default at the
        last note or pedal event, as note-seq ends the notes the pedal holds at the end of a file."""
        pending_s = self.pending_s
        out = self.finish()
        if time_s is None:
            end_s = self.last_event_s or 0.0
        else:
            end_s = time_s if pending_s is None else max(time_s, pending_s)
        ending = sorted((n.start_s, pitch) for pitch, notes in self.notes.items() for n in notes)
        out += [TimedNote(end_s, pitch, 0, False, start_s) for start_s, pitch in ending]
        self.keys.clear()
        self.notes.clear()
        self.pedal_down = False
        return out

    # --- pairing (per message) ---------------------------------------------------------------------
    def _at(self, time_s: float) -> _Instant:
        if self.instant is None:
            self.instant = _Instant(time_s)
        return self.instant

    def _key_down(self, instant: _Instant, pitch: int, velocity: int) -> None:
        self.keys.setdefault(pitch, []).append((instant.time_s, velocity))
        instant.starts.append((pitch, velocity))

    def _key_up(self, instant: _Instant, pitch: int) -> None:
        keys = self.keys.get(pitch)
        if not keys:
            return
        now_s = instant.time_s
        earlier = [k for k in keys if k[0] != now_s]
        for start_s, _velocity in earlier:
            instant.ends.append((pitch, start_s))
        if earlier and len(earlier) < len(keys):
            self.keys[pitch] = [k for k in keys if k[0] == now_s]  # struck again at this instant
            return
        del self.keys[pitch]
        if not earlier:  # begun and ended at this instant: never sounds
            instant.starts = [s for s in instant.starts if s[0] != pitch]

    # --- pedal (per instant) -----------------------------------------------------------------------
    def _fold(self) -> list[TimedNote]:
        instant, self.instant = self.instant, None
        assert instant is not None
        now_s = instant.time_s
        if instant.starts or instant.ends or instant.pedal_down or instant.pedal_up:
            self.last_event_s = now_s
        offs: list[TimedNote] = []
        if instant.pedal_down:
            self.pedal_down = True
        if instant.pedal_up:
            self.pedal_down = False
            for pitch, notes in self.notes.items():
                for n in notes:
                    if n.key_up:
                        offs.append(TimedNote(now_s, pitch, 0, False, n.start_s))
                self.notes[pitch] = [n for n in notes if not n.key_up]
        ons: list[tuple[int, int, _Sounding]] = []
        for pitch, velocity in instant.starts:
            notes = self.notes.setdefault(pitch, [])
            if self.pedal_down:
                for n in notes:
                    if n.start_s != now_s:
                        offs.append(TimedNote(now_s, pitch, 0, False, n.start_s))
                notes.clear()  # a note begun at this same instant is dropped with its note-on
            note = _Sounding(now_s)
            notes.append(note)
            ons.append((pitch, velocity, note))
        out = offs + [TimedNote(now_s, p, v, True) for p, v, n in ons if n in self.notes[p]]
        for pitch, start_s in instant.ends:
            notes = self.notes.get(pitch, [])
            note = next((n for n in notes if n.start_s == start_s), None)
            if note is None:
                continue  # already ended by a re-strike under the pedal
            if self.pedal_down:
                note.key_up = True
            else:
                notes.remove(note)
                out.append(TimedNote(now_s, pitch, 0, False, start_s))
        self.has_notes = self.has_notes or bool(ons)
        return out
