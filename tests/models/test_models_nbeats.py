"""N-BEATS: shapes, the whole window read, the trend and Fourier bases, the doubly residual arithmetic, shared
weights, the interpretable stacks learning, settings errors and the YAML profiles."""

from __future__ import annotations

import numpy as np
import pytest

from factory.errors import ConfigError
from factory.models import create_model, load_model, load_model_config
from factory.models.ssm_mlp import nbeats  # registers "nbeats" (also when the package does not import it yet)
from factory.models.testing import make_toy_windows

torch = pytest.importorskip("torch")

INTERPRETABLE = {"stack_types": ["trend", "seasonality"], "blocks_per_stack": 2, "units": [16, 24], "layers": 2,
                 "degree": 2, "signals": 3, "horizon": 6}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net(n_channels: int = 5, **settings):
    torch.manual_seed(0)
    return nbeats.NBEATSModel(**{"window": 12, **settings}).build_module(n_channels).double().eval()


@pytest.mark.parametrize("settings", [{}, INTERPRETABLE, {**INTERPRETABLE, "share_weights": True}])
@pytest.mark.parametrize(("window", "channels"), [(4, 1), (12, 7), (33, 196)])
def test_output_shape_for_several_windows_and_channel_counts(settings, window, channels):
    net = _net(channels, **{**settings, "window": window, "degree": min(settings.get("degree", 3), window - 1)})
    out = net(torch.randn(3, window, channels, dtype=torch.float64))
    assert out.shape == (3, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("settings", [{}, INTERPRETABLE])
def test_the_first_row_of_the_window_changes_the_output(settings):
    net = _net(4, **settings)
    x = torch.randn(2, 12, 4, dtype=torch.float64)
    y = x.clone()
    y[:, 0, :] += 1.0  # only the oldest bar differs
    with torch.no_grad():
        assert (net(x) - net(y)).abs().max() > 1e-6
        # and each window is scored alone: nothing mixes the samples of a batch
        torch.testing.assert_close(net(x)[1:], net(x[1:]), rtol=0, atol=1e-12)


def test_trend_basis_is_the_polynomial_of_the_given_degree_over_the_window():
    basis = nbeats.trend_basis(3, 8)
    t = np.arange(8) / 8
    np.testing.assert_array_equal(basis, np.stack([np.ones(8), t, t ** 2, t ** 3]))
    # a trend block's backcast is a polynomial of degree `degree` in each series: its (degree + 1)-th
    # differences over the window vanish, its degree-th do not
    net = _net(4, **{**INTERPRETABLE, "stack_types": ["trend"], "units": [16]})
    block = net.stacks[0][0]
    assert torch.equal(block.basis_b, torch.tensor(nbeats.trend_basis(2, 12), dtype=torch.float64))
    assert block.basis_f.shape == (3, 6)  # degree 2 over the latent horizon of 6 steps
    with torch.no_grad():
        backcast, forecast = block(torch.randn(5, 12, 3, dtype=torch.float64))
    diffs = np.diff(backcast.numpy(), n=3, axis=1)
    assert np.abs(diffs).max() < 1e-9
    assert np.abs(np.diff(backcast.numpy(), n=2, axis=1)).max() > 1e-6
    assert forecast.shape == (5, 3 * 6)


def test_fourier_basis_has_a_constant_and_the_papers_harmonics():
    length = 16
    basis = nbeats.fourier_basis(length)
    n = nbeats.harmonics(length)
    assert n == length // 2 - 1 == 7 and basis.shape == (2 * n + 1, length)
    np.testing.assert_array_equal(basis[0], np.ones(length))
    spectrum = np.abs(np.fft.rfft(basis[1:], axis=1))  # each cos / sin row is one pure frequency
    peaks = spectrum.argmax(axis=1)
    np.testing.assert_array_equal(peaks, np.concatenate([np.arange(1, n + 1)] * 2))
    off_peak = spectrum.copy()
    off_peak[np.arange(2 * n), peaks] = 0
    assert off_peak.max() < 1e-9
    # cos and sin rows of one frequency: the cos starts at 1, the sin at 0, as cos / sin(2 pi n t) with t = i / T
    t = np.arange(length) / length
    np.testing.assert_allclose(basis[1 + 2], np.cos(2 * np.pi * 3 * t), atol=1e-12)
    np.testing.assert_allclose(basis[1 + n + 2], np.sin(2 * np.pi * 3 * t), atol=1e-12)
    assert nbeats.harmonics(2) == nbeats.harmonics(4) == 1  # short axes keep one harmonic
    seasonal = _net(4, **{**INTERPRETABLE, "stack_types": ["seasonality"], "units": [16]}).stacks[0][0]
    assert seasonal.basis_b.shape == (2 * 5 + 1, 12) and seasonal.basis_f.shape == (2 * 2 + 1, 6)


@pytest.mark.parametrize("settings", [{}, INTERPRETABLE])
def test_each_block_reads_the_residual_left_by_the_previous_ones(settings):
    net = _net(4, **settings)
    x = torch.randn(3, 12, 4, dtype=torch.float64)
    seen = []
    hooks = [b.register_forward_hook(lambda m, inp, out: seen.append((inp[0], out))) for b in net.modules()
             if isinstance(b, type(net.stacks[0][0]))]
    with torch.no_grad():
        logits = net(x)
        residual = net.adapter(x)  # (B, L, k)
        total = 0
        for inp, (backcast, forecast) in seen:
            torch.testing.assert_close(inp, residual, rtol=0, atol=0)
            residual = residual - backcast  # the backcast is subtracted, as in the paper
            total = total + forecast  # the forecasts are summed
        torch.testing.assert_close(logits, net.head(total), rtol=0, atol=0)
    for h in hooks:
        h.remove()
    assert len(seen) == len(settings.get("stack_types", ["generic"] * 2)) * settings.get("blocks_per_stack", 1)


def test_shared_weights_store_one_block_per_stack_and_apply_it_each_time(tmp_path):
    shared = _net(4, **{**INTERPRETABLE, "share_weights": True, "blocks_per_stack": 3})
    separate = _net(4, **{**INTERPRETABLE, "blocks_per_stack": 3})
    assert [len(s) for s in shared.stacks] == [1, 1] and [len(s) for s in separate.stacks] == [3, 3]
    n_shared = sum(p.numel() for p in shared.parameters())
    n_block = sum(sum(p.numel() for p in s[0].parameters()) for s in separate.stacks)
    assert sum(p.numel() for p in separate.parameters()) - n_shared == 2 * n_block
    calls = []
    shared.stacks[0][0].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        shared(torch.randn(2, 12, 4, dtype=torch.float64))
    assert len(calls) == 3
    # the shared block saves as one set of tensors (safetensors refuses aliased ones) and reloads exactly
    X, y = make_toy_windows(200, 8, 5, seed=0)
    params = {**nbeats.NBEATSModel.tiny_params(), **INTERPRETABLE, "share_weights": True, "epochs": 2}
    model = create_model("nbeats", **params).fit(X, y)
    loaded = load_model(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_interpretable_stacks_learn_the_toy_signal():
    X, y = make_toy_windows(600, 8, 12, seed=0)
    Xv, yv = make_toy_windows(200, 8, 12, seed=1)
    params = {**nbeats.NBEATSModel.tiny_params(), **INTERPRETABLE, "blocks_per_stack": 1}
    model = create_model("nbeats", **params).fit(X, y, eval_set=(Xv, yv))
    assert (model.predict(Xv) == yv).mean() > 0.4


@pytest.mark.parametrize(("settings", "match"), [
    ({"units": [8, 8, 8]}, "units needs one width or one per stack"),
    ({"stack_types": []}, "stack_types"),
    ({"stack_types": ["trend", "fourier"]}, "stack_types"),
    ({"stack_types": ["trend"], "window": 4, "degree": 4}, "degree"),
    ({"units": [0]}, "units"),
    ({"signals": 0}, "signals"),
    ({"horizon": 0}, "horizon"),
    ({"blocks_per_stack": 0}, "blocks_per_stack"),
    ({"degree": -1}, "degree"),
])
def test_bad_settings_are_config_errors(settings, match):
    with pytest.raises(ConfigError, match=match):
        create_model("nbeats", **settings)


def test_profiles_cpu_generic_and_full_the_published_interpretable_model():
    cpu = load_model_config("nbeats")
    assert (cpu.stack_types, cpu.blocks_per_stack, cpu.layers, cpu.units, cpu.window) == (
        ["generic", "generic"], 1, 2, [64], 32)
    full = load_model_config("nbeats", overrides={"profile": "full"})
    assert (full.stack_types, full.blocks_per_stack, full.layers, full.stack_units(), full.degree, full.window,
            full.share_weights) == (["trend", "seasonality"], 3, 4, [256, 2048], 3, 96, True)
    with torch.device("meta"):  # shapes only: no 16M weights allocated
        net = nbeats.NBEATSModel(**full.model_dump()).build_module(196)
    trend, seasonality = net.stacks[0][0], net.stacks[1][0]
    assert trend.fc[0].in_features == 96 * full.signals and trend.fc[-2].out_features == 256
    assert seasonality.fc[-2].out_features == 2048 and len(trend.fc) == len(seasonality.fc) == 2 * 4
