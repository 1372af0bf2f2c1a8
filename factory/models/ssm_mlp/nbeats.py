"""N-BEATS (Oreshkin et al., 2020): doubly residual stacks of fully connected blocks with backcast and forecast.

The paper forecasts one univariate target from its own past; here it classifies a window of ALL model inputs
(~196 scaled features per bar), adapted as follows:

* channel adapter: each bar's C inputs are mixed by one ``Linear(C -> signals)`` shared by every bar, giving
  ``signals`` learnt univariate series over the window, ``(B, L, k)``. Flattening the raw ``L x C`` window was
  the other option; it is rejected because the interpretable bases are defined over the window's time axis (a
  polynomial or a Fourier series of each series), which the per-bar mix keeps and a flat ``L * C`` vector does
  not, and because the first layer of a block would read ``L * C`` inputs (96 x 196 x 2048 = 38M weights per
  seasonality block of the published setting), where it reads ``L * k`` here whatever C is.
* blocks: a block reads the flattened residual ``(B, L * k)`` through ``layers`` ReLU layers of ``units``, and
  produces a backcast of the residual, ``(B, L, k)``, subtracted from it before the next block (the paper's
  doubly residual stacking), and a forecast. The "forecast" is a latent one: ``horizon`` steps of each of the k
  series, a vector of ``d_out = signals * horizon``, summed over all blocks and sent through dropout and one
  linear layer to the 3 logits (the class head). Nothing is trained to forecast future bars; the sum is read
  as a representation of the window.
* stacks (``stack_types``, one entry per stack): ``generic`` blocks map their hidden state linearly to the
  backcast and the forecast (the paper's N-BEATS-G, identity basis as in the authors' code); ``trend`` blocks
  emit polynomial coefficients: backcast and forecast are polynomials of degree ``degree`` over their own time
  axis ``t = 0, 1/T, ..., (T - 1)/T`` (T = window for the backcast, horizon for the forecast);
  ``seasonality`` blocks emit Fourier coefficients over the same axes: a constant and cos / sin of
  ``1 .. max(1, T // 2 - 1)`` cycles per axis (the paper's ``floor(H / 2 - 1)`` harmonics). Coefficients are
  per series, so each of the k series gets its own polynomial / Fourier series. ``share_weights`` shares one
  block's weights across the blocks of a stack (the paper's interpretable setting); the shared block is stored
  once and applied ``blocks_per_stack`` times.
* ``units``: one width for all stacks, or one per stack (the published interpretable model uses 256 for the
  trend stack and 2048 for the seasonality stack).

Causal: every operation reads the window alone (the bases are fixed functions of the position inside it); no
normalisation across windows (``revin`` is the shared per-window instance norm). Dropout is in the head only
(the paper has none).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model

StackType = Literal["generic", "trend", "seasonality"]


class NBEATSConfig(TorchConfig):
    stack_types: list[StackType] = Field(default_factory=lambda: ["generic", "generic"], min_length=1)
    blocks_per_stack: int = Field(1, ge=1)
    layers: int = Field(2, ge=1)  # fully connected ReLU layers per block
    units: list[PositiveInt] = Field(default_factory=lambda: [64], min_length=1)  # one, or one per stack
    share_weights: bool = False  # one block's weights for every block of a stack
    degree: int = Field(3, ge=0)  # polynomial degree of the trend basis
    signals: int = Field(8, ge=1)  # k: series mixed from the C inputs of each bar
    horizon: int = Field(4, ge=1)  # steps of the latent forecast per series (d_out = signals * horizon)

    @model_validator(mode="after")
    def _check_shapes(self):
        if len(self.units) not in (1, len(self.stack_types)):
            raise ValueError(f"units needs one width or one per stack ({len(self.stack_types)}), "
                             f"got {len(self.units)}")
        if "trend" in self.stack_types and self.degree + 1 > self.window:
            raise ValueError(f"degree + 1 ({self.degree + 1}) must not exceed window ({self.window}): the trend "
                             "basis would have more polynomials than the window has bars")
        return self

    def stack_units(self) -> list[int]:
        return list(self.units) * len(self.stack_types) if len(self.units) == 1 else list(self.units)


def time_axis(length: int) -> np.ndarray:
    """The paper's time grid of an axis of ``length`` steps: ``t = 0, 1/T, ..., (T - 1)/T``."""
    return np.arange(length, dtype=np.float64) / length


def trend_basis(degree: int, length: int) -> np.ndarray:
    """``(degree + 1, length)``: row i is ``t ** i`` over the axis (polynomial trend of the given degree)."""
    t = time_axis(length)
    return np.stack([t ** i for i in range(degree + 1)])


def harmonics(length: int) -> int:
    """Fourier harmonics of an axis of ``length`` steps: ``floor(T / 2 - 1)`` as in the paper, at least one."""
    return max(1, length // 2 - 1)


def fourier_basis(length: int) -> np.ndarray:
    """``(2 N + 1, length)``: a constant, then ``cos(2 pi n t)`` and ``sin(2 pi n t)`` for n = 1 .. N."""
    t = time_axis(length)
    n = np.arange(1, harmonics(length) + 1)[:, None]
    return np.concatenate([np.ones((1, length)), np.cos(2 * np.pi * n * t), np.sin(2 * np.pi * n * t)])


@register_model("nbeats", family="ssm_mlp")
class NBEATSModel(TorchWindowModel):
    """Doubly residual stacks of generic or interpretable (trend / seasonality) fully connected blocks."""

    Config = NBEATSConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "stack_types": ["generic", "generic"], "layers": 2, "units": [16],
                "signals": 4, "horizon": 4}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, list(c.stack_types), c.stack_units(), c.blocks_per_stack,
                          c.layers, c.share_weights, c.degree, c.signals, c.horizon, c.dropout)


@functools.cache
def _network():
    import torch
    from torch import nn

    from factory.models._torch.layers import ClassHead

    class Block(nn.Module):
        def __init__(self, kind: str, window: int, signals: int, horizon: int, layers: int, units: int,
                     degree: int):
            super().__init__()
            self.kind, self.window, self.signals, self.horizon = kind, window, signals, horizon
            fc: list[nn.Module] = []
            for i in range(layers):
                fc += [nn.Linear(window * signals if i == 0 else units, units), nn.ReLU()]
            self.fc = nn.Sequential(*fc)
            if kind == "generic":
                self.theta = nn.Linear(units, window * signals + signals * horizon)
            else:
                make = (lambda n: trend_basis(degree, n)) if kind == "trend" else fourier_basis
                # Fixed functions of the position, rebuilt from the settings (not saved with the weights) and kept
                # in float64 so the float64 inference uses the exact basis; cast to the coefficients' dtype.
                self.register_buffer("basis_b", torch.tensor(make(window), dtype=torch.float64), persistent=False)
                self.register_buffer("basis_f", torch.tensor(make(horizon), dtype=torch.float64),
                                     persistent=False)
                self.theta_b = nn.Linear(units, signals * self.basis_b.shape[0])
                self.theta_f = nn.Linear(units, signals * self.basis_f.shape[0])

        def forward(self, r):  # (B, L, k) -> backcast (B, L, k), forecast (B, k * H)
            b = r.shape[0]
            h = self.fc(r.reshape(b, -1))  # (B, units)
            if self.kind == "generic":
                theta = self.theta(h)  # (B, L * k + k * H)
                split = self.window * self.signals
                return theta[:, :split].reshape(b, self.window, self.signals), theta[:, split:]
            tb = self.theta_b(h).reshape(b, self.signals, -1)  # (B, k, P_b) coefficients per series
            tf = self.theta_f(h).reshape(b, self.signals, -1)  # (B, k, P_f)
            backcast = (tb @ self.basis_b.to(tb.dtype)).transpose(1, 2)  # (B, k, L) -> (B, L, k)
            return backcast, (tf @ self.basis_f.to(tf.dtype)).reshape(b, -1)  # (B, k * H)

    class NBEATS(nn.Module):
        def __init__(self, n_in: int, window: int, stack_types: list[str], units: list[int], blocks: int,
                     layers: int, share: bool, degree: int, signals: int, horizon: int, dropout: float):
            super().__init__()
            self.adapter = nn.Linear(n_in, signals)
            self.stacks = nn.ModuleList(
                nn.ModuleList(Block(kind, window, signals, horizon, layers, width, degree)
                              for _ in range(1 if share else blocks))
                for kind, width in zip(stack_types, units))
            self.repeats = blocks if share else 1
            self.head = ClassHead(signals * horizon, dropout)

        def blocks_in_order(self):
            """The blocks as applied: each stack's blocks in turn (a shared block repeated)."""
            for stack in self.stacks:
                for block in stack:
                    for _ in range(self.repeats):
                        yield block

        def forward(self, x):  # (B, L, C)
            residual = self.adapter(x)  # (B, L, k)
            forecast = 0
            for block in self.blocks_in_order():
                backcast, f = block(residual)  # (B, L, k), (B, k * H)
                residual = residual - backcast
                forecast = forecast + f
            return self.head(forecast)  # (B, k * H) -> (B, 3)

    return NBEATS
