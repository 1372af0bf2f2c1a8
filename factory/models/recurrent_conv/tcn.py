"""TCN (Bai, Kolter and Koltun, 2018): stacked residual blocks of dilated causal convolutions.

Every block holds two causal convolutions (left padding only, kernel ``kernel``, dilation ``2^level``) with ReLU
and dropout, plus a residual connection (a 1x1 convolution where the width changes); the receptive field is
``1 + 2 (kernel - 1) (2^levels - 1)`` bars. The representation of the window's last bar goes through the
classification head. All model inputs enter as channels.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class TCNConfig(TorchConfig):
    channels: int = Field(32, ge=1)
    levels: int = Field(4, ge=1)
    kernel: int = Field(3, ge=2)


@register_model("tcn", family="recurrent_conv")
class TCNModel(TorchWindowModel):
    """Dilated causal convolutions with residual blocks."""

    Config = TCNConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "channels": 8, "levels": 2}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.channels, c.levels, c.kernel, c.dropout)


@functools.cache
def _network():
    from torch import nn

    from factory.models._torch.layers import CausalConv1d, ClassHead

    class Block(nn.Module):
        def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float):
            super().__init__()
            self.conv1 = CausalConv1d(c_in, c_out, kernel, dilation)
            self.conv2 = CausalConv1d(c_out, c_out, kernel, dilation)
            self.act = nn.ReLU()
            self.drop = nn.Dropout(dropout)
            self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

        def forward(self, x):  # (B, C_in, L) -> (B, C_out, L)
            h = self.drop(self.act(self.conv1(x)))
            h = self.drop(self.act(self.conv2(h)))
            return self.act(h + self.skip(x))

    class TCN(nn.Module):
        def __init__(self, n_in: int, width: int, levels: int, kernel: int, dropout: float):
            super().__init__()
            self.blocks = nn.Sequential(*[
                Block(n_in if i == 0 else width, width, kernel, 2 ** i, dropout) for i in range(levels)])
            self.head = ClassHead(width, dropout)

        def forward(self, x):  # (B, L, C)
            h = self.blocks(x.transpose(1, 2))  # (B, width, L)
            return self.head(h[:, :, -1])  # the last bar's representation -> (B, 3)

    return TCN
