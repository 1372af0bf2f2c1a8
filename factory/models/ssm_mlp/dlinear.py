"""DLinear (Zeng et al., 2023): a series decomposition and one linear map over time per part.

Each channel of the window is split into a trend (trailing moving average of ``kernel`` bars, causal within the
window) and a seasonal remainder; a linear map over the window's time axis acts on each (shared by the channels,
or one per channel with ``individual``); their sum, flattened over channels and time, goes to the classification
head (Time-Series-Library's classification variant). Every model input is a channel.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class DLinearConfig(TorchConfig):
    kernel: int = Field(25, ge=1)
    individual: bool = False


@register_model("dlinear", family="ssm_mlp")
class DLinearModel(TorchWindowModel):
    """Trend / seasonal decomposition with linear maps over time."""

    Config = DLinearConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "kernel": 3}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, min(c.kernel, c.window), c.individual, c.dropout)


@functools.cache
def _network():
    import torch
    from torch import nn

    from factory.models._torch.layers import ClassHead, SeriesDecomposition

    class DLinear(nn.Module):
        def __init__(self, n_in: int, window: int, kernel: int, individual: bool, dropout: float):
            super().__init__()
            self.decompose = SeriesDecomposition(kernel)
            self.individual = individual
            if individual:  # one map per channel: weights (C, L, L)
                self.seasonal = nn.Parameter(torch.full((n_in, window, window), 1.0 / window))
                self.trend = nn.Parameter(torch.full((n_in, window, window), 1.0 / window))
            else:
                self.seasonal_map = nn.Linear(window, window)
                self.trend_map = nn.Linear(window, window)
            self.head = ClassHead(n_in * window, dropout)

        def forward(self, x):  # (B, L, C)
            seasonal, trend = self.decompose(x)
            s, t = seasonal.transpose(1, 2), trend.transpose(1, 2)  # (B, C, L)
            if self.individual:
                out = torch.einsum("bcl,clm->bcm", s, self.seasonal) + torch.einsum("bcl,clm->bcm", t, self.trend)
            else:
                out = self.seasonal_map(s) + self.trend_map(t)  # (B, C, L)
            return self.head(out)

    return DLinear
