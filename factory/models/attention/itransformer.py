"""iTransformer (Liu et al., 2024): the Transformer inverted, one token per channel, attention across channels.

Each channel's whole window (``window`` bars) is embedded as one token by a linear map ``window -> d_model``
(shared by the channels) with dropout, so the sequence the encoder sees is the ``C`` channels, not the bars; the
encoder's attention mixes channels and its feed-forward network acts on each channel's token. No positional
encoding: the channels have no order. The encoded tokens go through GELU and dropout, are flattened
(``C x d_model``) and mapped to three logits by one linear layer: Time-Series-Library's classification head.
Every model input (~196 scaled features) is a channel; the paper's optional timestamp-covariate tokens are not
used (the pipeline's calendar features, where enabled, are channels like any other input).

The encoder is torch's ``nn.TransformerEncoderLayer`` (post-norm with LayerNorm, GELU, as the paper's layers)
with a final LayerNorm, as the paper's encoder. The embedding reads the whole window at once, in both directions;
nothing past the window's last bar enters. The forecasting variant's instance normalisation is available as
``revin`` (off by default: Time-Series-Library's classifier does not normalise, and a feature's level in the
window is part of the signal).
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field, model_validator

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class ITransformerConfig(TorchConfig):
    d_model: int = Field(32, ge=1)
    n_heads: int = Field(2, ge=1)
    layers: int = Field(1, ge=1)
    d_ff: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _check_heads(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        return self


@register_model("itransformer", family="attention")
class ITransformerModel(TorchWindowModel):
    """Inverted Transformer: channel tokens, attention across channels."""

    Config = ITransformerConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "d_model": 16, "n_heads": 2, "layers": 1, "d_ff": 32}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, c.d_model, c.n_heads, c.layers, c.d_ff, c.dropout)


@functools.cache
def _network():
    from torch import nn

    from factory.models._torch.layers import ClassHead

    class ITransformer(nn.Module):
        def __init__(self, n_in: int, window: int, d_model: int, n_heads: int, layers: int, d_ff: int,
                     dropout: float):
            super().__init__()
            self.embed = nn.Linear(window, d_model)
            self.drop = nn.Dropout(dropout)
            layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu",
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d_model),
                                                 enable_nested_tensor=False)
            self.act = nn.GELU()
            self.head = ClassHead(n_in * d_model, dropout)

        def forward(self, x):  # (B, L, C)
            tokens = self.drop(self.embed(x.transpose(1, 2)))  # (B, C, d): one token per channel's window
            h = self.encoder(tokens)  # (B, C, d): attention across channels
            return self.head(self.act(h))  # (B, C*d) -> (B, 3)

    return ITransformer
