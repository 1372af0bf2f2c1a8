"""LSTM (Hochreiter and Schmidhuber, 1997): a unidirectional LSTM over the window, the last hidden state to the head.

All model inputs enter as channels; ``layers`` stacked layers of ``hidden`` units, dropout between them.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class LSTMConfig(TorchConfig):
    hidden: int = Field(64, ge=1)
    layers: int = Field(1, ge=1)


@register_model("lstm", family="recurrent_conv")
class LSTMModel(TorchWindowModel):
    """Unidirectional LSTM; reads the window oldest first."""

    Config = LSTMConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "hidden": 8}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.hidden, c.layers, c.dropout)


@functools.cache
def _network():
    from torch import nn

    from factory.models._torch.layers import ClassHead

    class LSTM(nn.Module):
        def __init__(self, n_in: int, hidden: int, layers: int, dropout: float):
            super().__init__()
            self.rnn = nn.LSTM(n_in, hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
            self.head = ClassHead(hidden, dropout)

        def forward(self, x):  # (B, L, C)
            out, _ = self.rnn(x)  # (B, L, hidden)
            return self.head(out[:, -1])

    return LSTM
