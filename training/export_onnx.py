"""Export a training checkpoint to the app's single-step ONNX graph (and optionally int8).

    python -m training.export_onnx --checkpoint runs/NAME/best.pt --out assets/models/NAME.onnx \
        [--name NAME] [--test-nll X [--test-nll-grammar Y]] \
        [--int8 [--nll-data data/NAME | --nll-midi-dir DIR [--split-csv F]]]

The graph is ``PerformanceRNN.step`` (inputs ``token``, ``h``, ``c`` [+ ``control``]; outputs
``logits``, ``h_out``, ``c_out``), exported by the TorchScript exporter at opset 17, which gives
one native LSTM node per layer with the weights as initializers. The PerfJam metadata of
``docs/ARCHITECTURE.md`` goes into ``metadata_props``, with ``grammar_loss`` ("true"/"false":
whether the run trained with the grammar-masked loss, ``train_args["grammar_loss"]``; the app
picks its grammar mode from it) and the grammar NLLs ``val_nll_grammar``/``test_nll_grammar``
next to ``val_nll``/``test_nll``. After writing, the file is loaded
through ``perfjam.model`` (the app's path) and stepped against torch for 200 events of a random
token walk from the zero state; a max |logit difference| above 1e-4 removes the file and exits 1.

``--int8`` also writes ``NAME.int8.onnx`` with onnxruntime's dynamic quantization (QInt8
weights, same metadata with ``quantized=true``), checks that it loads, reports its logit
deviation from fp32 and, given evaluation data, the NLL it costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from perfjam.controls import control_vector, layout_for
from perfjam.model import FORMAT_VERSION, PerformanceModel
from training.checkpoint import read_checkpoint
from training.model import ModelConfig, PerformanceRNN
from training.validation import describe as describe_scope

OPSET = 17
PARITY_STEPS = 200
PARITY_TOLERANCE = 1e-4


class _StepGraph(nn.Module):
    """``PerformanceRNN.step`` with a fixed argument list for the exporter."""

    def __init__(self, model: PerformanceRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor, *control: torch.Tensor):
        return self.model.step(token, h, c, control[0] if control else None)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    parity_max_abs_logit: float
    int8_path: Path | None = None
    int8_size_bytes: int | None = None
    int8_max_abs_logit_vs_fp32: float | None = None


def load_checkpoint(path: str | Path) -> tuple[PerformanceRNN, dict]:
    """The model (eval mode, CPU) and the raw checkpoint dict."""
    checkpoint = read_checkpoint(path)  # weights and plain data only: never runs code from the file
    model = PerformanceRNN(ModelConfig.from_dict(checkpoint["config"]))
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint


def write_random_checkpoint(path: str | Path, config: ModelConfig, seed: int = 0) -> Path:
    """A randomly initialised checkpoint in the training format (for tests and benchmarks)."""
    torch.manual_seed(seed)
    model = PerformanceRNN(config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"config": config.to_dict(), "model": model.state_dict(), "step": 0, "epoch": 0, "tokens_seen": 0},
        path,
    )
    return path


def _format_float(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def grammar_loss_of(checkpoint: Mapping) -> bool:
    """Whether the checkpoint's run trained with the grammar-masked loss."""
    train_args = checkpoint.get("train_args") or {}
    if not isinstance(train_args, Mapping):  # an argparse.Namespace
        train_args = vars(train_args)
    return bool(train_args.get("grammar_loss", False))


def build_metadata(
    model: PerformanceRNN,
    checkpoint: Mapping,
    name: str,
    test_nll: float | None = None,
    quantized: bool = False,
    source: str = "",
    test_nll_grammar: float | None = None,
) -> dict[str, str]:
    """The ``metadata_props`` of an exported model; every value is a string."""
    config = model.config
    # The whole-file score when the run ended with one, else the training-time (prefix) score;
    # ``val_scope`` says which (training.validation).
    full = checkpoint.get("val_nll_full") is not None
    val_nll = checkpoint["val_nll_full"] if full else checkpoint.get("val_nll")
    val_nll = checkpoint.get("best_val_nll") if val_nll is None else val_nll
    val_nll_grammar = checkpoint.get("val_nll_full_grammar" if full else "val_nll_grammar")
    val_scope = checkpoint.get("val_full_scope" if full else "val_scope")
    # The trainer records the layout it used; older checkpoints: the one of their control size.
    layout = checkpoint.get("control_layout")
    if not layout and config.control_size:
        layout = layout_for(config.control_size)
    metadata = {
        "perfjam_format": FORMAT_VERSION,
        "name": name,
        "vocab": config.vocab,
        "vocab_size": str(config.vocab_size),
        "layers": str(config.layers),
        "hidden": str(config.hidden),
        "embedding": str(config.embedding),
        "control_size": str(config.control_size),
        "control_layout": json.dumps(layout) if config.control_size else "",
        "val_nll": _format_float(val_nll),
        "val_scope": describe_scope(val_scope) if val_scope else "",
        "test_nll": _format_float(test_nll),
        "val_nll_grammar": _format_float(val_nll_grammar),
        "test_nll_grammar": _format_float(test_nll_grammar),
        "grammar_loss": "true" if grammar_loss_of(checkpoint) else "false",
        "quantized": "true" if quantized else "false",
        "parameters": str(model.num_parameters()),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
    }
    if source:
        metadata["source_checkpoint"] = source
    if checkpoint.get("precision"):
        metadata["train_precision"] = str(checkpoint["precision"])
    for key, meta_key in (("step", "steps"), ("tokens_seen", "tokens_seen")):
        if checkpoint.get(key) is not None:
            metadata[meta_key] = str(int(checkpoint[key]))
    for key, meta_key in (("epoch", "epochs"), ("elapsed_s", "train_elapsed_s")):
        if checkpoint.get(key) is not None:  # fractional epochs are normal
            metadata[meta_key] = f"{float(checkpoint[key]):.4g}"
    return metadata


def set_metadata(path: Path, metadata: Mapping[str, str]) -> None:
    """Replace the metadata of an ONNX file, keeping any other keys (e.g. the quantizer's)."""
    proto = onnx.load(str(path))
    kept = {p.key: p.value for p in proto.metadata_props if p.key not in metadata}
    del proto.metadata_props[:]
    for key, value in {**kept, **metadata}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    proto.doc_string = f"PerfJam Performance RNN {metadata.get('name', '')}".strip()
    onnx.save(proto, str(path))


def export_model(model: PerformanceRNN, out_path: str | Path, metadata: Mapping[str, str]) -> Path:
    """Write the single-step graph of ``model`` with ``metadata`` to ``out_path``."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    config = model.config
    model = model.eval()
    h, c = model.zero_state(1)
    args: tuple[torch.Tensor, ...] = (torch.zeros(1, dtype=torch.int64), h, c)
    input_names = ["token", "h", "c"]
    if config.control_size:
        args += (torch.zeros(1, config.control_size),)
        input_names.append("control")
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns about itself and about LSTM batch sizes (ours is fixed at 1).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _StepGraph(model),
            args,
            str(out_path),
            dynamo=False,
            opset_version=OPSET,
            input_names=input_names,
            output_names=["logits", "h_out", "c_out"],
            do_constant_folding=True,
        )
    set_metadata(out_path, metadata)
    return out_path


def _random_control(rng: np.random.Generator) -> np.ndarray:
    return control_vector(float(rng.uniform(0.0, 40.0)), rng.random(12))


def max_logit_difference(
    reference: PerformanceRNN | Path, candidate: Path, steps: int = PARITY_STEPS, seed: int = 0
) -> float:
    """Max |logit difference| over a random token walk from the zero state.

    ``reference`` is a torch model or another ONNX file; ``candidate`` is loaded through
    ``perfjam.model`` exactly as the app loads it.
    """
    onnx_model = PerformanceModel.load(candidate)
    other = PerformanceModel.load(reference) if isinstance(reference, Path) else None
    vocab_size = onnx_model.info.vocab.size
    rng = np.random.default_rng(seed)
    worst = 0.0
    h = c = None
    if isinstance(reference, PerformanceRNN):
        h, c = reference.eval().zero_state(1)
    with torch.no_grad():
        for _ in range(steps):
            token = int(rng.integers(vocab_size))
            control = _random_control(rng) if onnx_model.info.has_controls else None
            got = onnx_model.step(token, control)
            if other is not None:
                want = other.step(token, control)
            else:
                torch_control = torch.from_numpy(control).view(1, -1) if control is not None else None
                logits, h, c = reference.step(torch.tensor([token]), h, c, torch_control)
                want = logits[0].numpy()
            worst = max(worst, float(np.max(np.abs(got - want))))
    return worst


def int8_path_for(path: Path) -> Path:
    name = path.name.removesuffix(".onnx")
    return path.with_name(f"{name}.int8.onnx")


def quantize_int8(fp32_path: Path, out_path: Path) -> Path:
    """Dynamic QInt8 quantization (LSTM, MatMul and embedding weights); metadata kept, quantized=true."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a pre-processing hint at WARNING on the root logger
    try:
        quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    metadata = {p.key: p.value for p in onnx.load(str(fp32_path)).metadata_props}
    set_metadata(out_path, {**metadata, "quantized": "true"})
    PerformanceModel.load(out_path)  # raises ModelError if it does not load
    return out_path


def export_checkpoint(
    checkpoint_path: str | Path,
    out_path: str | Path,
    name: str | None = None,
    test_nll: float | None = None,
    int8: bool = False,
    tolerance: float = PARITY_TOLERANCE,
    test_nll_grammar: float | None = None,
) -> ExportResult:
    """Export, check parity (raises ``ValueError`` after removing the file if it fails), quantize."""
    out_path = Path(out_path)
    model, checkpoint = load_checkpoint(checkpoint_path)
    name = name or out_path.name.removesuffix(".onnx")
    source = "/".join(Path(checkpoint_path).parts[-2:])  # runs/NAME/best.pt -> NAME/best.pt
    metadata = build_metadata(model, checkpoint, name, test_nll, source=source,
                              test_nll_grammar=test_nll_grammar)
    export_model(model, out_path, metadata)
    parity = max_logit_difference(model, out_path)
    if not parity <= tolerance:
        out_path.unlink(missing_ok=True)
        raise ValueError(
            f"ONNX/torch parity failed: max |Δlogit| {parity:.3g} > {tolerance:g}; removed {out_path}"
        )
    result = ExportResult(out_path, out_path.stat().st_size, parity)
    if int8:
        q_path = quantize_int8(out_path, int8_path_for(out_path))
        result = ExportResult(
            out_path,
            result.size_bytes,
            parity,
            q_path,
            q_path.stat().st_size,
            max_logit_difference(out_path, q_path),
        )
    return result


def _int8_nll_report(args: argparse.Namespace, fp32: Path, int8: Path) -> dict:
    from training.scoring import load_eval_sequences, onnx_nll

    model = PerformanceModel.load(fp32)
    sequences = load_eval_sequences(
        model.info.vocab,
        midi_dir=args.nll_midi_dir,
        split_csv=args.split_csv,
        split=args.nll_split,
        data_dir=args.nll_data,
        limit=args.nll_limit,
        max_events=args.nll_max_events,
    )
    nll_fp32 = onnx_nll(model, sequences)
    nll_int8 = onnx_nll(PerformanceModel.load(int8), sequences)
    return {
        "files": len(sequences),
        "events": nll_fp32.events,
        "nll_fp32": nll_fp32.mean,
        "nll_int8": nll_int8.mean,
        "nll_cost_int8": nll_int8.mean - nll_fp32.mean,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.export_onnx", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, type=Path, help="runs/NAME/best.pt")
    p.add_argument("--out", required=True, type=Path, help="assets/models/NAME.onnx")
    p.add_argument("--name", help="model name in the metadata (default: the file name)")
    p.add_argument("--test-nll", type=float, help="test-set NLL (nats/event) to record in the metadata")
    p.add_argument("--test-nll-grammar", type=float,
                   help="test-set NLL under the grammar (training.evaluate's nll_per_event_grammar)")
    p.add_argument("--int8", action="store_true", help="also write NAME.int8.onnx (dynamic QInt8)")
    data = p.add_argument_group("int8 NLL cost (with --int8)")
    data.add_argument("--nll-data", type=Path, help="a prepared data directory (data/NAME)")
    data.add_argument("--nll-midi-dir", type=Path, help="a directory of MIDI files")
    data.add_argument("--split-csv", type=Path, help="CSV with midi_filename and split columns")
    data.add_argument("--nll-split", default="test", help="split to score (default: test)")
    data.add_argument("--nll-limit", type=int, default=5, help="files to score (default: 5)")
    data.add_argument("--nll-max-events", type=int, default=5000, help="events per file (default: 5000)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = export_checkpoint(args.checkpoint, args.out, args.name, args.test_nll, args.int8,
                                   test_nll_grammar=args.test_nll_grammar)
    except (ValueError, FileNotFoundError) as exc:
        print(f"export_onnx: {exc}", file=sys.stderr)
        return 1
    report: dict = {
        "out": str(result.path),
        "size_bytes": result.size_bytes,
        "parity_max_abs_logit": result.parity_max_abs_logit,
    }
    if result.int8_path is not None:
        report |= {
            "int8_out": str(result.int8_path),
            "int8_size_bytes": result.int8_size_bytes,
            "int8_max_abs_logit_vs_fp32": result.int8_max_abs_logit_vs_fp32,
        }
        if args.nll_data or args.nll_midi_dir:
            report["int8_nll"] = _int8_nll_report(args, result.path, result.int8_path)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
