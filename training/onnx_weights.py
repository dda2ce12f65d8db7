"""Model weights back from an exported ONNX Performance RNN (``--init-from`` a shipped model).

Reads the graph ``training.export_onnx`` writes: the embedding ``Gather``, one ``LSTM`` node per
layer (W [1, 4H, in], R [1, 4H, H], B [1, 8H], gates in ONNX order i, o, f, c) and the head
``MatMul`` [H, V] + ``Add``; or its dynamically quantized form (``DynamicQuantizeLSTM`` with W/R
transposed to [1, in, 4H], ``MatMulInteger``, quantized embedding), dequantized as
``(q - zero_point) * scale``. Returns a ``PerformanceRNN`` state dict (gates i, f, g, o).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from perfjam.codec.events import vocab_by_name
from perfjam.model import find_model
from training.model import ModelConfig

ONNX_TO_TORCH_GATES = (0, 2, 3, 1)  # torch's (i, f, g, o) are ONNX's chunks (i, f, c) = 0, 2, 3 and o = 1


class _Initializers:
    def __init__(self, graph: onnx.GraphProto) -> None:
        self.arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def get(self, name: str, scale: str | None = None, zero_point: str | None = None) -> np.ndarray:
        """A float array; a quantized initializer (``NAME_quantized``) is dequantized."""
        array = self.arrays[name]
        if array.dtype in (np.float32, np.float64):
            return array.astype(np.float32)
        base = name.removesuffix("_quantized")
        scale_a = self.arrays[scale or f"{base}_scale"].astype(np.float32)
        zero = self.arrays[zero_point or f"{base}_zero_point"].astype(np.float32)
        if scale_a.size > 1:  # per channel: along the last axis
            scale_a, zero = scale_a.reshape(1, 1, -1), zero.reshape(1, 1, -1)
        return (array.astype(np.float32) - zero) * scale_a


def _gates(w: np.ndarray, hidden: int) -> np.ndarray:
    """[4H, ...] in ONNX gate order -> torch gate order."""
    chunks = [w[i * hidden : (i + 1) * hidden] for i in range(4)]
    return np.concatenate([chunks[i] for i in ONNX_TO_TORCH_GATES])


def onnx_state_dict(name_or_path: str) -> tuple[ModelConfig, dict[str, torch.Tensor], dict]:
    """(the model's config, its weights, what to record about the source)."""
    path = find_model(name_or_path)
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    vocab = vocab_by_name(meta["vocab"])
    hidden, layers = int(meta["hidden"]), int(meta["layers"])
    config = ModelConfig(vocab_size=vocab.size, vocab=vocab.name, embedding=int(meta["embedding"]),
                         layers=layers, hidden=hidden, control_size=int(meta["control_size"]))
    init = _Initializers(proto.graph)
    weights: dict[str, np.ndarray] = {}
    lstm = [n for n in proto.graph.node if n.op_type in ("LSTM", "DynamicQuantizeLSTM")]
    if len(lstm) != layers:
        raise ValueError(f"{path}: {len(lstm)} LSTM nodes, metadata says {layers} layers")
    for layer, node in enumerate(lstm):
        if node.op_type == "LSTM":
            w, r = init.get(node.input[1])[0], init.get(node.input[2])[0]
        else:  # DynamicQuantizeLSTM: weights [1, in, 4H] with explicit scales and zero points
            w = init.get(node.input[1], node.input[8], node.input[9])[0].T
            r = init.get(node.input[2], node.input[10], node.input[11])[0].T
        b = init.get(node.input[3])[0]
        weights[f"lstm.weight_ih_l{layer}"] = _gates(w, hidden)
        weights[f"lstm.weight_hh_l{layer}"] = _gates(r, hidden)
        weights[f"lstm.bias_ih_l{layer}"] = _gates(b[: 4 * hidden], hidden)
        weights[f"lstm.bias_hh_l{layer}"] = _gates(b[4 * hidden :], hidden)
    gather = next(n for n in proto.graph.node if n.op_type == "Gather" and n.input[0] in init.arrays)
    weights["embed.weight"] = init.get(gather.input[0])
    head = next(n for n in proto.graph.node
                if n.op_type in ("MatMul", "MatMulInteger") and n.input[1] in init.arrays)
    zero_point = head.input[3] if head.op_type == "MatMulInteger" else None
    weights["head.weight"] = init.get(head.input[1], zero_point=zero_point).T
    add = next(n for n in proto.graph.node if n.op_type == "Add" and any(i in init.arrays for i in n.input))
    weights["head.bias"] = init.get(next(i for i in add.input if i in init.arrays))
    state = {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in weights.items()}
    info = {"path": str(path), "kind": "onnx", "quantized": meta.get("quantized", "false") == "true",
            "step": int(meta["steps"]) if meta.get("steps") else None, "name": meta.get("name"),
            "control_layout": json.loads(meta["control_layout"]) if meta.get("control_layout") else None}
    return config, state, info
