"""N-HiTS (Challu et al., 2023): N-BEATS stacks with multi-rate input pooling and hierarchical interpolation.

The paper forecasts one univariate target from its own past; here it classifies a window of ALL model inputs
(~196 scaled features per bar), adapted as follows:

* channel adapter: each bar's C inputs are mixed by one ``Linear(C -> signals)`` shared by every bar, giving
  ``signals`` learnt univariate series over the window, ``(B, L, k)``. Pooling over time needs a time axis,
  which a flattened ``L x C`` window would lose; and the blocks then read ``k`` series whatever C is.
* multi-rate input sampling: the block of stack s max-pools each series over non-overlapping runs of
  ``pool_kernels[s]`` bars of the window, ``(B, k, ceil(L / p))``. The runs are aligned on the window's LAST
  bar; where L is not a multiple of p the window is padded at its FRONT with copies of its first value (which
  leaves every maximum unchanged: that value is already in the first run), never past its end.
* block: the pooled series, flattened, go through ``layers`` ReLU layers of ``units``; a linear map gives the
  backcast at full resolution, ``(B, L, k)`` (as in neuralforecast, the authors' code), subtracted from the
  block's input (N-BEATS' doubly residual stacking), and the coarse forecast: ``max(horizon // f, 1)`` knots
  per series with ``f = freq_downsample[s]``, interpolated (``interpolation``, linear by default) to
  ``horizon`` steps: the hierarchical interpolation, coarse stacks first, the last one at full resolution.
* head: the "forecast" is a latent one, ``horizon`` steps of each of the k series (``d_out = signals *
  horizon``), summed over all blocks and sent through dropout and one linear layer to the 3 logits. Nothing is
  trained to forecast future bars; the sum is read as a multi-scale representation of the window.

Causal: pooling reads the window's own bars only and the interpolation acts on the block's output, never on
time beyond bar t; no normalisation across windows (``revin`` is the shared per-window instance norm). Dropout
is in the head only (neuralforecast's default ``dropout_prob_theta`` is 0).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class NHITSConfig(TorchConfig):
    pool_kernels: list[PositiveInt] = Field(default_factory=lambda: [4, 2, 1], min_length=1)  # one per stack
    freq_downsample: list[PositiveInt] = Field(default_factory=lambda: [4, 2, 1], min_length=1)  # one per stack
    blocks_per_stack: int = Field(1, ge=1)
    layers: int = Field(2, ge=1)  # fully connected ReLU layers per block
    units: int = Field(64, ge=1)
    signals: int = Field(8, ge=1)  # k: series mixed from the C inputs of each bar
    horizon: int = Field(8, ge=1)  # steps of the latent forecast per series (d_out = signals * horizon)
    interpolation: Literal["linear", "nearest"] = "linear"

    @model_validator(mode="after")
    def _check_shapes(self):
        if len(self.pool_kernels) != len(self.freq_downsample):
            raise ValueError(f"pool_kernels ({len(self.pool_kernels)}) and freq_downsample "
                             f"({len(self.freq_downsample)}) need one entry per stack each")
        if max(self.pool_kernels) > self.window:
            raise ValueError(f"pool_kernels ({max(self.pool_kernels)}) must not exceed window ({self.window})")
        return self


def pooled_length(window: int, kernel: int) -> int:
    """Values one series keeps after pooling runs of ``kernel`` bars (the front run padded when short)."""
    return math.ceil(window / kernel)


def n_knots(horizon: int, downsample: int) -> int:
    """Coarse forecast values per series before the interpolation (neuralforecast's ``max(h // f, 1)``)."""
    return max(horizon // downsample, 1)


def pool_window(x, kernel: int):
    """Max over runs of ``kernel`` bars aligned on the last bar: ``(B, k, L) -> (B, k, ceil(L / kernel))``.

    A short front run is filled with the window's first value, so every run holds bars of the window only.
    """
    import torch

    if kernel == 1:
        return x
    pad = pooled_length(x.shape[-1], kernel) * kernel - x.shape[-1]
    if pad:
        x = torch.cat([x[..., :1].expand(*x.shape[:-1], pad), x], dim=-1)  # (B, k, ceil(L / p) * p)
    return torch.nn.functional.max_pool1d(x, kernel, stride=kernel)


@register_model("nhits", family="ssm_mlp")
class NHITSModel(TorchWindowModel):
    """N-BEATS-like stacks, each pooling its input at its own rate and interpolating a coarse forecast."""

    Config = NHITSConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "pool_kernels": [4, 2, 1], "freq_downsample": [4, 2, 1], "units": 16,
                "signals": 4, "horizon": 4}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, list(c.pool_kernels), list(c.freq_downsample),
                          c.blocks_per_stack, c.layers, c.units, c.signals, c.horizon, c.interpolation, c.dropout)


@functools.cache
def _network():
    from torch import nn
    from torch.nn import functional as F

    from factory.models._torch.layers import ClassHead

    class Block(nn.Module):
        def __init__(self, window: int, signals: int, horizon: int, kernel: int, downsample: int, layers: int,
                     units: int, interpolation: str):
            super().__init__()
            self.window, self.signals, self.horizon, self.kernel = window, signals, horizon, kernel
            self.knots, self.interpolation = n_knots(horizon, downsample), interpolation
            fc: list[nn.Module] = []
            for i in range(layers):
                fc += [nn.Linear(signals * pooled_length(window, kernel) if i == 0 else units, units), nn.ReLU()]
            self.fc = nn.Sequential(*fc)
            self.theta = nn.Linear(units, window * signals + signals * self.knots)

        def forward(self, r):  # (B, L, k) -> backcast (B, L, k), forecast (B, k * H)
            b = r.shape[0]
            pooled = pool_window(r.transpose(1, 2), self.kernel)  # (B, k, ceil(L / p))
            theta = self.theta(self.fc(pooled.reshape(b, -1)))  # (B, L * k + k * knots)
            split = self.window * self.signals
            knots = theta[:, split:].reshape(b, self.signals, self.knots)  # (B, k, knots)
            forecast = F.interpolate(knots, size=self.horizon, mode=self.interpolation)  # (B, k, H)
            return theta[:, :split].reshape(b, self.window, self.signals), forecast.reshape(b, -1)

    class NHiTS(nn.Module):
        def __init__(self, n_in: int, window: int, kernels: list[int], downsample: list[int], blocks: int,
                     layers: int, units: int, signals: int, horizon: int, interpolation: str, dropout: float):
            super().__init__()
            self.adapter = nn.Linear(n_in, signals)
            self.blocks = nn.ModuleList(
                Block(window, signals, horizon, p, f, layers, units, interpolation)
                for p, f in zip(kernels, downsample) for _ in range(blocks))
            self.head = ClassHead(signals * horizon, dropout)

        def forward(self, x):  # (B, L, C)
            residual = self.adapter(x)  # (B, L, k)
            forecast = 0
            for block in self.blocks:  # stacks in order, coarse to fine
                backcast, f = block(residual)  # (B, L, k), (B, k * H)
                residual = residual - backcast
                forecast = forecast + f
            return self.head(forecast)  # (B, k * H) -> (B, 3)

    return NHiTS
