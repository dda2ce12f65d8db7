"""The event grammar's distributions in torch: ``perfjam.codec.grammar.grammar_log_probs`` for
batches of logits, for scoring (``training.evaluate_lib``) and for a grammar-masked loss.

Two modes, as in the app (``perfjam.codec.grammar.GRAMMAR_MODES``):

* ``renormalize``: log-softmax over the allowed events (what a model trained with the masked
  loss has learned);
* ``type-preserving``: the model's total NOTE_OFF probability is shared among the allowed
  NOTE_OFFs in proportion to their probabilities, then everything is renormalised over the
  allowed events.

Masks come from ``perfjam.codec.grammar.sequence_masks`` (numpy, per file or window): whole
files streamed from the zero state use ``known_start=True``; a training window cut from the
middle of a file needs ``known_start=False``. The functions are gradient-safe where a row allows
no NOTE_OFF (no -inf reaches a gradient), as long as every target is allowed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from perfjam.codec.events import NUM_PITCHES, Vocab
from perfjam.codec.grammar import RENORMALIZE, TYPE_PRESERVING, GrammarLayout, sequence_masks


def _layout(vocab_or_layout: Vocab | GrammarLayout) -> GrammarLayout:
    if isinstance(vocab_or_layout, GrammarLayout):
        return vocab_or_layout
    return GrammarLayout.of(vocab_or_layout)


def grammar_log_softmax(logits: torch.Tensor, mask: torch.Tensor, vocab_or_layout: Vocab | GrammarLayout,
                        mode: str = TYPE_PRESERVING) -> torch.Tensor:
    """[..., V] logits and bool mask -> log-probabilities (-inf where excluded), in the logits'
    dtype (pass float64 for exact comparisons)."""
    mask = mask.to(torch.bool)
    if mode == RENORMALIZE:
        return F.log_softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
    if mode != TYPE_PRESERVING:
        raise ValueError(f"unknown grammar mode {mode!r}; known: {TYPE_PRESERVING}, {RENORMALIZE}")
    lay = _layout(vocab_or_layout)
    offs = slice(lay.off0, lay.off0 + NUM_PITCHES)
    log_p = F.log_softmax(logits, dim=-1)
    log_off = log_p[..., offs]
    off_mask = mask[..., offs]
    very_low = torch.finfo(log_p.dtype).min / 4  # finite: no NaN gradient where no NOTE_OFF is allowed
    log_off_total = torch.logsumexp(log_off, dim=-1, keepdim=True)
    log_off_allowed = torch.logsumexp(log_off.masked_fill(~off_mask, very_low), dim=-1, keepdim=True)
    any_off = off_mask.any(dim=-1, keepdim=True)
    boost = torch.where(any_off, log_off_total - log_off_allowed, torch.zeros_like(log_off_total))
    pad = torch.zeros_like(log_p)
    pad[..., offs] = boost.expand_as(log_off)
    return F.log_softmax((log_p + pad).masked_fill(~mask, float("-inf")), dim=-1)


def grammar_nll(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                vocab_or_layout: Vocab | GrammarLayout, mode: str = TYPE_PRESERVING) -> torch.Tensor:
    """Per-position NLL (nats) of ``targets`` [...] under the grammar's distribution
    (inf for a target the grammar excludes)."""
    log_q = grammar_log_softmax(logits, mask, vocab_or_layout, mode)
    return -log_q.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def row_masks(tokens: np.ndarray, vocab: Vocab, known_start: bool = True) -> np.ndarray:
    """[B, T] event rows -> [B, T, V] bool masks (``sequence_masks``); ``mask[b, t]`` is the
    allowed set of the event after ``tokens[b, :t + 1]``, i.e. of target ``tokens[b, t + 1]``."""
    return sequence_masks(np.asarray(tokens, np.int64), vocab, known_start=known_start)


def packed_file_masks(tokens: np.ndarray, vocab: Vocab) -> np.ndarray:
    """The masks of a whole file from the zero state, bit-packed along the vocabulary
    ([T, ceil(V / 8)] uint8): a long file's masks then cost 49 bytes per event, not 388."""
    return np.packbits(row_masks(np.asarray(tokens)[None], vocab, known_start=True)[0], axis=-1)


def unpack_masks(packed: np.ndarray, vocab_size: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=vocab_size).astype(bool)
