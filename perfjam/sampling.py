"""Sampling events from a model's logits: the event grammar, temperature, weights, min-p and top-p.

Pure numpy (``perfjam.model`` re-exports ``Sampler``). The grammar (``perfjam.codec.grammar``)
gives the events that may come next; ``grammar_probabilities`` is the distribution over them the
app samples from, ``grammar_log_probs`` in the probability domain: a few µs per call.
``distribution`` is the app's distribution at temperature 1 (grammar, restriction; a ``memory``
hook for measurements: what ``training.evaluate`` scores as ``nll_per_event_app``), ``shape``
what the temperature, weights, min-p, note min-p and top-p make of it (what ``Sampler.sample``
draws from).
"""

from __future__ import annotations

import numpy as np

from perfjam.codec.events import NUM_PITCHES, VOCABS
from perfjam.codec.grammar import (
    DEFAULT_GRAMMAR_MODE,
    GRAMMAR_MODES,
    RENORMALIZE,
    GrammarLayout,
    grammar_log_probs,
)

NO_GRAMMAR = "none"  # sampling without the grammar: only to measure the old behaviour
# The app's sampling defaults, chosen by measurement (benchmarks/sampling_sweep.py on the default
# model: of 9 statistics of free play, 8 inside the interquartile range of 30-s windows of the
# validation split, against 1 at temperature 1.0 untruncated; the model card has the table):
DEFAULT_TEMPERATURE = 1.1
DEFAULT_NOTE_MIN_P = 0.1  # min-p among the note-ons only: timing and dynamics as the model has them
SAMPLING_MODES = (*GRAMMAR_MODES, NO_GRAMMAR)
_LAYOUTS = {v.size: GrammarLayout.of(v) for v in VOCABS.values()}  # the vocabularies have distinct sizes


def grammar_probabilities(
    logits: np.ndarray, mask: np.ndarray, mode: str = DEFAULT_GRAMMAR_MODE
) -> np.ndarray:
    """``exp(grammar_log_probs(logits, mask, vocab, mode))`` for one logit vector, in a few µs:
    the probability domain, relative to the peak; the log-domain definition is used only where
    that would underflow."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    mask = np.asarray(mask, dtype=bool).reshape(-1)
    layout = _LAYOUTS.get(z.size)
    if layout is None or mask.size != z.size:
        raise ValueError(f"a grammar mask needs the logits of a known vocabulary, got {z.size} logits")
    if mode == RENORMALIZE:
        zm = np.where(mask, z, -np.inf)
        q = np.exp(zm - zm.max())
    elif mode in GRAMMAR_MODES:  # type-preserving: the NOTE_OFF total goes to the allowed NOTE_OFFs
        q = np.exp(z - z.max())
        offs = slice(layout.off0, layout.off0 + 128)
        off_total = q[offs].sum()
        q *= mask
        off_allowed = q[offs].sum()
        if off_allowed > 0.0:
            q[offs] *= off_total / off_allowed
        elif mask[offs].any():
            q[:] = 0.0  # the allowed NOTE_OFFs underflowed: take the exact path below
    else:
        raise ValueError(f"unknown grammar mode {mode!r}; known: {', '.join(SAMPLING_MODES)}")
    total = q.sum()
    if not total > 1e-250:  # every allowed event far below the peak
        return np.exp(grammar_log_probs(z, mask, layout, mode))
    return q / total


def distribution(logits: np.ndarray, mask: np.ndarray | None = None, grammar_mode: str = DEFAULT_GRAMMAR_MODE,
                 restrict: np.ndarray | None = None, memory=None) -> np.ndarray:
    """The app's distribution at temperature 1, before any truncation: the grammar's (or a plain
    softmax), ``restrict`` applied, and a ``memory`` (anything with ``mix(p, on0)``, e.g.
    ``training.motif.MotifMemory``: measured, not in the app) mixed in."""
    if mask is not None and grammar_mode != NO_GRAMMAR:
        p = grammar_probabilities(logits, mask, grammar_mode)
    else:
        z = np.asarray(logits, dtype=np.float64).reshape(-1)
        if restrict is not None:
            z = np.where(restrict, z, -np.inf)
            restrict = None  # applied
        peak = z.max()
        if not np.isfinite(peak):
            raise ValueError("logits have no finite maximum")
        p = np.exp(z - peak)
        p /= p.sum()
    if restrict is not None:
        restricted = p * restrict
        total = restricted.sum()
        if not total > 0.0:
            raise ValueError("the restriction leaves no event the grammar allows")
        p = restricted / total
    if memory is not None:
        p = memory.mix(p, _LAYOUTS[p.size].on0 if p.size in _LAYOUTS else 0)
    return p


def shape(p: np.ndarray, temperature: float = 1.0, weights: np.ndarray | None = None,
          min_p: float | None = None, top_p: float | None = None,
          note_min_p: float | None = None) -> np.ndarray:
    """``p`` reshaped by the temperature and ``weights``, then truncated by min-p (every event),
    note min-p (the NOTE_ONs only: their pitch, never the timing or dynamics) and top-p (one-hot
    at the likeliest event when ``temperature <= 0``)."""
    if temperature > 0.0 and temperature != 1.0:
        p = p / p.max()  # the top event stays 1: nothing underflows to an empty support
        np.power(p, 1.0 / temperature, out=p)
        p /= p.sum()
    if weights is not None:
        weighted = p * weights
        total = weighted.sum()
        if total > 0.0:  # (weights that leave nothing are ignored: they only prefer)
            p = weighted / total
    if temperature <= 0.0:
        greedy = np.zeros_like(p)
        greedy[np.argmax(p)] = 1.0
        return greedy
    if min_p is not None and min_p > 0.0:
        if min_p > 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {min_p}")
        p = np.where(p >= min_p * p.max(), p, 0.0)
        p /= p.sum()
    if note_min_p is not None and note_min_p > 0.0:
        if note_min_p > 1.0:
            raise ValueError(f"note_min_p must be in [0, 1], got {note_min_p}")
        on0 = _LAYOUTS[p.size].on0 if p.size in _LAYOUTS else 0
        ons = p[on0:on0 + NUM_PITCHES]
        cut = ons < note_min_p * ons.max()
        if cut.any():
            p = p.copy()
            p[on0:on0 + NUM_PITCHES][cut] = 0.0
            p /= p.sum()
    if top_p is not None and top_p < 1.0:
        if top_p <= 0.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        order = np.argsort(-p, kind="stable")
        cumulative = np.cumsum(p[order])
        keep = int(np.searchsorted(cumulative, top_p, side="left")) + 1  # smallest set reaching top_p
        truncated = np.zeros_like(p)
        truncated[order[:keep]] = p[order[:keep]]
        p = truncated / truncated.sum()
    return p


class Sampler:
    """Samples event indices from logits with temperature, min-p and nucleus (top-p) truncation.

    With a grammar ``mask`` (``perfjam.codec.grammar``: the events that may come next), the
    disallowed events get zero probability first: the temperature-1 distribution is the
    grammar's (``grammar_probabilities`` in ``grammar_mode``; ``"none"`` ignores the mask). A
    ``restrict`` mask (the caller's own rule, e.g. the live engine's "only the AI's own notes")
    then removes more events, renormalising plainly; a ``memory`` may mix a prediction into the
    distribution (``distribution``); then the temperature reshapes the distribution
    (p ∝ q^(1/T)); ``weights`` (the caller's preferences, e.g. the duet's "not a
    semitone from the pianist's notes") multiply it; min-p keeps the events with at least
    ``min_p`` times the likeliest one's probability (as Aria's live demo), and top-p the
    likeliest events that reach ``top_p`` together.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def probabilities(
        self,
        logits: np.ndarray,
        temperature: float = 1.0,
        top_p: float | None = None,
        mask: np.ndarray | None = None,
        grammar_mode: str = DEFAULT_GRAMMAR_MODE,
        restrict: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        min_p: float | None = None,
        memory=None,
        note_min_p: float | None = None,
    ) -> np.ndarray:
        """The distribution ``sample`` draws from (float64, sums to 1); one-hot when greedy:
        ``shape`` of ``distribution``."""
        p = distribution(logits, mask, grammar_mode, restrict, memory)
        return shape(p, temperature, weights, min_p, top_p, note_min_p)

    def sample(
        self,
        logits: np.ndarray,
        temperature: float = 1.0,
        top_p: float | None = None,
        mask: np.ndarray | None = None,
        grammar_mode: str = DEFAULT_GRAMMAR_MODE,
        restrict: np.ndarray | None = None,
        weights: np.ndarray | None = None,
        min_p: float | None = None,
        memory=None,
        note_min_p: float | None = None,
    ) -> int:
        """One event index; ``temperature <= 0`` is greedy (argmax of the distribution)."""
        if temperature <= 0.0 and restrict is None and weights is None and memory is None and (
                mask is None or grammar_mode == NO_GRAMMAR):
            return int(np.argmax(logits))
        p = self.probabilities(logits, temperature, top_p, mask, grammar_mode, restrict, weights, min_p,
                               memory, note_min_p)
        if temperature <= 0.0:
            return int(np.argmax(p))
        cumulative = np.cumsum(p)
        index = int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
        if index >= len(p):  # rounding at the very top: take the last event that has probability
            index = int(np.flatnonzero(p)[-1])
        return index
