"""Where and how the trainer computes: the device, the process group under torchrun, the autocast
dtype, and batches moved onto the device."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from training.dataset import Batch

IGNORE = -100  # target of a padding position


@dataclass(frozen=True)
class Runtime:
    rank: int  # 0 logs, evaluates and saves
    world_size: int
    device: torch.device


def setup_runtime(device_arg: str) -> Runtime:
    """The device and, under torchrun, the process group."""
    world_size, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = device_arg == "cuda" or (device_arg == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world_size > 1:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Runtime(rank, world_size, device)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. CPU: bf16 only where the CPU computes it natively."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if device.type == "cpu" and dtype is not None:
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return torch.bfloat16 if dtype == torch.bfloat16 and native else None
    return dtype



def to_device(batch: Batch, runtime: Runtime, conditioned: bool):
    """(inputs, targets, controls, masks) tensors; padding targets are IGNORE."""
    pin = runtime.device.type == "cuda"
    tokens = torch.from_numpy(batch.tokens)
    tokens = (tokens.pin_memory() if pin else tokens).to(runtime.device, non_blocking=True)
    lengths = torch.from_numpy(batch.lengths).to(runtime.device, non_blocking=True)
    inputs, targets = tokens[:, :-1], tokens[:, 1:].clone()
    positions = torch.arange(targets.shape[1], device=runtime.device)
    targets[positions[None, :] + 1 >= lengths[:, None]] = IGNORE
    controls = masks = None
    if conditioned:  # the control of the event each input predicts
        controls = torch.from_numpy(batch.controls[:, 1:]).to(runtime.device, non_blocking=True)
    if batch.masks is not None:  # the grammar's allowed set of each target
        masks = torch.from_numpy(batch.masks).to(runtime.device, non_blocking=True)
    return inputs, targets, controls, masks
