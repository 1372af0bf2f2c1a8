"""TimesNet (Wu et al., 2023): 1-D windows folded into 2-D by their dominant periods, read by 2-D convolutions.

The model inputs of each bar (every one of them a channel, ~196 scaled features) are embedded by a linear map
``C -> d_model`` (no bias, as Time-Series-Library's token embedding) plus fixed sinusoidal positions, then
dropout. Each of ``layers`` TimesBlocks then

1. takes the FFT of the window over time, averages the amplitude over the ``d_model`` channels OF EACH WINDOW,
   drops the zero frequency and keeps the ``top_k`` strongest frequencies ``f`` (periods ``window // f``);
2. for each of them folds the window into a 2-D grid ``cycles x period``, padding the END of the window with
   zeros up to a multiple of the period (the zeros are constants, not values of later bars), runs an Inception
   block of 2-D convolutions (kernels 1, 3, 5, ... ``2 num_kernels - 1``, averaged), GELU, a second Inception
   block back to ``d_model``, unfolds to 1-D and crops the padding away;
3. sums the ``top_k`` branches weighted by the softmax of their frequencies' amplitudes, adds the residual;

and a LayerNorm follows every block (one LayerNorm shared by the blocks, as in Time-Series-Library). The
classification head is Time-Series-Library's: GELU, dropout, flatten ``window x d_model``, one linear layer to
three logits. Everything the model computes reads the window alone: the FFT, the folding and the 2-D
convolutions run inside it, and nothing reaches past its last row.

Deviations from the published code, both so that a window's output never depends on the other windows of its
batch:

* the periods are chosen PER WINDOW (Time-Series-Library averages the amplitudes over the batch too, so one
  batch shares its periods and a window's periods, hence its output, change with its batch-mates). Windows of a
  batch with the same period are folded and convolved together, which gives the same numbers as one at a time;
* ties between equal amplitudes go to the lower frequency (a stable sort), so the choice is a deterministic
  function of the window.

The Inception convolutions use Time-Series-Library's Kaiming initialisation. No BatchNorm anywhere.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field, model_validator

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class TimesNetConfig(TorchConfig):
    d_model: int = Field(16, ge=1)
    d_ff: int = Field(16, ge=1)  # width between the two Inception blocks
    top_k: int = Field(2, ge=1)  # periods (frequencies) per window and block
    layers: int = Field(1, ge=1)  # TimesBlocks
    num_kernels: int = Field(2, ge=1)  # Inception kernels 1, 3, ..., 2 num_kernels - 1

    @model_validator(mode="after")
    def _check_top_k(self):
        if self.top_k > self.window // 2:
            raise ValueError(f"top_k ({self.top_k}) must not exceed window // 2 ({self.window // 2}), the "
                             "non-zero frequencies of a window")
        return self


def fft_periods(x, k: int):
    """The ``k`` dominant periods of each window and their amplitudes: ``x (B, L, D)`` ->
    ``periods (B, k)`` (long, ``L // frequency``) and ``amplitudes (B, k)`` (differentiable).

    The amplitude of each frequency is averaged over the channels of one window only; the zero frequency (the
    window's mean) is never chosen; ties go to the lower frequency."""
    import torch

    if x.dtype in (torch.float16, torch.bfloat16):  # the FFT needs float32 or float64
        x = x.float()
    amp = torch.fft.rfft(x, dim=1).abs().mean(dim=-1)  # (B, L // 2 + 1)
    order = torch.sort(amp[:, 1:], dim=1, descending=True, stable=True).indices[:, :k]  # (B, k)
    freq = order + 1
    return x.shape[1] // freq, amp.gather(1, freq)


def fold(x, period: int):
    """``(n, L, D)`` -> ``(n, D, cycles, period)``: the window row by row into cycles of ``period`` bars, zeros
    appended at its end to fill the last cycle."""
    import torch

    n, length, d = x.shape
    cycles = -(-length // period)
    pad = cycles * period - length
    if pad:
        x = torch.cat([x, x.new_zeros(n, pad, d)], dim=1)  # (n, cycles * period, D)
    return x.reshape(n, cycles, period, d).permute(0, 3, 1, 2)


def unfold(h, length: int):
    """``(n, D, cycles, period)`` -> ``(n, length, D)``: the inverse of :func:`fold`, the padding cropped."""
    n, d, cycles, period = h.shape
    return h.permute(0, 2, 3, 1).reshape(n, cycles * period, d)[:, :length]


@register_model("timesnet", family="recurrent_conv")
class TimesNetModel(TorchWindowModel):
    """Period folding to 2-D and Inception convolutions (TimesBlocks), flattened to a linear head."""

    Config = TimesNetConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "d_model": 8, "d_ff": 8, "top_k": 2, "layers": 1, "num_kernels": 2}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, c.d_model, c.d_ff, c.top_k, c.layers, c.num_kernels, c.dropout)


@functools.cache
def _network():
    import torch
    from torch import nn

    from factory.models._torch.layers import ClassHead, SinusoidalPositions

    class Inception(nn.Module):
        """2-D convolutions of kernels 1, 3, ..., 2 n - 1 (same-size padding), averaged."""

        def __init__(self, c_in: int, c_out: int, n: int):
            super().__init__()
            self.kernels = nn.ModuleList([nn.Conv2d(c_in, c_out, 2 * i + 1, padding=i) for i in range(n)])
            for conv in self.kernels:
                nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(conv.bias)

        def forward(self, x):  # (n, C_in, cycles, period) -> (n, C_out, cycles, period)
            return torch.stack([conv(x) for conv in self.kernels], dim=-1).mean(dim=-1)

    class TimesBlock(nn.Module):
        def __init__(self, d_model: int, d_ff: int, top_k: int, num_kernels: int):
            super().__init__()
            self.k = top_k
            self.conv = nn.Sequential(Inception(d_model, d_ff, num_kernels), nn.GELU(),
                                      Inception(d_ff, d_model, num_kernels))

        def forward(self, x):  # (B, L, D)
            b, length, d = x.shape
            periods, amp = fft_periods(x, self.k)  # (B, k), (B, k)
            flat = periods.reshape(-1)  # (B * k,): branch j of window i at i * k + j
            branches = x.unsqueeze(1).expand(b, self.k, length, d).reshape(b * self.k, length, d)
            # windows sharing a period are folded and convolved together (the conv treats each on its own)
            pieces, where = [], []
            for p in torch.unique(flat).tolist():
                at = torch.nonzero(flat == p).squeeze(1)
                pieces.append(unfold(self.conv(fold(branches[at], p)), length))  # (n_p, L, D)
                where.append(at)
            out = torch.cat(pieces)[torch.argsort(torch.cat(where))]  # back to (B * k, L, D) in flat order
            out = out.reshape(b, self.k, length, d)
            weight = torch.softmax(amp, dim=1)  # (B, k)
            return (out * weight[:, :, None, None]).sum(dim=1) + x  # (B, L, D)

    class TimesNet(nn.Module):
        def __init__(self, n_in: int, window: int, d_model: int, d_ff: int, top_k: int, layers: int,
                     num_kernels: int, dropout: float):
            super().__init__()
            self.embed = nn.Linear(n_in, d_model, bias=False)
            self.positions = SinusoidalPositions(d_model)
            self.drop = nn.Dropout(dropout)
            self.blocks = nn.ModuleList([TimesBlock(d_model, d_ff, top_k, num_kernels) for _ in range(layers)])
            self.norm = nn.LayerNorm(d_model)  # one LayerNorm after every block, as Time-Series-Library
            self.act = nn.GELU()
            self.head = ClassHead(window * d_model, dropout)

        def forward(self, x):  # (B, L, C)
            h = self.drop(self.positions(self.embed(x)))  # (B, L, d_model)
            for block in self.blocks:
                h = self.norm(block(h))
            return self.head(self.act(h))  # (B, L * d_model) -> (B, 3)

    TimesNet.TimesBlock = TimesBlock
    TimesNet.Inception = Inception
    return TimesNet
