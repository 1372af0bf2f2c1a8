"""S-Mamba (Wang et al., 2024, "Is Mamba effective for time series forecasting?", code S-D-Mamba): a
bidirectional Mamba over variate tokens.

Each channel's whole window (``window`` bars) is embedded by one ``Linear(window -> d_model)`` into a token, so a
window becomes ``C`` tokens (iTransformer's inverted embedding; dropout after it). Every encoder layer mixes the
tokens with two Mamba blocks, one reading the tokens in channel order and one in reverse (its output flipped
back), adds both to the input and applies LayerNorm; then a feed-forward layer (``d_model -> d_ff -> d_model``,
GELU, dropout) with a residual and a second LayerNorm. A final LayerNorm, then the ``C x d_model`` tokens are
flattened into the classification head (dropout, one linear layer) instead of the forecasting projector. Every
model input (~196 scaled features per bar) is a channel, i.e. a token: no channel adapter is needed. The scan
runs across channels, never across time, so the order of the tokens is the order of the model inputs; each token
reads its channel's whole window and nothing past its last bar.

The Mamba block has exactly the parameters (names, shapes, initialisation) of ``mamba_ssm``'s ``Mamba``
(``in_proj``, ``conv1d``, ``x_proj``, ``dt_proj``, ``A_log``, ``D``, ``out_proj``; ``d_inner = expand *
d_model``, ``dt_rank = ceil(d_model / 16)``), so state dicts move between the two with ``strict=True``. Its
selective scan is written in PyTorch (a sequential scan over the tokens, vectorised over batch, inner channels and
state), which runs anywhere and in float64 for inference; on CUDA, where ``mamba_ssm`` imports, training calls
``mamba_ssm``'s fused selective-scan kernel on the same parameters instead.

Deviations from the published model:

* ``mamba_ssm``'s fused kernel is called as ``selective_scan_fn`` (what ``mamba_ssm.Mamba`` itself runs where
  ``causal_conv1d`` is absent) rather than by building ``mamba_ssm.Mamba`` modules: the fitted module is moved to
  the CPU and scored in float64, which ``Mamba``'s fast path cannot run (its kernels are CUDA-only and have no
  float64), and one module class keeps one state dict layout wherever it was trained;
* the S-D-Mamba code hard-codes ``d_conv=2, expand=1``; both are settings here (published values in ``full``);
* the forecasting projector is replaced by the classification head; S-Mamba's ``use_norm`` is the shared
  per-window instance normalisation (``revin``), on in the published ``full`` profile, off by default because the
  window's level of a scaled feature is part of the signal;
* the trainer's AdamW decays every parameter, ``A_log`` and ``D`` too (``mamba_ssm`` marks them
  ``_no_weight_decay``; S-D-Mamba trains with Adam and no weight decay at all).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from pydantic import Field

from factory.models._torch.base import TorchConfig, TorchWindowModel
from factory.models.registry import register_model


class SMambaConfig(TorchConfig):
    d_model: int = Field(16, ge=1)  # token width
    d_state: int = Field(4, ge=1)  # SSM state size N per inner channel
    d_conv: int = Field(2, ge=1)  # width of the depthwise convolution over the tokens
    expand: int = Field(1, ge=1)  # d_inner = expand * d_model
    layers: int = Field(1, ge=1)  # encoder layers (each: forward + reverse Mamba, feed-forward)
    d_ff: int = Field(32, ge=1)  # feed-forward width


@register_model("s_mamba", family="ssm_mlp")
class SMambaModel(TorchWindowModel):
    """Bidirectional Mamba over variate tokens (one token per channel's window)."""

    Config = SMambaConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {**cls.tiny_params(), "d_model": 8, "d_state": 4, "d_ff": 16}

    def build_module(self, n_channels: int):
        c = self.config
        return _network()(n_channels, c.window, c.d_model, c.d_state, c.d_conv, c.expand, c.layers, c.d_ff,
                          c.dropout)


@functools.cache
def fused_selective_scan():
    """``mamba_ssm``'s CUDA selective-scan kernel, or None where ``mamba_ssm`` does not import (no CUDA build)."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except (ImportError, OSError):  # OSError: a build whose CUDA libraries are missing
        return None
    return selective_scan_fn


def fused_kernel_for(u):
    """The fused kernel where it applies to ``u``: a CUDA tensor in a precision the kernel has (not float64, which
    inference uses), with ``mamba_ssm`` importable; else None (the PyTorch scan)."""
    import torch

    if not u.is_cuda or u.dtype == torch.float64:
        return None
    return fused_selective_scan()


@functools.cache
def torch_parts():
    """The torch pieces (built on first use, so importing this module does not import torch): ``selective_scan``,
    ``MambaBlock`` and ``SMamba``."""
    import types

    import torch
    import torch.nn.functional as F
    from torch import nn

    from factory.models._torch.layers import ClassHead

    def selective_scan(u, delta, A, B, C, D):
        """h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, y_t = C_t h_t + D u_t, from h_0 = 0, token by token.

        u, delta: (b, L, d_inner); A: (d_inner, N); B, C: (b, L, N); D: (d_inner) -> y: (b, L, d_inner).
        """
        b, _, d_inner = u.shape
        h = u.new_zeros(b, d_inner, A.shape[1])  # (b, d_inner, N)
        ys = []
        # Step by step on (b, d_inner, N) slices: they stay in cache, where (b, L, d_inner, N) tensors did not
        # (2-4x slower on a CPU). unbind, not [:, t]: the backward of L selects builds L full-size gradients.
        for delta_t, du_t, B_t, C_t in zip(delta.unbind(1), (delta * u).unbind(1), B.unbind(1), C.unbind(1)):
            decay = torch.exp(delta_t.unsqueeze(-1) * A)  # (b, d_inner, N); A < 0, so each factor is in (0, 1)
            h = torch.addcmul(du_t.unsqueeze(-1) * B_t.unsqueeze(1), decay, h)  # (b, d_inner, N)
            ys.append(torch.bmm(h, C_t.unsqueeze(-1)))  # (b, d_inner, 1)
        return torch.cat(ys, dim=-1).transpose(1, 2) + u * D  # (b, L, d_inner)

    class MambaBlock(nn.Module):
        """``mamba_ssm.Mamba``'s parameters and initialisation; the scan in PyTorch or ``mamba_ssm``'s kernel."""

        def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                     dt_min: float = 1e-3, dt_max: float = 0.1, dt_init_floor: float = 1e-4, dt_scale: float = 1.0):
            super().__init__()
            self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
            self.d_inner = expand * d_model
            self.dt_rank = math.ceil(d_model / 16)
            self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
            self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1,
                                    bias=True)
            self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
            self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
            std = self.dt_rank ** -0.5 * dt_scale
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            # The step size starts log-uniform in [dt_min, dt_max]: the bias is its softplus inverse.
            dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            dt = dt.clamp(min=dt_init_floor)
            with torch.no_grad():
                self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            # S4D-real: A = -(1, 2, .., N) for every inner channel, kept as log(-A) so A stays negative.
            A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)  # (d_inner, N)
            self.A_log = nn.Parameter(torch.log(A))
            self.D = nn.Parameter(torch.ones(self.d_inner))
            self.A_log._no_weight_decay = True
            self.D._no_weight_decay = True
            self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

        def forward(self, x):  # (b, L, d_model) -> (b, L, d_model)
            length = x.shape[1]
            u, z = self.in_proj(x).chunk(2, dim=-1)  # 2 x (b, L, d_inner)
            # Depthwise convolution over the tokens, padded in front and cropped to L (mamba_ssm's layout).
            u = F.silu(self.conv1d(u.transpose(1, 2))[..., :length])  # (b, d_inner, L)
            dt, B, C = torch.split(self.x_proj(u.transpose(1, 2)), [self.dt_rank, self.d_state, self.d_state],
                                   dim=-1)  # (b, L, dt_rank), (b, L, N), (b, L, N)
            A = -torch.exp(self.A_log)  # (d_inner, N)
            fused = fused_kernel_for(u)
            if fused is not None:
                delta = (dt @ self.dt_proj.weight.t()).transpose(1, 2)  # (b, d_inner, L), bias added in the kernel
                y = fused(u.contiguous(), delta.contiguous(), A.float(), B.transpose(1, 2).contiguous(),
                          C.transpose(1, 2).contiguous(), self.D.float(), z=z.transpose(1, 2).contiguous(),
                          delta_bias=self.dt_proj.bias.float(), delta_softplus=True)  # (b, d_inner, L)
                return self.out_proj(y.transpose(1, 2))
            delta = F.softplus(self.dt_proj(dt))  # (b, L, d_inner)
            y = selective_scan(u.transpose(1, 2), delta, A, B, C, self.D)  # (b, L, d_inner)
            return self.out_proj(y * F.silu(z))

    class EncoderLayer(nn.Module):
        def __init__(self, d_model: int, d_state: int, d_conv: int, expand: int, d_ff: int, dropout: float):
            super().__init__()
            self.forward_mamba = MambaBlock(d_model, d_state, d_conv, expand)
            self.reverse_mamba = MambaBlock(d_model, d_state, d_conv, expand)
            self.norm1 = nn.LayerNorm(d_model)
            self.ff1 = nn.Linear(d_model, d_ff)
            self.ff2 = nn.Linear(d_ff, d_model)
            self.norm2 = nn.LayerNorm(d_model)
            self.drop = nn.Dropout(dropout)

        def forward(self, x):  # (B, C, d_model) -> (B, C, d_model)
            mixed = self.forward_mamba(x) + self.reverse_mamba(x.flip(1)).flip(1)
            x = self.norm1(x + mixed)
            y = self.drop(self.ff2(self.drop(F.gelu(self.ff1(x)))))
            return self.norm2(x + y)

    class SMamba(nn.Module):
        def __init__(self, n_in: int, window: int, d_model: int, d_state: int, d_conv: int, expand: int,
                     layers: int, d_ff: int, dropout: float):
            super().__init__()
            self.embed = nn.Linear(window, d_model)
            self.drop = nn.Dropout(dropout)
            self.layers = nn.ModuleList(
                [EncoderLayer(d_model, d_state, d_conv, expand, d_ff, dropout) for _ in range(layers)])
            self.norm = nn.LayerNorm(d_model)
            self.head = ClassHead(n_in * d_model, dropout)

        def forward(self, x):  # (B, L, C)
            tokens = self.drop(self.embed(x.transpose(1, 2)))  # (B, C, d_model): one token per channel's window
            for layer in self.layers:
                tokens = layer(tokens)
            return self.head(self.norm(tokens))  # (B, C * d_model) -> (B, 3)

    return types.SimpleNamespace(selective_scan=selective_scan, MambaBlock=MambaBlock, SMamba=SMamba)


def _network():
    return torch_parts().SMamba
