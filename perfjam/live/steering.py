"""What steers the AI besides the model's weights (``Steering``): the sampling settings and the
sampler, the density and key asked for (by the pianist's pickers, or followed from their playing),
the control vector the model is stepped with, how loud it plays, and the controller that answers
now. Engine thread only; pure (no ports, no model calls).

**Follow me.** Every note-on of the pianist goes to the followers (``perfjam.follow``); on each
status turn ``follow`` turns what they measured into requests:

* the key (Key follows me): the pitch classes just played;
* the density (``follow_density``, the density picker's "Follow me": ``notes_per_s`` None): the
  notes per second of the pianist's latest phrase; in a duet ``duet_density`` times that, and
  since the model then plays more than it is asked for (it hears the pianist's notes too), the
  request is corrected by what it played in the last ``DUET_FEEDBACK_S`` (an integral
  controller in log density, ``DUET_FEEDBACK_GAIN`` per status turn);
* the loudness (``loudness``, one of ``LOUDNESS``): the AI's velocities moved so that its level
  sits at the pianist's median velocity, ``LOUDNESS_OFFSETS`` softer or louder ("own": the
  model's velocities as they come).

``control`` is the conditioning input of the current model (None for a model without controls),
rebuilt by ``update_control`` whenever what is asked for changes.
"""

from __future__ import annotations

from collections import deque

from perfjam.controls import requested_control
from perfjam.follow import (
    LOUDNESS,
    LOUDNESS_OFFSETS,
    OWN_LOUDNESS,
    KeyFollower,
    PlayingFollower,
    VelocityMatch,
)
from perfjam.live.config import EngineConfig
from perfjam.sampling import Sampler

DENSITY_CHANGE = 1.15  # a followed density is asked for anew when it moves by this factor
DUET_FEEDBACK_S = 4.0  # duet: the AI's own density over this long corrects the request...
DUET_FEEDBACK_GAIN = 0.05  # ...by (asked / played) to this power each status turn...
DUET_CORRECTION = (0.2, 2.0)  # ...within these bounds
DUET_CORRECTION_PRIOR = 0.55  # where it starts: in duets the default model played 1.65-1.97 times
# what it was asked for before any correction (benchmarks/partner.py, 60-s test-split passages)


class Steering:
    def __init__(self, cfg: EngineConfig) -> None:
        self.temperature, self.top_p, self.min_p = cfg.temperature, cfg.top_p, cfg.min_p
        self.note_min_p = cfg.note_min_p
        self.notes_per_s = cfg.notes_per_s  # the density picker's (None: follow me, or free)
        self.requested_histogram = cfg.pitch_histogram  # set_controls' (the key picker's)
        self.histogram = cfg.pitch_histogram  # what the model is asked for (followed or requested)
        self.follow_key, self.follow_density = cfg.follow_key, cfg.follow_density
        self.duet_density = cfg.duet_density
        self.duet = cfg.mode == "duet"
        self.answer_cc = cfg.answer_cc
        self.answer_pedal_down = False
        self.key_follower = KeyFollower()
        self.playing = PlayingFollower()
        self.velocity = VelocityMatch()
        self.loudness = cfg.loudness
        self.followed_notes_per_s: float | None = None  # the density asked for by following
        self.ai_onsets: deque[float] = deque()  # music times of the AI's note-ons (the duet's feedback)
        self.duet_correction = DUET_CORRECTION_PRIOR
        self.sampler = Sampler(cfg.seed)
        self.control_size = 0
        self.control = None

    def set_model(self, control_size: int) -> None:
        """A (new) model with ``control_size`` conditioning inputs."""
        self.control_size = control_size
        self.update_control()

    def update_control(self) -> None:
        notes_per_s = self.notes_per_s if self.notes_per_s is not None else self.followed_notes_per_s
        self.control = requested_control(self.control_size, notes_per_s, self.histogram)

    def set_seed(self, seed: int | None) -> None:
        self.sampler = Sampler(seed)

    def set_mode(self, mode: str) -> None:
        self.duet = mode == "duet"
        self.followed_notes_per_s = None
        self.duet_correction = DUET_CORRECTION_PRIOR
        self.update_control()

    # --- what the pianist asks for ----------------------------------------------------------------
    def set_controls(self, notes_per_s: float | None, histogram) -> None:
        self.notes_per_s, self.requested_histogram = notes_per_s, histogram
        if not self.follow_key:
            self.histogram = histogram
        self.update_control()

    def set_follow_key(self, on: bool) -> None:
        self.follow_key = on
        self.key_follower.reset()
        if not on:
            self.histogram = self.requested_histogram
            self.update_control()

    def set_follow_density(self, on: bool) -> None:
        self.follow_density = on
        if not on and self.followed_notes_per_s is not None:
            self.followed_notes_per_s = None
            self.update_control()

    def set_loudness(self, loudness: str) -> None:
        if loudness not in LOUDNESS:
            raise ValueError(f"loudness must be one of {', '.join(LOUDNESS)}, got {loudness!r}")
        self.loudness = loudness
        self._follow_loudness()

    # --- what the pianist plays -------------------------------------------------------------------
    def human_note_on(self, time_s: float, pitch: int, velocity: int) -> None:
        self.key_follower.note_on(time_s, pitch, velocity)
        self.playing.note_on(time_s, pitch, velocity)

    def follow(self, now_s: float) -> bool:
        """Follow me: the key, density and loudness just played, from the next generated event
        on. True when the control changed."""
        changed = False
        if self.follow_key and self.control_size:
            histogram = self.key_follower.follow(now_s, self.histogram)
            changed = histogram is not self.histogram
            self.histogram = histogram
        if self.follow_density and self.notes_per_s is None and self.control_size:
            followed = self.playing.notes_per_s()
            if followed is not None and self.duet:
                followed *= self.duet_density
                self._correct_duet(followed, now_s)
                followed *= self.duet_correction
            current = self.followed_notes_per_s
            if followed is not None and (current is None or not 1 / DENSITY_CHANGE < followed / current
                                         < DENSITY_CHANGE):
                self.followed_notes_per_s = followed
                changed = True
        if changed:
            self.update_control()
        self._follow_loudness()
        return changed

    def _correct_duet(self, wanted: float, now_s: float) -> None:
        onsets = self.ai_onsets
        while onsets and onsets[0] < now_s - DUET_FEEDBACK_S:
            onsets.popleft()
        if not onsets or onsets[0] > now_s - DUET_FEEDBACK_S + 1.0:
            return  # it has not played long enough to tell
        played = len(onsets) / DUET_FEEDBACK_S
        low, high = DUET_CORRECTION
        self.duet_correction = min(high, max(low, self.duet_correction
                                             * (wanted / max(played, 0.1)) ** DUET_FEEDBACK_GAIN))

    def ai_played(self, time_s: float, velocity: int) -> None:
        """The AI played a note-on at music ``time_s`` with the model's ``velocity``."""
        self.velocity.played(velocity)
        if self.duet:
            self.ai_onsets.append(time_s)

    def _follow_loudness(self) -> None:
        level = self.playing.velocity()
        if self.loudness == OWN_LOUDNESS or level is None:
            self.velocity.target = None
        else:
            self.velocity.target = level + LOUDNESS_OFFSETS[self.loudness]

    def answers_now(self, cc: int, value: int) -> bool:
        """A controller message: whether it presses the one that answers now (its value crossing
        64 upwards: a half pedal moving above it does not fire again)."""
        if cc != self.answer_cc:
            return False
        pressed = value >= 64 and not self.answer_pedal_down
        self.answer_pedal_down = value >= 64
        return pressed
