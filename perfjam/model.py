"""Loading an ONNX Performance RNN, stepping it one event at a time, and sampling.

``Sampler`` (``perfjam.sampling``, re-exported here) draws events from the logits. The only
module of the app that imports onnxruntime (and it never imports torch or onnx).
The graph is the single-step contract of ``docs/ARCHITECTURE.md``: inputs ``token`` int64 [1],
``h``/``c`` float32 [layers, 1, hidden] (and ``control`` [1, control_size] for a conditioned
model); outputs ``logits`` [1, vocab], ``h_out``, ``c_out``; PerfJam metadata in the model's
``metadata_props``.

Stepping uses one intra-op thread (two threads on two cores make the p99 latency several times
worse) and IO binding onto preallocated buffers: the state is double-buffered, so a step writes
the new state into the buffers the previous step read from and nothing is allocated per step
except the returned logits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from perfjam.codec.events import Vocab, vocab_by_name
from perfjam.codec.grammar import RENORMALIZE, mode_for_model
from perfjam.controls import fit_control, requested_control
from perfjam.package_data import MODELS_DIR
from perfjam.sampling import NO_GRAMMAR, SAMPLING_MODES, Sampler, grammar_probabilities

__all__ = ["DEFAULT_MODEL", "MODELS_DIR", "NO_GRAMMAR", "SAMPLING_MODES", "ModelError", "ModelInfo",
           "ModelState", "PerformanceModel", "Sampler", "find_model", "grammar_probabilities",
           "shipped_models"]

DEFAULT_MODEL = "perfjam-dynamics"
MODEL_SUFFIX = ".onnx"
FORMAT_VERSION = "1"
REQUIRED_METADATA = ("perfjam_format", "vocab", "vocab_size", "layers", "hidden", "control_size")
# The largest state a model may declare (a few MB of buffers); the shipped ones are 2 x 512.
MAX_LAYERS, MAX_HIDDEN, MAX_CONTROL_SIZE = 16, 8192, 1024


class ModelError(Exception):
    """A model file that is missing, not ONNX, or not a PerfJam Performance RNN (``load``), or a
    model whose output is not finite (``PerformanceModel.step``)."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    vocab: Vocab
    layers: int
    hidden: int
    embedding: int | None
    control_size: int
    control_layout: Mapping[str, Any] | None = field(hash=False)
    val_nll: float | None
    test_nll: float | None
    quantized: bool
    metadata: Mapping[str, str] = field(repr=False, hash=False)
    val_nll_grammar: float | None = None  # NLL of the distribution the app samples (the grammar's)
    test_nll_grammar: float | None = None

    @property
    def has_controls(self) -> bool:
        return self.control_size > 0

    @property
    def grammar_loss(self) -> bool:
        """Whether the model was trained with the grammar-masked loss (metadata ``grammar_loss``)."""
        return mode_for_model(self.metadata) == RENORMALIZE

    @property
    def grammar_mode(self) -> str:
        """The grammar mode that matches the model's training (``perfjam.codec.grammar``)."""
        return mode_for_model(self.metadata)


@dataclass(frozen=True, eq=False)
class ModelState:
    """A copy of the recurrent state (h, c), each [layers, 1, hidden]."""

    h: np.ndarray
    c: np.ndarray


def shipped_models(models_dir: Path = MODELS_DIR) -> list[str]:
    """Names of the shipped models (``NAME.onnx`` -> ``NAME``; ``perfjam.package_data``)."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name[: -len(MODEL_SUFFIX)] for p in models_dir.glob(f"*{MODEL_SUFFIX}") if p.is_file())


def find_model(name_or_path: str | Path, models_dir: Path = MODELS_DIR) -> Path:
    """A path to an existing file, or a shipped model name -> ``MODELS_DIR/NAME.onnx``."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    looks_like_path = isinstance(name_or_path, Path) or text.endswith(MODEL_SUFFIX) or "/" in text
    if path.is_file():
        return path
    if looks_like_path:
        raise ModelError(f"model file not found: {path}")
    candidate = models_dir / f"{text}{MODEL_SUFFIX}"
    if candidate.is_file():
        return candidate
    shipped = shipped_models(models_dir)
    listing = ", ".join(shipped) if shipped else "none"
    raise ModelError(f"no model named {text!r} (looked for {candidate}); shipped models: {listing}")


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no warnings on stderr in the app
    return options


def _optional_float(metadata: Mapping[str, str], key: str) -> float | None:
    text = metadata.get(key, "").strip()
    if not text:
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _parse_info(path: Path, metadata: Mapping[str, str]) -> ModelInfo:
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ModelError(
            f"{path} is an ONNX model but not a PerfJam Performance RNN: metadata lacks "
            f"{', '.join(missing)} (export checkpoints with `python -m training.export_onnx`)"
        )
    if metadata["perfjam_format"] != FORMAT_VERSION:
        raise ModelError(
            f"{path} has PerfJam model format {metadata['perfjam_format']!r}; this version reads "
            f"{FORMAT_VERSION!r}"
        )
    try:
        vocab = vocab_by_name(metadata["vocab"])
        vocab_size = int(metadata["vocab_size"])
        layers = int(metadata["layers"])
        hidden = int(metadata["hidden"])
        control_size = int(metadata["control_size"])
        embedding = int(metadata["embedding"]) if metadata.get("embedding") else None
        layout_text = metadata.get("control_layout", "").strip()
        control_layout = json.loads(layout_text) if layout_text else None
        val_nll = _optional_float(metadata, "val_nll")
        test_nll = _optional_float(metadata, "test_nll")
        val_nll_grammar = _optional_float(metadata, "val_nll_grammar")
        test_nll_grammar = _optional_float(metadata, "test_nll_grammar")
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ModelError(f"{path} has malformed PerfJam metadata: {exc}") from None
    if vocab_size != vocab.size:
        raise ModelError(
            f"{path}: vocab_size {vocab_size} does not match vocabulary {vocab.name!r} ({vocab.size})"
        )
    if not (1 <= layers <= MAX_LAYERS and 1 <= hidden <= MAX_HIDDEN
            and 0 <= control_size <= MAX_CONTROL_SIZE):
        raise ModelError(f"{path}: invalid sizes layers={layers} hidden={hidden} control_size={control_size} "
                         f"(at most {MAX_LAYERS} layers of {MAX_HIDDEN}, {MAX_CONTROL_SIZE} controls)")
    return ModelInfo(
        name=metadata.get("name") or path.name.removesuffix(MODEL_SUFFIX),
        path=path,
        vocab=vocab,
        layers=layers,
        hidden=hidden,
        embedding=embedding,
        control_size=control_size,
        control_layout=control_layout or None,
        val_nll=val_nll,
        test_nll=test_nll,
        quantized=metadata.get("quantized", "false").lower() == "true",
        metadata=dict(metadata),
        val_nll_grammar=val_nll_grammar,
        test_nll_grammar=test_nll_grammar,
    )


def _check_signature(session: ort.InferenceSession, info: ModelInfo) -> None:
    """Input/output names, element types and static shapes must match the contract."""
    state_shape = [info.layers, 1, info.hidden]
    inputs = {
        "token": ("tensor(int64)", [1]),
        "h": ("tensor(float)", state_shape),
        "c": ("tensor(float)", state_shape),
    }
    if info.has_controls:
        inputs["control"] = ("tensor(float)", [1, info.control_size])
    outputs = {
        "logits": ("tensor(float)", [1, info.vocab.size]),
        "h_out": ("tensor(float)", state_shape),
        "c_out": ("tensor(float)", state_shape),
    }
    for kind, expected, actual in (
        ("input", inputs, session.get_inputs()),
        ("output", outputs, session.get_outputs()),
    ):
        names = {a.name for a in actual}
        if names != set(expected):
            raise ModelError(
                f"{info.path}: {kind}s are {sorted(names)}, expected {sorted(expected)} for "
                f"a model with control_size={info.control_size}"
            )
        for arg in actual:
            element_type, shape = expected[arg.name]
            # Static dimensions only, equal to the metadata's: the state buffers are sized from it,
            # so a graph with symbolic dimensions could declare any size (hidden=2e8: 6 GB).
            dims_ok = len(arg.shape) == len(shape) and all(
                isinstance(d, int) and d == want for d, want in zip(arg.shape, shape, strict=True)
            )
            if arg.type != element_type or not dims_ok:
                raise ModelError(
                    f"{info.path}: {kind} {arg.name!r} is {arg.type} {arg.shape}, "
                    f"expected {element_type} {shape} (static)"
                )


class PerformanceModel:
    """One ONNX Performance RNN with its recurrent state; not thread-safe (one owner thread)."""

    def __init__(self, session: ort.InferenceSession, info: ModelInfo) -> None:
        self.session = session
        self.info = info
        state_shape = (info.layers, 1, info.hidden)
        # Two state buffer pairs: a step reads pair `_current` and writes the other one.
        self._h = (np.zeros(state_shape, np.float32), np.zeros(state_shape, np.float32))
        self._c = (np.zeros(state_shape, np.float32), np.zeros(state_shape, np.float32))
        self._token = np.zeros(1, np.int64)
        self._control = np.zeros((1, info.control_size), np.float32) if info.has_controls else None
        self._logits = np.zeros((1, info.vocab.size), np.float32)
        self._current = 0
        self._bindings = [self._bind(i) for i in (0, 1)]

    @classmethod
    def load(cls, path_or_name: str | Path) -> PerformanceModel:
        path = find_model(path_or_name)
        try:
            session = ort.InferenceSession(str(path), _session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path} is not a loadable ONNX model: {first_line}") from None
        info = _parse_info(path, session.get_modelmeta().custom_metadata_map)
        _check_signature(session, info)
        return cls(session, info)

    def _bind(self, source: int) -> ort.IOBinding:
        target = 1 - source
        binding = self.session.io_binding()
        value = ort.OrtValue.ortvalue_from_numpy
        binding.bind_ortvalue_input("token", value(self._token))
        binding.bind_ortvalue_input("h", value(self._h[source]))
        binding.bind_ortvalue_input("c", value(self._c[source]))
        if self._control is not None:
            binding.bind_ortvalue_input("control", value(self._control))
        binding.bind_ortvalue_output("logits", value(self._logits))
        binding.bind_ortvalue_output("h_out", value(self._h[target]))
        binding.bind_ortvalue_output("c_out", value(self._c[target]))
        return binding

    @property
    def vocab(self) -> Vocab:
        return self.info.vocab

    def reset(self) -> None:
        """Back to the zero state (as at the start of every training sequence)."""
        self._h[self._current].fill(0.0)
        self._c[self._current].fill(0.0)

    def warm_up(self, control: np.ndarray | None = None) -> None:
        """A few steps, then the zero state again: onnxruntime's first runs are slow (a live
        engine warms a model up before it plays). ``control`` None: play freely."""
        if control is None:
            control = requested_control(self.info.control_size)
        for _ in range(5):
            self.step(0, control)
        self.reset()

    def snapshot(self) -> ModelState:
        return ModelState(self._h[self._current].copy(), self._c[self._current].copy())

    def restore(self, state: ModelState) -> None:
        np.copyto(self._h[self._current], state.h)
        np.copyto(self._c[self._current], state.c)

    def step(self, token: int, control: np.ndarray | None = None) -> np.ndarray:
        """Feed one event; returns the logits [vocab] of the next event and advances the state.

        A conditioned model needs ``control`` (a [control_size] vector, see ``perfjam.controls``)
        at every step; an unconditioned model takes none. Logits that are not all finite (a model
        with broken weights) raise ``ModelError`` and leave the state as it was before the step.
        """
        if not 0 <= token < self.info.vocab.size:
            raise ValueError(f"event index {token} outside 0..{self.info.vocab.size - 1}")
        if self._control is not None:
            if control is None:
                raise ValueError(f"model {self.info.name!r} is conditioned: pass a control vector")
            # numpy checks the shape; a model without the no-control flag takes today's vectors
            self._control[0] = fit_control(control, self.info.control_size)
        elif control is not None:
            raise ValueError(f"model {self.info.name!r} takes no control vector")
        self._token[0] = token
        self.session.run_with_iobinding(self._bindings[self._current])
        if not np.isfinite(self._logits).all():  # ~3 µs; the state stays as it was before the step
            raise ModelError(f"model {self.info.name!r} ({self.info.path}) gave non-finite logits (NaN or "
                             f"infinity) after event {token}: its weights are broken; use another model")
        self._current = 1 - self._current
        return self._logits[0].copy()
