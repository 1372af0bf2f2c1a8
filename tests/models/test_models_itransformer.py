"""iTransformer: one token per channel (its whole window), attention across the channel tokens, no positions (so
the encoder is permutation-equivariant over channels), shapes, a hand-counted parameter total, settings
validation."""

from __future__ import annotations

import pytest

import factory.models.attention.itransformer  # noqa: F401  (registers the key before its central import line)
from factory.errors import ConfigError
from factory.models import create_model, get_model_class

torch = pytest.importorskip("torch")


def _max_diff(a, b) -> float:
    return float((a - b).detach().abs().max())


def _net(n_channels: int, **settings):
    torch.manual_seed(0)
    params = {**get_model_class("itransformer").get_test_params(), **settings}
    return create_model("itransformer", **params)._network(n_channels).double().eval()


def _encoded(net, x):
    """The encoder's input and output tokens for windows x."""
    seen = {}
    hooks = [net.encoder.register_forward_hook(lambda m, inp, out: seen.update(tokens=inp[0], encoded=out))]
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return seen["tokens"].detach(), seen["encoded"].detach()


@pytest.mark.parametrize(("window", "channels"), [(8, 1), (8, 12), (16, 5), (33, 3)])
def test_output_shape_and_one_token_per_channel(window, channels):
    net = _net(channels, window=window)
    x = torch.randn(7, window, channels, dtype=torch.float64)
    out = net(x)
    assert out.shape == (7, 3) and torch.isfinite(out).all()
    tokens, encoded = _encoded(net, x)
    assert tokens.shape == encoded.shape == (7, channels, 16)  # (B, C, d_model): the sequence is the channels
    assert net.embed.in_features == window  # each token embeds a channel's whole window


def test_a_token_is_the_linear_embedding_of_its_channels_window():
    net = _net(3, window=8)
    x = torch.randn(2, 8, 3, dtype=torch.float64)
    tokens, _ = _encoded(net, x)
    expected = x.transpose(1, 2) @ net.embed.weight.T + net.embed.bias  # (B, C, d)
    assert _max_diff(tokens, expected) <= 1e-12


def test_the_whole_window_is_read():
    net = _net(3, window=16)
    x = torch.randn(2, 16, 3, dtype=torch.float64)
    for row in (0, 15):
        y = x.clone()
        y[:, row, 1] += 1.0
        assert not torch.allclose(net(x), net(y)), f"row {row} is not read"


def test_attention_mixes_channels_and_is_permutation_equivariant():
    net = _net(5)
    x = torch.randn(3, 8, 5, dtype=torch.float64)
    _, a = _encoded(net, x)
    y = x.clone()
    y[:, :, 4] = torch.randn(3, 8, dtype=torch.float64)
    _, b = _encoded(net, y)
    assert (a[:, 0] - b[:, 0]).abs().max() > 1e-6  # channel 0's token sees channel 4 (unlike PatchTST)
    perm = torch.tensor([3, 0, 4, 1, 2])
    _, c = _encoded(net, x[:, :, perm])
    assert _max_diff(c, a[:, perm]) <= 1e-12  # no positions: the channels have no order


def test_parameter_count_by_hand_and_no_batchnorm():
    c, window, d, heads, ff = 6, 20, 8, 2, 12
    net = _net(c, window=window, d_model=d, n_heads=heads, d_ff=ff, layers=3)
    layer = (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * 2 * d  # attn, out, ffn, 2 norms
    expected = (window * d + d) + 3 * layer + 2 * d + (c * d * 3 + 3)  # embedding, layers, final norm, head
    assert sum(t.numel() for t in net.parameters()) == expected
    kinds = {type(m).__name__ for m in net.modules()}
    assert "LayerNorm" in kinds and not [k for k in kinds if "BatchNorm" in k]


def test_each_window_is_scored_alone():
    net = _net(4)
    x = torch.randn(9, 8, 4, dtype=torch.float64)
    slow = net(x)  # autograd on: torch's reference encoder path
    assert _max_diff(slow[4:5], net(x[4:5])) <= 1e-12
    with torch.inference_mode():  # torch's fused encoder path, the one serving takes
        fast = net(x)
        assert _max_diff(fast[4:5], net(x[4:5])) <= 1e-12
    assert _max_diff(fast, slow) <= 1e-12


@pytest.mark.parametrize(("settings", "match"), [
    ({"d_model": 10, "n_heads": 4}, "multiple of n_heads"),
    ({"d_model": 0}, "d_model"),
    ({"layers": 0}, "layers"),
    ({"d_ff": 0}, "d_ff"),
])
def test_bad_settings_are_config_errors(settings, match):
    with pytest.raises(ConfigError, match=match):
        create_model("itransformer", **settings)


def test_yaml_profiles_build():
    from factory.models.config import load_model_config

    cpu = load_model_config("itransformer")
    full = load_model_config("itransformer", overrides={"profile": "full"})
    assert (cpu.window, cpu.d_model, cpu.n_heads, cpu.layers) == (32, 32, 2, 1)
    assert (full.window, full.d_model, full.n_heads, full.layers) == (96, 512, 8, 3)
