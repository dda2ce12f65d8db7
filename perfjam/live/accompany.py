"""Duet: the AI as an accompanist (``Accompanist``), as weights on the events the model may play
next (``perfjam.sampling.Sampler``'s ``weights``; the live stream asks for them each step).

* **Room for the pianist**: a NOTE_ON a semitone, a major seventh or a minor ninth from a note the
  pianist sounds (as the model heard it, the sustain pedal included) is weighted
  ``CLASH_WEIGHT`` (once per such note), one on a pitch they sound ``UNISON_WEIGHT``.
* **In their harmony and near their hands** (``follow``, from the pianist's latest notes): a
  NOTE_ON of a pitch class they have not played in the last ``HARMONY_WINDOW_S`` is weighted
  ``OUT_OF_HARMONY_WEIGHT`` (it would clash with what they play next more often), one more than
  ``REGISTER_MARGIN`` semitones outside their range ``OUT_OF_REGISTER_WEIGHT``.
* **No drones**: the NOTE_OFF of an AI note held longer than ``SOFT_HOLD_STEPS`` grows likelier,
  ``RELEASE_GROWTH`` times a second, so that the model ends most notes before the duet's length
  limit (``DUET_MAX_NOTE_S``) has to.

Pure numpy on buffers of its own: a few µs a step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perfjam.codec.events import EventType, Vocab
from perfjam.musicality import CLASH_INTERVALS

CLASH_WEIGHT = 0.1
UNISON_WEIGHT = 0.2
HARMONY_WINDOW_S = 1.5
OUT_OF_HARMONY_WEIGHT = 0.3
REGISTER_MARGIN = 12
OUT_OF_REGISTER_WEIGHT = 0.1
SOFT_HOLD_STEPS = 150  # 1.5 s
RELEASE_GROWTH = 10.0  # per second held beyond SOFT_HOLD_STEPS
DUET_MAX_NOTE_S = 4.0  # the duet's note-length limit (the other modes: EngineConfig.max_note_s)
_PITCHES = np.arange(128)


class Accompanist:
    def __init__(self, vocab: Vocab) -> None:
        self.on0 = vocab.offsets[EventType.NOTE_ON]
        self.off0 = vocab.offsets[EventType.NOTE_OFF]
        self._weights = np.ones(vocab.size)
        self._note_ons = np.ones(128)  # harmony and register, from ``follow``
        self.following = False

    def follow(self, notes: Sequence, now_s: float) -> None:
        """The pianist's latest notes (``start_s``, ``pitch``; music time), up to ``now_s``: their
        harmony (the last ``HARMONY_WINDOW_S``) and their range (all of ``notes``)."""
        w = self._note_ons
        w.fill(1.0)
        self.following = bool(notes)
        if not notes:
            return
        recent = {n.pitch % 12 for n in notes if n.start_s >= now_s - HARMONY_WINDOW_S}
        if recent:
            w[~np.isin(_PITCHES % 12, list(recent))] *= OUT_OF_HARMONY_WEIGHT
        low = min(n.pitch for n in notes) - REGISTER_MARGIN
        high = max(n.pitch for n in notes) + REGISTER_MARGIN
        w[(_PITCHES < low) | (_PITCHES > high)] *= OUT_OF_REGISTER_WEIGHT

    def weights(self, human_sounding, ai_on_step: dict[int, int], step: int) -> np.ndarray | None:
        """The weights for the next event (None: none apply). ``human_sounding``: the pianist's
        sounding pitches; ``ai_on_step``: the AI's sounding pitches -> the step each began."""
        old = [(p, s) for p, s in ai_on_step.items() if step - s > SOFT_HOLD_STEPS]
        if not human_sounding and not old and not self.following:
            return None
        w, on0, off0 = self._weights, self.on0, self.off0
        w.fill(1.0)
        w[on0:on0 + 128] = self._note_ons
        for h in human_sounding:
            w[on0 + h] *= UNISON_WEIGHT
            for d in CLASH_INTERVALS:
                for p in (h - d, h + d):
                    if 0 <= p < 128:
                        w[on0 + p] *= CLASH_WEIGHT
        for p, on_step in old:
            w[off0 + p] *= RELEASE_GROWTH ** ((step - on_step - SOFT_HOLD_STEPS) / 100.0)
        return w
