"""What steers the AI besides the model's weights (``Steering``): the sampling settings and the
sampler, the density and key asked for (by the pianist's pickers, or followed from their playing),
the control vector the model is stepped with, and the controller that answers now. Engine thread
only; pure (no ports, no model calls).

``control`` is the conditioning input of the current model (None for a model without controls),
rebuilt by ``update_control`` whenever what is asked for changes.
"""

from __future__ import annotations

from perfjam.controls import requested_control
from perfjam.follow import KeyFollower
from perfjam.live.config import EngineConfig
from perfjam.sampling import Sampler


class Steering:
    def __init__(self, cfg: EngineConfig) -> None:
        self.temperature, self.top_p = cfg.temperature, cfg.top_p
        self.notes_per_s = cfg.notes_per_s
        self.requested_histogram = cfg.pitch_histogram  # set_controls' (the key picker's)
        self.histogram = cfg.pitch_histogram  # what the model is asked for (followed or requested)
        self.follow_key, self.answer_cc = cfg.follow_key, cfg.answer_cc
        self.key_follower = KeyFollower()
        self.sampler = Sampler(cfg.seed)
        self.control_size = 0
        self.control = None

    def set_model(self, control_size: int) -> None:
        """A (new) model with ``control_size`` conditioning inputs."""
        self.control_size = control_size
        self.update_control()

    def update_control(self) -> None:
        self.control = requested_control(self.control_size, self.notes_per_s, self.histogram)

    def set_seed(self, seed: int | None) -> None:
        self.sampler = Sampler(seed)

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

    # --- what the pianist plays -------------------------------------------------------------------
    def human_note_on(self, time_s: float, pitch: int, velocity: int) -> None:
        if self.follow_key:
            self.key_follower.note_on(time_s, pitch, velocity)

    def follow(self, now_s: float) -> None:
        """Key follows me: the pitch classes just played, from the next generated event on."""
        if self.follow_key and self.control_size:
            histogram = self.key_follower.follow(now_s, self.histogram)
            if histogram is not self.histogram:
                self.histogram = histogram
                self.update_control()

    def answers_now(self, cc: int, value: int) -> bool:
        """A controller message: whether it is the one that answers now, pressed."""
        return cc == self.answer_cc and value >= 64
