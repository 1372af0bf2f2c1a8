"""Autoformer (Wu et al., 2021): an encoder of auto-correlation layers with series decomposition blocks.

The model inputs of each bar (every one of them a channel, ~196 scaled features) are embedded by a plain linear
map ``C -> d_model`` (no bias, no positions: Time-Series-Library's ``DataEmbedding_wo_pos`` without time
features), then dropout. Autoformer's own token embedding is a width-3 convolution over time with CIRCULAR
padding, which wraps the window's end onto its start; the linear map reads one bar at a time instead.

Each of ``layers`` encoder layers is

* auto-correlation in place of self-attention: queries, keys and values are linear maps split into ``n_heads``;
  the FFT gives every lag's correlation ``R(tau) = sum_t q(t + tau) k(t)`` (circular within the window), averaged
  over heads and channels of each window; the top ``int(factor * ln window)`` lags of that window are kept and
  the values, rolled back by each lag (circular WITHIN the window), are summed with the softmax of their
  correlations as weights (time-delay aggregation), then an output projection;
* residual, then a series decomposition keeping the seasonal part; a position-wise feed-forward (two 1x1
  convolutions without bias, GELU, dropout), residual, a second decomposition keeping the seasonal part;

and the encoder ends with Autoformer's seasonal LayerNorm (a LayerNorm minus its mean over the window). The
classification head is Time-Series-Library's: GELU, dropout, flatten ``window x d_model``, one linear layer to
three logits. As there, the classifier has no decoder and the input is not decomposed before the encoder.

Deviations from the published code:

* the decomposition's moving average (``moving_avg`` bars) is the trailing one of the shared
  ``SeriesDecomposition`` (the window's first value repeated at its front) instead of Autoformer's centred one,
  which pads the end with copies of the last value;
* the lags are chosen per window in training as well: Time-Series-Library's training path averages the
  correlations over the batch, so a batch shares its lags and a window's output depends on its batch-mates; its
  inference path (per window) is used always, so training and inference compute the same function. Ties go to
  the shorter lag (a stable sort).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from pydantic import Field, model_validator

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class AutoformerConfig(TorchConfig):
    d_model: int = Field(16, ge=1)
    n_heads: int = Field(2, ge=1)
    layers: int = Field(1, ge=1)  # encoder layers
    d_ff: int = Field(32, ge=1)
    moving_avg: int = Field(7, ge=1)  # bars of the decomposition's trailing moving average
    factor: int = Field(1, ge=1)  # lags kept: int(factor * ln window)

    @model_validator(mode="after")
    def _check_shapes(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if n_lags(self.window, self.factor) < 1:
            raise ValueError(f"factor * ln(window) = {self.factor} * ln({self.window}) keeps no lag: "
                             "use a longer window or a larger factor")
        return self


def n_lags(length: int, factor: int) -> int:
    """Lags the time-delay aggregation keeps: ``int(factor * ln length)`` (at most ``length``)."""
    return min(length, int(factor * math.log(length)))


def lag_correlations(q, k):
    """Mean auto-correlation of every lag of each window: ``q, k (B, L, H, E)`` -> ``(B, L)``, entry ``tau``
    ``= mean over heads and channels of sum_t q(t + tau) k(t)`` (indices modulo L: circular in the window)."""
    import torch

    if q.dtype in (torch.float16, torch.bfloat16):  # the FFT needs float32 or float64
        q, k = q.float(), k.float()
    length = q.shape[1]
    qf = torch.fft.rfft(q.permute(0, 2, 3, 1), dim=-1)  # (B, H, E, L // 2 + 1)
    kf = torch.fft.rfft(k.permute(0, 2, 3, 1), dim=-1)
    corr = torch.fft.irfft(qf * torch.conj(kf), n=length, dim=-1)  # (B, H, E, L)
    return corr.mean(dim=(1, 2))


def top_lags(corr, n: int):
    """The ``n`` lags of highest correlation of each window and their correlations: ``(B, L)`` ->
    ``lags (B, n)`` (long), ``weights (B, n)``; ties go to the shorter lag."""
    import torch

    lags = torch.sort(corr, dim=1, descending=True, stable=True).indices[:, :n]
    return lags, corr.gather(1, lags)


def delay_aggregate(v, lags, weights):
    """Time-delay aggregation: ``sum_i softmax(weights)_i * v(t + lag_i)`` (circular in the window), per window.

    ``v (B, L, H, E)``, ``lags, weights (B, n)`` -> ``(B, L, H, E)``."""
    import torch

    b, length, h, e = v.shape
    share = torch.softmax(weights, dim=1)  # (B, n)
    doubled = torch.cat([v, v], dim=1)  # (B, 2L, H, E): row t + lag for every t < L, lag < L
    steps = torch.arange(length, device=v.device)
    out = 0
    for i in range(lags.shape[1]):
        rows = (steps[None, :] + lags[:, i:i + 1])[:, :, None, None].expand(b, length, h, e)  # (B, L, H, E)
        out = out + torch.gather(doubled, 1, rows) * share[:, i, None, None, None]
    return out


@register_model("autoformer", family="attention")
class AutoformerModel(TorchWindowModel):
    """Auto-correlation encoder with series decomposition, flattened to a linear head."""

    Config = AutoformerConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 16, "moving_avg": 3}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, c.d_model, c.n_heads, c.layers, c.d_ff, c.moving_avg, c.factor,
                          c.dropout)


@functools.cache
def _network():
    from torch import nn

    from factory.models._torch.layers import ClassHead, SeriesDecomposition

    class AutoCorrelation(nn.Module):
        def __init__(self, d_model: int, n_heads: int, factor: int):
            super().__init__()
            self.heads, self.factor = n_heads, factor
            self.query = nn.Linear(d_model, d_model)
            self.key = nn.Linear(d_model, d_model)
            self.value = nn.Linear(d_model, d_model)
            self.out = nn.Linear(d_model, d_model)

        def forward(self, x):  # (B, L, D)
            b, length, d = x.shape
            q, k, v = (f(x).reshape(b, length, self.heads, -1) for f in (self.query, self.key, self.value))
            lags, weights = top_lags(lag_correlations(q, k), n_lags(length, self.factor))  # (B, n) each
            return self.out(delay_aggregate(v, lags, weights).reshape(b, length, d))

    class EncoderLayer(nn.Module):
        def __init__(self, d_model: int, n_heads: int, d_ff: int, moving_avg: int, factor: int, dropout: float):
            super().__init__()
            self.attention = AutoCorrelation(d_model, n_heads, factor)
            self.ff = nn.Sequential(nn.Linear(d_model, d_ff, bias=False), nn.GELU(), nn.Dropout(dropout),
                                    nn.Linear(d_ff, d_model, bias=False), nn.Dropout(dropout))
            self.decomp1 = SeriesDecomposition(moving_avg)
            self.decomp2 = SeriesDecomposition(moving_avg)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):  # (B, L, D)
            x, _ = self.decomp1(x + self.drop(self.attention(x)))  # the seasonal part goes on
            x, _ = self.decomp2(x + self.ff(x))
            return x

    class SeasonalLayerNorm(nn.Module):
        """Autoformer's ``my_Layernorm``: a LayerNorm, then each channel centred on its mean over the window."""

        def __init__(self, d_model: int):
            super().__init__()
            self.norm = nn.LayerNorm(d_model)

        def forward(self, x):  # (B, L, D)
            h = self.norm(x)
            return h - h.mean(dim=1, keepdim=True)

    class Autoformer(nn.Module):
        def __init__(self, n_in: int, window: int, d_model: int, n_heads: int, layers: int, d_ff: int,
                     moving_avg: int, factor: int, dropout: float):
            super().__init__()
            self.embed = nn.Linear(n_in, d_model, bias=False)
            self.drop = nn.Dropout(dropout)
            self.layers = nn.ModuleList([EncoderLayer(d_model, n_heads, d_ff, moving_avg, factor, dropout)
                                         for _ in range(layers)])
            self.norm = SeasonalLayerNorm(d_model)
            self.act = nn.GELU()
            self.head = ClassHead(window * d_model, dropout)

        def forward(self, x):  # (B, L, C)
            h = self.drop(self.embed(x))  # (B, L, d_model)
            for layer in self.layers:
                h = layer(h)
            return self.head(self.act(self.norm(h)))  # (B, L * d_model) -> (B, 3)

    Autoformer.AutoCorrelation = AutoCorrelation
    Autoformer.EncoderLayer = EncoderLayer
    return Autoformer
