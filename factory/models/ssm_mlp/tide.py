"""TiDE (Das et al., 2023, "Long-term forecasting with TiDE: Time-series dense encoder"): a dense MLP
encoder-decoder built of residual blocks.

Every block is TiDE's residual block: ``Linear(d_in -> hidden)``, ReLU, ``Linear(hidden -> d_out)``, dropout, plus
a linear skip ``Linear(d_in -> d_out)``, then LayerNorm.

TiDE is published as a forecaster of one target series with covariates: it projects each step's covariates to a
few dimensions (the feature projection), flattens them with the target's look-back into the dense encoder, decodes
to one vector per horizon step and mixes each with that step's projected covariates in a temporal decoder, plus a
linear look-back-to-horizon residual. Adapted to classification over a window of ALL model inputs (~196 scaled
features per bar) as follows:

* feature projection: one residual block ``C -> feature_hidden -> temporal_width`` applied to every bar of the
  window (the paper's covariate projection, with every model input as a covariate);
* encoder input: the projected window flattened (``window x temporal_width``) and concatenated with the window's
  last bar's raw inputs (``C``), the place of the target's look-back and static attributes; there is no target
  series, so the raw inputs of the bar being classified stand in for it;
* an encoder stack of ``encoder_layers`` blocks to ``hidden``, a decoder stack of ``decoder_layers`` blocks (the
  last one to ``decoder_dim``: a horizon of one step);
* the classification head (dropout, one linear layer to three logits) instead of the temporal decoder and the
  linear residual: both combine the decoded vector with the FUTURE horizon's covariates or the target's own
  look-back, neither of which exists here (a bar after t may not be read).

The paper's RevIN is the shared per-window instance normalisation (``revin``), on in the published ``full``
profile, off by default because the window's level of a scaled feature is part of the signal. Nothing reads past
the window's last bar; no normalisation crosses windows.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import Field

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class TiDEConfig(TorchConfig):
    hidden: int = Field(128, ge=1)  # width of the encoder and decoder blocks
    encoder_layers: int = Field(2, ge=1)
    decoder_layers: int = Field(2, ge=1)
    temporal_width: int = Field(4, ge=1)  # each bar's inputs projected to this many values
    feature_hidden: int = Field(64, ge=1)  # hidden width of the feature projection (the paper's code: 64)
    decoder_dim: int = Field(16, ge=1)  # width of the decoder's output (the paper's decoder output dim)


@register_model("tide", family="ssm_mlp")
class TiDEModel(TorchWindowModel):
    """Dense encoder-decoder of residual MLP blocks over a per-bar projected window."""

    Config = TiDEConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "hidden": 16, "encoder_layers": 1, "decoder_layers": 1, "temporal_width": 2,
                "feature_hidden": 8, "decoder_dim": 8}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, c.hidden, c.encoder_layers, c.decoder_layers, c.temporal_width,
                          c.feature_hidden, c.decoder_dim, c.dropout)


@functools.cache
def _network():
    import torch
    import torch.nn.functional as F
    from torch import nn

    from factory.models._torch.layers import ClassHead

    class ResidualBlock(nn.Module):
        def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float):
            super().__init__()
            self.dense = nn.Linear(d_in, d_hidden)
            self.out = nn.Linear(d_hidden, d_out)
            self.skip = nn.Linear(d_in, d_out)
            self.drop = nn.Dropout(dropout)
            self.norm = nn.LayerNorm(d_out)

        def forward(self, x):  # (..., d_in) -> (..., d_out)
            return self.norm(self.drop(self.out(F.relu(self.dense(x)))) + self.skip(x))

    class TiDE(nn.Module):
        def __init__(self, n_in: int, window: int, hidden: int, encoder_layers: int, decoder_layers: int,
                     temporal_width: int, feature_hidden: int, decoder_dim: int, dropout: float):
            super().__init__()
            self.project = ResidualBlock(n_in, feature_hidden, temporal_width, dropout)
            flat = window * temporal_width + n_in
            # Distinct blocks (Time-Series-Library's ``[block] * n`` repeats ONE block, sharing its weights).
            self.encoder = nn.Sequential(*[ResidualBlock(flat if i == 0 else hidden, hidden, hidden, dropout)
                                           for i in range(encoder_layers)])
            self.decoder = nn.Sequential(*[ResidualBlock(hidden, hidden, decoder_dim if i == decoder_layers - 1
                                                         else hidden, dropout) for i in range(decoder_layers)])
            self.head = ClassHead(decoder_dim, dropout)

        def forward(self, x):  # (B, L, C)
            projected = self.project(x)  # (B, L, temporal_width): every bar on its own
            encoded = self.encoder(torch.cat([projected.flatten(1), x[:, -1]], dim=1))  # (B, hidden)
            return self.head(self.decoder(encoded))  # (B, decoder_dim) -> (B, 3)

    return TiDE
