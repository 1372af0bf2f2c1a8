"""PatchTST (Nie et al., 2023): channel-independent Transformer over patches of each channel's window.

Every channel of the window is cut into patches of ``patch_len`` bars every ``stride`` bars, after padding the
window at its END with ``stride`` copies of its last value (the paper's padding: it repeats a value inside the
window, so nothing past bar t enters). That gives ``(window - patch_len) // stride + 2`` patches (the paper's count;
:func:`n_patches` also covers a window shorter than a patch). A linear map embeds each patch into ``d_model``,
learnt positions are added (the paper's default learnt ``W_pos``, uniform init in +-0.02), and a Transformer encoder
attends across the patches of one channel at a time: the channels are folded into the batch and share every weight
(channel independence). The encoded patches, flattened to ``C x d_model x patches``, go through dropout and one
linear layer to three logits: Time-Series-Library's classification head. Every model input (~196 scaled features) is
a channel; no channel adapter is needed.

Deviations from the paper:

* normalisation: the paper's encoder layers use BatchNorm, which normalises across the windows of a batch and
  so makes one window's output depend on the others; here each layer is ``nn.TransformerEncoderLayer`` (post-norm,
  GELU) with LayerNorm, and the encoder ends with a LayerNorm (Time-Series-Library's final norm, likewise
  BatchNorm there);
* RevIN is the shared per-window instance normalisation (``revin``, forward half only: a classifier has nothing
  to de-normalise); on in the published ``full`` profile, off by default because the window's level of a scaled
  feature is part of the signal;
* attention is torch's standard scaled dot-product attention: the official code's residual attention (raw
  scores handed from layer to layer) is left out, as Time-Series-Library leaves it out.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field, model_validator

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class PatchTSTConfig(TorchConfig):
    patch_len: int = Field(16, ge=1)  # bars per patch
    stride: int = Field(8, ge=1)  # bars between patch starts (<= patch_len, so every bar is in a patch)
    d_model: int = Field(16, ge=1)
    n_heads: int = Field(2, ge=1)
    layers: int = Field(1, ge=1)
    d_ff: int = Field(32, ge=1)

    @model_validator(mode="after")
    def _check_shapes(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.stride > self.patch_len:
            raise ValueError(f"stride ({self.stride}) must not exceed patch_len ({self.patch_len}): "
                             "bars between patches would never be read")
        if self.window + self.stride < self.patch_len:
            raise ValueError(f"window + stride ({self.window} + {self.stride}) must be at least patch_len "
                             f"({self.patch_len}) for one patch to fit")
        return self


def n_patches(window: int, patch_len: int, stride: int) -> int:
    """Patches of one channel: the window padded with ``stride`` copies of its last value, then unfolded."""
    return (window + stride - patch_len) // stride + 1


@register_model("patchtst", family="attention")
class PatchTSTModel(TorchWindowModel):
    """Channel-independent Transformer over patches, flattened to a linear head."""

    Config = PatchTSTConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "patch_len": 4, "stride": 2, "d_model": 8, "n_heads": 2, "layers": 1,
                "d_ff": 16}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, c.patch_len, c.stride, c.d_model, c.n_heads, c.layers, c.d_ff,
                          c.dropout)


@functools.cache
def _network():
    import torch
    from torch import nn

    from factory.models._torch.layers import ClassHead

    class PatchTST(nn.Module):
        def __init__(self, n_in: int, window: int, patch_len: int, stride: int, d_model: int, n_heads: int,
                     layers: int, d_ff: int, dropout: float):
            super().__init__()
            self.patch_len, self.stride = patch_len, stride
            self.n_patches = n_patches(window, patch_len, stride)
            self.embed = nn.Linear(patch_len, d_model)
            self.positions = nn.Parameter(torch.empty(self.n_patches, d_model).uniform_(-0.02, 0.02))
            self.drop = nn.Dropout(dropout)
            layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu",
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                                 enable_nested_tensor=False)
            self.head = ClassHead(n_in * d_model * self.n_patches, dropout)

        def patches(self, x):  # (B, L, C) -> (B, C, N, P)
            x = x.transpose(1, 2)  # (B, C, L)
            # the end padding repeats the window's own last value: nothing after bar t is invented
            x = torch.cat([x, x[:, :, -1:].expand(-1, -1, self.stride)], dim=2)  # (B, C, L + S)
            return x.unfold(2, self.patch_len, self.stride)  # (B, C, N, P)

        def forward(self, x):  # (B, L, C)
            b, _, c = x.shape
            p = self.patches(x)  # (B, C, N, P)
            # channel independence: every channel is its own sequence, through the same weights
            tokens = self.embed(p.reshape(b * c, self.n_patches, self.patch_len))  # (B*C, N, d)
            h = self.encoder(self.drop(tokens + self.positions))  # (B*C, N, d)
            h = h.reshape(b, c, self.n_patches, -1).transpose(2, 3)  # (B, C, d, N): TSLib's flatten order
            return self.head(h)  # (B, C*d*N) -> (B, 3)

    return PatchTST
