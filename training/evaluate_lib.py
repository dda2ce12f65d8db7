"""Full-stream negative log-likelihood, shared by the trainer and ``training.evaluate``.

Each performance is streamed from a fresh zero state through the whole file, exactly as the app
runs the model (primed by the first event, no start token). Every event after the first is scored;
the result is the mean NLL in nats per event over all events of all files.

Files are batched for speed: sorted by length (longest first), ``batch_files`` at a time, run in
chunks of ``chunk_len`` events that carry the LSTM state; a file that has ended leaves the batch.
A conditioned model gets, with each input event, the control vector of the event it predicts
(``perfjam.controls.controls_for_events`` on the file), as in training.

``stream_scores`` also scores the same events under the event grammar's distributions
(``training.grammar_loss``, masks from ``perfjam.codec.grammar.sequence_masks`` with
``known_start=True``: every file streams from the zero state), the distribution the app samples
from, and counts the events the grammar excludes (0 for encoder output; any makes the grammar
NLL infinite). ``stream_nll`` is its plain part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from perfjam.codec.events import vocab_by_name
from perfjam.codec.grammar import GrammarLayout
from perfjam.controls import controls_for_events
from training.grammar_loss import grammar_nll, packed_file_masks, unpack_masks
from training.model import PerformanceRNN


@dataclass
class StreamScores:
    nll: float  # mean plain NLL (full vocabulary), nats per scored event
    events: int  # scored events
    grammar_nll: dict[str, float] = field(default_factory=dict)  # mode -> mean NLL under the grammar
    violations: int = 0  # scored events the grammar excludes (counted when grammar modes are asked for)


def stream_nll(
    model: PerformanceRNN,
    files_tokens: Sequence[np.ndarray],
    device: torch.device | str,
    files_controls: Sequence[np.ndarray] | None = None,
    *,
    batch_files: int = 32,
    chunk_len: int = 2048,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[float, int]:
    """(mean NLL in nats per scored event, number of scored events) over whole files.

    ``files_controls`` (one [len(file), CONTROL_SIZE] array per file) is only used by a conditioned
    model; when it is None they are computed with ``controls_for_events``.
    """
    scores = stream_scores(model, files_tokens, device, files_controls, batch_files=batch_files,
                           chunk_len=chunk_len, autocast_dtype=autocast_dtype)
    return scores.nll, scores.events


def _chunk_masks(packed: Sequence[np.ndarray], start: int, stop: int, vocab_size: int) -> np.ndarray:
    """[rows, stop - start, V] masks of input positions start..stop-1 (all-true past a file's end)."""
    masks = np.ones((len(packed), stop - start, vocab_size), bool)
    for row, file_masks in enumerate(packed):
        part = file_masks[start:stop]
        masks[row, : len(part)] = unpack_masks(part, vocab_size)
    return masks


@torch.no_grad()
def stream_scores(
    model: PerformanceRNN,
    files_tokens: Sequence[np.ndarray],
    device: torch.device | str,
    files_controls: Sequence[np.ndarray] | None = None,
    *,
    grammar_modes: Sequence[str] = (),
    batch_files: int = 32,
    chunk_len: int = 2048,
    autocast_dtype: torch.dtype | None = None,
) -> StreamScores:
    """The plain NLL of ``stream_nll`` and, for each of ``grammar_modes``, the NLL of the same
    events under the grammar's distribution in that mode."""
    device = torch.device(device)
    vocab = vocab_by_name(model.config.vocab)
    layout = GrammarLayout.of(vocab)
    conditioned = model.config.control_size > 0
    if conditioned and files_controls is None:
        files_controls = [controls_for_events(np.asarray(f), vocab, model.config.control_size)
                          for f in files_tokens]
    lengths = np.array([len(f) for f in files_tokens], np.int64)
    order = [int(i) for i in np.argsort(-lengths, kind="stable") if lengths[i] >= 2]
    autocast = (
        torch.autocast(device_type=device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )

    was_training = model.training
    model.eval()
    total_nll, total_events = 0.0, 0
    grammar_totals = dict.fromkeys(grammar_modes, 0.0)
    violations = 0
    try:
        for first in range(0, len(order), batch_files):
            group = order[first : first + batch_files]  # longest first
            group_lengths = lengths[group]
            tokens = np.zeros((len(group), int(group_lengths[0])), np.int64)
            controls = None
            if conditioned:
                controls = np.zeros((*tokens.shape, model.config.control_size), np.float32)
            for row, i in enumerate(group):
                tokens[row, : lengths[i]] = files_tokens[i]
                if controls is not None:
                    controls[row, : lengths[i]] = files_controls[i]
            tokens_t = torch.from_numpy(tokens).to(device)
            controls_t = torch.from_numpy(controls).to(device) if controls is not None else None
            lengths_t = torch.from_numpy(group_lengths).to(device)

            packed = [packed_file_masks(files_tokens[i], vocab) for i in group] if grammar_modes else []
            state = None
            for start in range(0, tokens.shape[1] - 1, chunk_len):
                active = int(np.count_nonzero(group_lengths > start + 1))  # a prefix: rows sorted by length
                stop = min(start + chunk_len, tokens.shape[1] - 1)
                inputs = tokens_t[:active, start:stop]
                targets = tokens_t[:active, start + 1 : stop + 1]
                step_controls = controls_t[:active, start + 1 : stop + 1] if controls_t is not None else None
                if state is not None:
                    state = (state[0][:, :active].contiguous(), state[1][:, :active].contiguous())
                with autocast:
                    logits, state = model(inputs, step_controls, state)
                nll = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
                nll = nll.view(targets.shape)
                positions = torch.arange(start + 1, stop + 1, device=device)
                scored = positions[None, :] < lengths_t[:active, None]
                total_nll += float(nll[scored].double().sum())
                total_events += int(scored.sum())
                if grammar_modes:
                    masks = _chunk_masks(packed[:active], start, stop, vocab.size)
                    masks = torch.from_numpy(masks).to(device)
                    allowed = masks.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
                    violations += int((~allowed & scored).sum())
                    for mode in grammar_modes:
                        g = grammar_nll(logits.float(), targets, masks, layout, mode)
                        grammar_totals[mode] += float(g[scored].double().sum())
    finally:
        model.train(was_training)

    def mean(total: float) -> float:
        return total / total_events if total_events else float("nan")

    return StreamScores(mean(total_nll), total_events, {m: mean(t) for m, t in grammar_totals.items()},
                        violations)
