"""PatchTST: the patch geometry (end padding with the last value), shapes, channel independence, the whole window
read, a hand-counted parameter total, and settings validation."""

from __future__ import annotations

import numpy as np
import pytest

import factory.models.attention.patchtst  # noqa: F401  (registers the key before its central import line exists)
from factory.errors import ConfigError
from factory.models import create_model, get_model_class
from factory.models.attention.patchtst import n_patches

torch = pytest.importorskip("torch")


def _max_diff(a, b) -> float:
    return float((a - b).detach().abs().max())


def _net(n_channels: int, **settings):
    torch.manual_seed(0)
    params = {**get_model_class("patchtst").get_test_params(), **settings}
    return create_model("patchtst", **params)._network(n_channels).double().eval()


@pytest.mark.parametrize(("window", "patch", "stride", "expected"),
                         [(512, 16, 8, 64), (64, 16, 8, 8), (32, 16, 8, 4), (8, 4, 2, 4), (10, 4, 4, 3), (8, 16, 8, 1)])
def test_patch_count_is_the_papers(window, patch, stride, expected):
    assert n_patches(window, patch, stride) == expected
    if window >= patch:  # the paper's formula N = floor((L - P) / S) + 2
        assert expected == (window - patch) // stride + 2
    assert _net(2, window=window, patch_len=patch, stride=stride).n_patches == expected


def test_patches_cut_each_channel_and_pad_the_end_with_its_last_value():
    net = _net(2, window=10, patch_len=4, stride=3)
    x = torch.stack([torch.arange(10.0), 100 + torch.arange(10.0)], dim=1)[None].double()  # (1, 10, 2)
    p = net.patches(x)  # (1, 2, N, 4)
    assert p.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(p[0, 0].numpy(), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 9, 9, 9]])
    np.testing.assert_array_equal(p[0, 1].numpy(), 100 + p[0, 0].numpy())  # channels are never mixed


@pytest.mark.parametrize(("window", "channels"), [(8, 1), (8, 12), (16, 5), (33, 3)])
def test_output_shape(window, channels):
    net = _net(channels, window=window)
    out = net(torch.randn(7, window, channels, dtype=torch.float64))
    assert out.shape == (7, 3) and torch.isfinite(out).all()


def test_the_whole_window_is_read():
    net = _net(3, window=16)
    x = torch.randn(2, 16, 3, dtype=torch.float64)
    for row in (0, 15):
        y = x.clone()
        y[:, row, 1] += 1.0
        assert not torch.allclose(net(x), net(y)), f"row {row} is not read"


def test_channels_are_encoded_independently_with_shared_weights():
    net = _net(4)
    seen = []
    net.encoder.register_forward_hook(lambda mod, inp, out: seen.append(out.detach().clone()))
    x = torch.randn(3, 8, 4, dtype=torch.float64)
    y = x.clone()
    y[:, :, 2] = torch.randn(3, 8, dtype=torch.float64)  # change channel 2 only
    net(x), net(y)
    a, b = (h.reshape(3, 4, net.n_patches, -1) for h in seen)  # (B, C, N, d)
    changed = (a - b).abs().amax(dim=(0, 2, 3))
    assert changed[2] > 1e-6 and torch.all(changed[[0, 1, 3]] == 0)
    # a channel's encoding does not depend on its index either: the same series gives the same encoding anywhere
    z = torch.randn(1, 8, 1, dtype=torch.float64).expand(1, 8, 4).contiguous()
    seen.clear()
    net(z)
    h = seen[0].reshape(1, 4, net.n_patches, -1)
    assert _max_diff(h[0, 0].expand_as(h[0]), h[0]) <= 1e-12


def test_parameter_count_by_hand_and_no_batchnorm():
    c, window, p, s, d, heads, ff = 5, 12, 4, 2, 8, 2, 16
    net = _net(c, window=window, patch_len=p, stride=s, d_model=d, n_heads=heads, d_ff=ff, layers=2)
    n = n_patches(window, p, s)
    layer = (3 * d * d + 3 * d) + (d * d + d) + (d * ff + ff) + (ff * d + d) + 2 * 2 * d  # attn, out, ffn, 2 norms
    expected = (p * d + d) + n * d + 2 * layer + 2 * d + (c * d * n * 3 + 3)  # embed, positions, final norm, head
    assert sum(t.numel() for t in net.parameters()) == expected
    # only the head grows with the channels: the encoder is shared by all of them
    assert sum(t.numel() for t in _net(c + 3, window=window, patch_len=p, stride=s, d_model=d, n_heads=heads,
                                       d_ff=ff, layers=2).parameters()) == expected + 3 * d * n * 3
    kinds = {type(m).__name__ for m in net.modules()}
    assert "LayerNorm" in kinds and not [k for k in kinds if "BatchNorm" in k]


def test_each_window_is_scored_alone():
    net = _net(3)
    x = torch.randn(9, 8, 3, dtype=torch.float64)
    slow = net(x)  # autograd on: torch's reference encoder path
    assert _max_diff(slow[4:5], net(x[4:5])) <= 1e-12
    with torch.inference_mode():  # torch's fused encoder path, the one serving takes
        fast = net(x)
        assert _max_diff(fast[4:5], net(x[4:5])) <= 1e-12
    assert _max_diff(fast, slow) <= 1e-12


@pytest.mark.parametrize(("settings", "match"), [
    ({"d_model": 10, "n_heads": 4}, "multiple of n_heads"),
    ({"patch_len": 4, "stride": 5}, "must not exceed patch_len"),
    ({"window": 8, "patch_len": 16, "stride": 4}, "one patch to fit"),
    ({"patch_len": 0}, "patch_len"),
    ({"d_ff": 0}, "d_ff"),
])
def test_bad_settings_are_config_errors(settings, match):
    with pytest.raises(ConfigError, match=match):
        create_model("patchtst", **settings)


def test_yaml_profiles_build():
    from factory.models.config import load_model_config

    cpu = load_model_config("patchtst")
    full = load_model_config("patchtst", overrides={"profile": "full"})
    assert (cpu.window, cpu.patch_len, cpu.stride) == (32, 16, 8)
    assert (full.window, full.d_model, full.n_heads, full.layers, full.d_ff, full.dropout, full.revin) == \
        (512, 256, 8, 3, 512, 0.2, True)
