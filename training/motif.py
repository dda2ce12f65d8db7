"""A motif memory (``MotifMemory``): a copy model of the note-ons of the stream, so that the AI
could pick up a figure it has heard (the pianist's or its own). Pure, no model.

Measured and left out of the app (issue 19, the model card's "A motif memory"): on the test split
it lowers the NLL by 0.009 nats/event (``training.evaluate --memory``), but at that weight it does
not make free play or continuations repeat figures any more than without it (recurring 4-interval
figures 0.000 -> 0.003; a weight that does, 0.8, costs 0.07 nats/event). It stays here, with the
sampler's ``memory`` hook, so that the measurement can be repeated.

It reads the note-ons in stream order (a chord low to high, as the codec writes it) as intervals.
At a note-on, what followed the same last ``CONTEXT`` intervals earlier in the stream predicts the
next interval (transposition-invariant: a figure a step higher is the same figure); ``predict``
gives that as pitches, with how many times the context was seen. ``mix`` puts it inside the
NOTE_ON mass of the model's distribution with weight ``weight(seen, certainty)``: up to
``MAX_WEIGHT``, growing with the evidence (half of it at ``HALF_WEIGHT_SEEN``) and with how
unanimous it was (the likeliest interval's share, to the power ``CERTAINTY_POWER``). The same
total goes to the NOTE_ONs, shared between the model's own choice and the memory's, so every
other event keeps its probability. The constants are the best of a grid on the validation split
(the model card has the table).

``mark`` / ``truncate`` let a speculative stream take back what it added (the live engine rolls
its look-ahead back).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

CONTEXT = 2  # intervals of context
MAX_WEIGHT = 0.7  # the most the memory gets of the NOTE_ON mass...
HALF_WEIGHT_SEEN = 4.0  # ...half of it once the context was seen this often...
CERTAINTY_POWER = 2.0  # ...times the likeliest interval's share to this power
MAX_NOTES = 4096  # the memory forgets beyond this many note-ons (oldest first)


class MotifMemory:
    def __init__(self, max_weight: float = MAX_WEIGHT, half_weight_seen: float = HALF_WEIGHT_SEEN,
                 certainty_power: float = CERTAINTY_POWER) -> None:
        self.max_weight, self.half_weight_seen = max_weight, half_weight_seen
        self.certainty_power = certainty_power
        self.pitches: list[int] = []
        self.table: dict[tuple[int, ...], Counter] = {}
        self.base = 0  # note-ons forgotten from the front (their trigrams too)

    # --- what was played ------------------------------------------------------------------------------
    def _key(self, end: int) -> tuple[tuple[int, ...], int] | None:
        """(context, next interval) of the note-on at index ``end`` of ``pitches``."""
        if end < CONTEXT + 1:
            return None
        p = self.pitches
        context = tuple(p[i] - p[i - 1] for i in range(end - CONTEXT, end))
        return context, p[end] - p[end - 1]

    def note_on(self, pitch: int) -> None:
        self.pitches.append(pitch)
        found = self._key(len(self.pitches) - 1)
        if found is not None:
            context, interval = found
            self.table.setdefault(context, Counter())[interval] += 1
        if len(self.pitches) > MAX_NOTES:
            self._forget(len(self.pitches) - MAX_NOTES)

    def _remove(self, end: int) -> None:
        found = self._key(end)
        if found is None:
            return
        context, interval = found
        counts = self.table[context]
        counts[interval] -= 1
        if counts[interval] <= 0:
            del counts[interval]
            if not counts:
                del self.table[context]

    def _forget(self, count: int) -> None:
        for end in range(CONTEXT + 1, CONTEXT + 1 + count):
            self._remove(end)
        del self.pitches[:count]
        self.base += count

    def mark(self) -> int:
        """A mark to ``truncate`` back to."""
        return self.base + len(self.pitches)

    def truncate(self, mark: int) -> None:
        """Forget the note-ons added since ``mark``."""
        keep = max(0, mark - self.base)
        for end in range(len(self.pitches) - 1, keep - 1, -1):
            self._remove(end)
        del self.pitches[keep:]

    def reset(self) -> None:
        self.pitches.clear()
        self.table.clear()
        self.base = 0

    # --- what it predicts -----------------------------------------------------------------------------
    def predict(self) -> tuple[dict[int, float], int]:
        """The next note-on's pitch -> probability from what followed the current context before,
        and how many times the context was seen (0: nothing to say)."""
        p = self.pitches
        if len(p) < CONTEXT + 1:
            return {}, 0
        context = tuple(p[i] - p[i - 1] for i in range(len(p) - CONTEXT, len(p)))
        counts = self.table.get(context)
        if not counts:
            return {}, 0
        seen = sum(counts.values())
        last = p[-1]
        out = {last + d: c / seen for d, c in counts.items() if 0 <= last + d < 128}
        return out, seen

    def weight(self, seen: int, certainty: float = 1.0) -> float:
        """The memory's share of the NOTE_ON mass for a context ``seen`` times whose likeliest
        continuation had a share ``certainty`` of them."""
        if not seen:
            return 0.0
        return self.max_weight * seen / (seen + self.half_weight_seen) * certainty ** self.certainty_power

    def mix(self, p: np.ndarray, on0: int) -> np.ndarray:
        """``p`` (a distribution over the vocabulary, NOTE_ONs at ``on0 .. on0 + 127``) with the
        memory's prediction inside its NOTE_ON mass; ``p`` itself when it has none."""
        predicted, seen = self.predict()
        if not predicted:
            return p
        ons = p[on0:on0 + 128]
        mass = float(ons.sum())
        if mass <= 0.0:
            return p
        lam = self.weight(seen, max(predicted.values()))
        out = p.copy()
        out[on0:on0 + 128] *= 1.0 - lam
        for pitch, q in predicted.items():
            out[on0 + pitch] += lam * mass * q
        return out
