"""The grammar of performance events: which events can come next in a stream the encoder writes.

Pure numpy (no torch, no Qt). Rules, each provable from ``EventWriter`` and checked on every file
of the data set (``python -m training.check_grammar``):

1. NOTE_OFF(p) only while more NOTE_ON(p) than NOTE_OFF(p) have been written (the encoder
   closes only notes it opened, each once). Counted, not "is p sounding": two notes of one pitch
   can be open together (quantization or overlapping keys), e.g. a note of 4 ms stretched to one
   step and a re-strike in that step: ON(60) ON(60) TIME_SHIFT(1) OFF(60) ... OFF(60).
2. After a VELOCITY event only a NOTE_ON (the writer emits VELOCITY right before its note).
3. Never a VELOCITY equal to the current bin (VELOCITY is written only when the bin changes).
4. After a TIME_SHIFT shorter than the maximum, no TIME_SHIFT (the writer merges a gap into
   full shifts followed by one remainder).
5. With dynamics, no NOTE_ON before the first VELOCITY (the writer starts with no bin).

A NOTE_ON on a sounding pitch stays allowed: quantization can make a re-struck note start in the
step where its predecessor, stretched to one step, still sounds.

The grammar is the encoder's (what a stream *can* hold). The decoder treats a pitch as one
voice: a NOTE_ON on a sounding pitch ends the note there, so the second NOTE_OFF of a pitch
struck twice is legal but has no effect. ``GrammarState.effective()`` is the grammar without such
NOTE_OFFs (only pitches whose last NOTE_ON/OFF was a NOTE_ON): what generation samples from.

Two forms of the same rules:

* ``GrammarState``: incremental, O(1) work per event (a few slice writes on one bool array),
  ``snapshot``/``restore`` for the live engine's rollback.
* ``sequence_masks``: vectorised over a batch of event rows (training and evaluation).

A stream can start in a *known* state (the zero state: nothing sounds, no bin, no previous event,
as every performance and the live session start) or an *unknown* one (a training window cut
from the middle of a file): then a pitch's NOTE_OFF, a VELOCITY and a NOTE_ON stay allowed until
the row itself says otherwise. A pitch's notes open before the window are taken to be the fewest
the row allows (one NOTE_OFF first: one was open); only a pitch with a note open at the cut that
the row strikes again before releasing it (two notes of one pitch at once: rare) can make the mask
narrower than the truth.

``grammar_log_probs`` turns the model's logits into the distribution the app samples from. Two
ways to give back the excluded probability (``GRAMMAR_MODES``):

* ``renormalize``: softmax over the allowed events;
* ``type-preserving`` (the default for models trained without the grammar): the model's total
  NOTE_OFF probability is kept and shared among the sounding pitches in proportion to the model's
  own preference; everything else is renormalised (plainly when nothing sounds). Renormalising
  alone would spread the mass the model meant for "release a note" over note-ons and shifts.

A model trained with the grammar-masked loss has learned the renormalised distribution, so for it
``renormalize`` is exact (``mode_for_model``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfjam.codec.events import MAX_SHIFT_STEPS, NUM_PITCHES, EventType, Vocab

RENORMALIZE = "renormalize"
TYPE_PRESERVING = "type-preserving"
GRAMMAR_MODES = (TYPE_PRESERVING, RENORMALIZE)
DEFAULT_GRAMMAR_MODE = TYPE_PRESERVING

# What the previous event was, as far as the rules care.
_OTHER, _VELOCITY, _SHORT_SHIFT = 0, 1, 2


@dataclass(frozen=True)
class GrammarLayout:
    """Index ranges of one vocabulary, computed once."""

    size: int
    on0: int
    off0: int
    shift0: int
    vel0: int | None  # None without dynamics
    num_bins: int

    @classmethod
    def of(cls, vocab: Vocab) -> GrammarLayout:
        vel0 = vocab.offsets.get(EventType.VELOCITY)
        num_bins = vocab.size - vel0 if vel0 is not None else 0
        return cls(vocab.size, vocab.offsets[EventType.NOTE_ON], vocab.offsets[EventType.NOTE_OFF],
                   vocab.offsets[EventType.TIME_SHIFT], vel0, num_bins)

    @property
    def dynamics(self) -> bool:
        return self.vel0 is not None

    def kinds(self, events: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Boolean arrays: is NOTE_ON, is NOTE_OFF, is short TIME_SHIFT, is VELOCITY."""
        is_on = events < self.on0 + NUM_PITCHES
        is_off = (events >= self.off0) & (events < self.off0 + NUM_PITCHES)
        is_short = (events >= self.shift0) & (events < self.shift0 + MAX_SHIFT_STEPS - 1)
        is_vel = events >= self.vel0 if self.vel0 is not None else np.zeros_like(is_on)
        return is_on, is_off, is_short, is_vel


class GrammarState:
    """The grammar after a prefix of one stream; ``allowed()`` is the mask of the next event.

    Kept as two bool arrays (``_mask``, the allowed set ignoring rule 2, and ``_effective``, the
    same without NOTE_OFFs the decoder would ignore), the open notes per pitch (``_open``, rule 1)
    and the previous event's kind; ``feed`` updates only the entries an event changes. Rule 2
    returns a constant mask.
    """

    __slots__ = ("layout", "known_start", "_mask", "_effective", "_open", "_low", "_only_on",
                 "velocity_bin", "previous")

    def __init__(self, vocab: Vocab, known_start: bool = True) -> None:
        self.layout = lay = GrammarLayout.of(vocab)
        self.known_start = known_start
        self._open = [0] * NUM_PITCHES  # NOTE_ONs minus NOTE_OFFs per pitch
        self._low = [0] * NUM_PITCHES  # the lowest _open so far, <= 0 (an unknown start: notes open before)
        self._mask = np.ones(lay.size, dtype=bool)
        self._only_on = np.zeros(lay.size, dtype=bool)
        self._only_on[lay.on0 : lay.on0 + NUM_PITCHES] = True
        self.velocity_bin = 0  # 0: none yet (known start) or not known (unknown start)
        self.previous = _OTHER
        if known_start:
            self._mask[lay.off0 : lay.off0 + NUM_PITCHES] = False  # nothing sounds
            if lay.dynamics:
                self._mask[lay.on0 : lay.on0 + NUM_PITCHES] = False  # rule 5
        self._effective = self._mask.copy()

    def allowed(self) -> np.ndarray:
        """The events that may come next (a read-only view: do not modify)."""
        return self._only_on if self.previous == _VELOCITY else self._mask

    def effective(self) -> np.ndarray:
        """``allowed()`` without the NOTE_OFFs the decoder would ignore (a read-only view)."""
        return self._only_on if self.previous == _VELOCITY else self._effective

    def is_allowed(self, index: int) -> bool:
        return bool(self.allowed()[index])

    @property
    def sounding(self) -> np.ndarray:
        """Pitches whose NOTE_OFF is allowed (a note open, or any after an unknown start)."""
        lay = self.layout
        return np.flatnonzero(self._mask[lay.off0 : lay.off0 + NUM_PITCHES])

    def feed(self, index: int) -> bool:
        """Advance by one event; returns whether the grammar allowed it (the state follows the
        event either way, so a caller that must feed an outside event stays in step)."""
        lay, mask, effective = self.layout, self._mask, self._effective
        ok = self.is_allowed(index)
        shifts = slice(lay.shift0, lay.shift0 + MAX_SHIFT_STEPS)
        if self.previous == _SHORT_SHIFT:
            mask[shifts] = effective[shifts] = True
        if index < lay.on0 + NUM_PITCHES:
            self._open[index - lay.on0] += 1
            mask[lay.off0 + index - lay.on0] = effective[lay.off0 + index - lay.on0] = True
            self.previous = _OTHER
        elif index < lay.off0 + NUM_PITCHES:
            pitch = index - lay.off0
            self._open[pitch] -= 1
            if not self.known_start and self._open[pitch] < self._low[pitch]:
                self._low[pitch] = self._open[pitch]
            if self._open[pitch] <= self._low[pitch]:
                mask[index] = False
            effective[index] = False
            self.previous = _OTHER
        elif index < lay.shift0 + MAX_SHIFT_STEPS:
            if index < lay.shift0 + MAX_SHIFT_STEPS - 1:
                mask[shifts] = effective[shifts] = False
                self.previous = _SHORT_SHIFT
            else:
                self.previous = _OTHER
        else:  # VELOCITY
            if self.velocity_bin:
                mask[lay.vel0 + self.velocity_bin - 1] = effective[lay.vel0 + self.velocity_bin - 1] = True
            else:  # the first bin: NOTE_ONs become possible
                ons = slice(lay.on0, lay.on0 + NUM_PITCHES)
                mask[ons] = effective[ons] = True
            self.velocity_bin = index - lay.vel0 + 1
            mask[index] = effective[index] = False
            self.previous = _VELOCITY
        return ok

    def snapshot(self) -> tuple:
        return (self._mask.copy(), self._effective.copy(), self._open.copy(), self._low.copy(),
                self.velocity_bin, self.previous)

    def restore(self, snapshot: tuple) -> None:
        mask, effective, open_notes, low, self.velocity_bin, self.previous = snapshot
        np.copyto(self._mask, mask)
        np.copyto(self._effective, effective)
        self._open[:] = open_notes
        self._low[:] = low


def _forward_fill(values: np.ndarray, present: np.ndarray, fill) -> np.ndarray:
    """Along axis 1: the last present value at or before each position (``fill`` before any)."""
    t = np.arange(values.shape[1]).reshape((1, -1) + (1,) * (values.ndim - 2))
    last = np.maximum.accumulate(np.where(present, t, -1), axis=1)
    out = np.take_along_axis(values, np.maximum(last, 0), axis=1)
    return np.where(last >= 0, out, fill)


def sequence_masks(events: np.ndarray, vocab: Vocab, known_start: bool = True) -> np.ndarray:
    """[B, T] event rows -> [B, T, vocab.size] bool: ``mask[b, t]`` allows the event after
    ``events[b, :t + 1]``. Positions after a row's real end are computed but meaningless."""
    lay = GrammarLayout.of(vocab)
    events = np.asarray(events, dtype=np.int64)
    if events.ndim == 1:
        return sequence_masks(events[None], vocab, known_start)[0]
    batch, length = events.shape
    is_on, is_off, is_short, is_vel = lay.kinds(events)
    mask = np.ones((batch, length, lay.size), dtype=bool)

    # Rule 1: NOTE_ONs minus NOTE_OFFs of each pitch so far, above the lowest it has been (0 after a
    # known start; an unknown one: a pitch not seen yet may be released).
    pitch = np.where(is_on, events - lay.on0, events - lay.off0)
    delta = np.zeros((batch, length, NUM_PITCHES), dtype=np.int16)
    rows, cols = np.nonzero(is_on | is_off)
    delta[rows, cols, pitch[rows, cols]] = np.where(is_on[rows, cols], 1, -1)
    count = np.cumsum(delta, axis=1, dtype=np.int16)
    offs = slice(lay.off0, lay.off0 + NUM_PITCHES)
    if known_start:
        mask[..., offs] = count > 0
    else:
        low = np.minimum.accumulate(np.minimum(count, 0), axis=1)
        seen = np.cumsum(delta != 0, axis=1, dtype=np.int32) > 0
        mask[..., offs] = ~seen | (count > low)

    # Rule 4: no TIME_SHIFT right after a short one.
    mask[..., lay.shift0 : lay.shift0 + MAX_SHIFT_STEPS] &= ~is_short[..., None]

    if lay.dynamics:  # rules 3 and 5
        bins = np.where(is_vel, events - lay.vel0 + 1, 0)
        current = _forward_fill(bins, is_vel, 0)  # 0: none yet / unknown
        vel = mask[..., lay.vel0 :]
        vel[np.arange(batch)[:, None], np.arange(length)[None, :], np.maximum(current - 1, 0)] &= current == 0
        if known_start:
            mask[..., lay.on0 : lay.on0 + NUM_PITCHES] &= (current > 0)[..., None]
        # Rule 2: after a VELOCITY only a NOTE_ON.
        mask[is_vel] = False
        mask[is_vel, lay.on0 : lay.on0 + NUM_PITCHES] = True
    return mask


def first_mask(vocab: Vocab, known_start: bool = True) -> np.ndarray:
    """The allowed set of a stream's first event."""
    return GrammarState(vocab, known_start).allowed().copy()


def violations(events: np.ndarray, vocab: Vocab, known_start: bool = True) -> list[int]:
    """Positions of the events the grammar would have excluded (empty for any encoder output)."""
    state = GrammarState(vocab, known_start)
    return [i for i, e in enumerate(np.asarray(events).tolist()) if not state.feed(int(e))]


# ----------------------------------------------------------------------------- distributions


def _log_softmax(z: np.ndarray) -> np.ndarray:
    peak = np.max(z, axis=-1, keepdims=True)
    shifted = z - np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def grammar_log_probs(logits: np.ndarray, mask: np.ndarray, vocab_or_layout: Vocab | GrammarLayout,
                      mode: str = DEFAULT_GRAMMAR_MODE) -> np.ndarray:
    """Log-probabilities (float64, -inf where excluded) of the grammar's distribution; works on
    one logit vector [V] or a batch [..., V] with masks of the same shape."""
    lay = vocab_or_layout if isinstance(vocab_or_layout, GrammarLayout) else GrammarLayout.of(vocab_or_layout)
    z = np.asarray(logits, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if mode == RENORMALIZE:
        return _log_softmax(np.where(mask, z, -np.inf))
    if mode != TYPE_PRESERVING:
        raise ValueError(f"unknown grammar mode {mode!r}; known: {', '.join(GRAMMAR_MODES)}")
    log_p = _log_softmax(z)
    offs = slice(lay.off0, lay.off0 + NUM_PITCHES)
    with np.errstate(divide="ignore"):
        log_off_total = np.log(np.sum(np.exp(log_p[..., offs]), axis=-1, keepdims=True))
        log_off_allowed = np.log(np.sum(np.where(mask[..., offs], np.exp(log_p[..., offs]), 0.0),
                                        axis=-1, keepdims=True))
    # Scale the allowed NOTE_OFFs up to the model's whole NOTE_OFF mass (where any is allowed).
    boost = np.where(np.isfinite(log_off_allowed), log_off_total - log_off_allowed, 0.0)
    adjusted = log_p.copy()
    adjusted[..., offs] += boost
    return _log_softmax(np.where(mask, adjusted, -np.inf))


def mode_for_model(metadata: dict | None) -> str:
    """The grammar mode that matches how a model was trained (its ``grammar_loss`` metadata)."""
    trained_with_grammar = str((metadata or {}).get("grammar_loss", "")).lower() in ("1", "true", "yes")
    return RENORMALIZE if trained_with_grammar else DEFAULT_GRAMMAR_MODE
