"""Layers several deep models share. Every one maps a window that ends at bar t to something computed from that
window alone: convolutions pad on the left only, moving averages and decompositions replicate the window's own
first value at the front, normalisation uses the window's own statistics. Shapes in comments.

The classes are built by :func:`layer_classes` on first use, so importing this module does not import torch.
"""

from __future__ import annotations

import functools
import math


@functools.cache
def layer_classes():
    import torch
    from torch import nn

    class WithInstanceNorm(nn.Module):
        """Reversible-instance-norm style input normalisation (RevIN's first half): each channel of each window
        centred on its mean and scaled by its std over the window, with a learnt affine map. Classification
        needs no de-normalisation, so only the forward half is kept."""

        def __init__(self, net: nn.Module, eps: float = 1e-5):
            super().__init__()
            self.net = net
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(1))
            self.bias = nn.Parameter(torch.zeros(1))

        def forward(self, x):  # (B, L, C)
            mean = x.mean(dim=1, keepdim=True)
            std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)
            return self.net((x - mean) / std * self.weight + self.bias)

    class CausalConv1d(nn.Conv1d):
        """A 1-D convolution padded on the left only: output t reads inputs t - (k - 1) * dilation .. t."""

        def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1):
            super().__init__(c_in, c_out, kernel, dilation=dilation)
            self.left = (kernel - 1) * dilation

        def forward(self, x):  # (B, C, L) -> (B, C_out, L)
            return super().forward(nn.functional.pad(x, (self.left, 0)))

    class MovingAverage(nn.Module):
        """Trailing moving average over ``kernel`` steps of each channel, the window's first value repeated in
        front so every output has a full average and nothing after a step enters it."""

        def __init__(self, kernel: int):
            super().__init__()
            self.kernel = kernel
            self.pool = nn.AvgPool1d(kernel, stride=1)

        def forward(self, x):  # (B, L, C) -> (B, L, C)
            front = x[:, :1, :].expand(-1, self.kernel - 1, -1)
            padded = torch.cat([front, x], dim=1).transpose(1, 2)  # (B, C, L + k - 1)
            return self.pool(padded).transpose(1, 2)

    class SeriesDecomposition(nn.Module):
        """(seasonal, trend): the trend is the trailing moving average, the seasonal part what is left."""

        def __init__(self, kernel: int):
            super().__init__()
            self.average = MovingAverage(kernel)

        def forward(self, x):  # (B, L, C) -> 2 x (B, L, C)
            trend = self.average(x)
            return x - trend, trend

    class SinusoidalPositions(nn.Module):
        """Fixed sine / cosine positional encoding added to (B, L, d)."""

        def __init__(self, d_model: int, max_len: int = 4096):
            super().__init__()
            pos = torch.arange(max_len).unsqueeze(1)
            div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(max_len, d_model)
            pe[:, 0::2] = torch.sin(pos * div)
            pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
            self.register_buffer("pe", pe, persistent=False)

        def forward(self, x):  # (B, L, d)
            return x + self.pe[: x.shape[1]].unsqueeze(0)

    class ClassHead(nn.Module):
        """Dropout and a linear map of a (B, ...) representation, flattened, to three logits."""

        def __init__(self, d_in: int, dropout: float):
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(d_in, 3)

        def forward(self, h):  # (B, ...) -> (B, 3)
            return self.out(self.drop(h.reshape(h.shape[0], -1)))

    return {cls.__name__: cls for cls in (WithInstanceNorm, CausalConv1d, MovingAverage, SeriesDecomposition,
                                           SinusoidalPositions, ClassHead)}


def __getattr__(name: str):
    """``from factory.models._torch.layers import CausalConv1d`` builds the classes (and imports torch) lazily."""
    classes = layer_classes()
    if name in classes:
        return classes[name]
    raise AttributeError(name)
