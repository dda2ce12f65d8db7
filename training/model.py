"""The Performance RNN: an embedding, a stacked LSTM and a linear read-out.

Small and readable on purpose (in the spirit of nanoGPT's model.py). ``forward`` runs whole
sequences for training; ``step`` runs one event and is what ``training.export_onnx`` exports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from perfjam.controls import CONTROL_SIZE


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = 388
    vocab: str = "dynamics"  # perfjam.codec.events vocabulary name
    embedding: int = 256
    layers: int = 3
    hidden: int = 512
    dropout: float = 0.1
    control_size: int = 0  # 0: unconditioned; else concatenated to the embedding at every step

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [layers, batch, hidden]


class PerformanceRNN(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embedding)
        self.lstm = nn.LSTM(
            config.embedding + config.control_size,
            config.hidden,
            num_layers=config.layers,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def zero_state(self, batch: int, device: torch.device | str = "cpu") -> State:
        shape = (self.config.layers, batch, self.config.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def forward(
        self,
        tokens: torch.Tensor,  # [batch, time] int64
        controls: torch.Tensor | None = None,  # [batch, time, control_size]
        state: State | None = None,
    ) -> tuple[torch.Tensor, State]:
        x = self.drop(self.embed(tokens))
        if self.config.control_size:
            if controls is None:
                raise ValueError("this model is conditioned: pass controls")
            if controls.shape[-1] == self.config.control_size + 1 == CONTROL_SIZE:
                controls = controls[..., : self.config.control_size]  # predates the no-control flag (last)
            x = torch.cat([x, controls.to(x.dtype)], dim=-1)
        out, state = self.lstm(x, state)
        return self.head(self.drop(out)), state

    def step(
        self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor, control: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One event: token [1] int64, h/c [layers, 1, hidden], control [1, control_size]."""
        tokens = token.view(1, 1)
        controls = control.view(1, 1, -1) if control is not None else None
        logits, (h, c) = self.forward(tokens, controls, (h, c))
        return logits.view(1, -1), h, c

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
