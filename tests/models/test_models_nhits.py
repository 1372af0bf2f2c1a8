"""N-HiTS: shapes, the whole window read, pooling over the window's own bars, the pooled and knot sizes, the
hierarchical interpolation, the doubly residual arithmetic, settings errors and the YAML profiles."""

from __future__ import annotations

import pytest

from factory.errors import ConfigError
from factory.models import create_model, load_model_config
from factory.models.ssm_mlp import nhits  # registers "nhits" (also when the package does not import it yet)

torch = pytest.importorskip("torch")

SMALL = {"window": 10, "pool_kernels": [4, 3, 1], "freq_downsample": [4, 2, 1], "units": 16, "signals": 3,
         "horizon": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net(n_channels: int = 5, **settings):
    torch.manual_seed(0)
    return nhits.NHITSModel(**{**SMALL, **settings}).build_module(n_channels).double().eval()


@pytest.mark.parametrize(("window", "channels"), [(4, 1), (10, 7), (33, 196)])
@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_output_shape_for_several_windows_and_channel_counts(window, channels, interpolation):
    net = _net(channels, window=window, pool_kernels=[4, 3, 1], interpolation=interpolation)
    out = net(torch.randn(3, window, channels, dtype=torch.float64))
    assert out.shape == (3, 3) and torch.isfinite(out).all()


def test_the_first_row_of_the_window_changes_the_output_even_when_every_stack_pools():
    net = _net(4, pool_kernels=[4, 3, 3])  # 10 bars: every stack pads its front run
    x = torch.randn(2, 10, 4, dtype=torch.float64)
    y = x.clone()
    y[:, 0, :] += 5.0  # only the oldest bar differs (upwards, so it wins the max of its run)
    with torch.no_grad():
        assert (net(x) - net(y)).abs().max() > 1e-6
        torch.testing.assert_close(net(x)[1:], net(x[1:]), rtol=0, atol=1e-12)  # samples scored alone


def test_pooling_runs_end_on_the_last_bar_and_pad_the_front_with_the_first_value():
    x = torch.randn(2, 3, 10, dtype=torch.float64)  # (B, k, L)
    pooled = nhits.pool_window(x, 4)
    assert pooled.shape == (2, 3, 3) == (2, 3, nhits.pooled_length(10, 4))
    # runs: [x0 x0 x0 x1] [x2 .. x5] [x6 .. x9]: the front run holds the window's first two bars only
    torch.testing.assert_close(pooled[..., 0], x[..., :2].amax(-1), rtol=0, atol=0)
    torch.testing.assert_close(pooled[..., 1], x[..., 2:6].amax(-1), rtol=0, atol=0)
    torch.testing.assert_close(pooled[..., 2], x[..., 6:10].amax(-1), rtol=0, atol=0)
    spike = x.clone()
    spike[..., -1] = 100.0  # the last bar reaches the last pooled value and no other
    out = nhits.pool_window(spike, 4)
    assert (out[..., 2] == 100.0).all() and (out[..., :2] < 100.0).all()
    assert nhits.pool_window(x, 1) is x
    assert nhits.pool_window(x, 5).shape[-1] == 2 and nhits.pool_window(x, 10).shape[-1] == 1
    torch.testing.assert_close(nhits.pool_window(x, 10)[..., 0], x.amax(-1), rtol=0, atol=0)


def test_pooled_input_and_knot_sizes_of_the_published_setting():
    full = load_model_config("nhits", overrides={"profile": "full"})
    assert (full.window, full.pool_kernels, full.freq_downsample, full.layers, full.units) == (
        96, [16, 8, 1], [24, 12, 1], 2, 512)
    with torch.device("meta"):  # shapes only
        net = nhits.NHITSModel(**full.model_dump()).build_module(196)
    k, h = full.signals, full.horizon
    assert [b.fc[0].in_features for b in net.blocks] == [k * 6, k * 12, k * 96]  # ceil(96 / p) per series
    assert [b.knots for b in net.blocks] == [1, 2, 24] == [nhits.n_knots(h, f) for f in (24, 12, 1)]
    assert [b.theta.out_features for b in net.blocks] == [96 * k + k * n for n in (1, 2, 24)]
    assert len(net.blocks) == 3 and all(len(b.fc) == 2 * 2 for b in net.blocks)
    assert nhits.n_knots(4, 8) == 1  # never fewer than one knot


def _block_with_knots(values, horizon: int, interpolation: str = "linear"):
    """A block whose coarse forecast is the fixed ``values`` (the theta map zeroed, its bias set)."""
    net = _net(2, pool_kernels=[1], freq_downsample=[horizon // len(values)], signals=1, horizon=horizon,
               interpolation=interpolation)
    block = net.blocks[0]
    with torch.no_grad():
        block.theta.weight.zero_()
        block.theta.bias.zero_()
        block.theta.bias[-len(values):] = torch.tensor(values, dtype=torch.float64)
    _, forecast = block(torch.randn(1, 10, 1, dtype=torch.float64))
    return forecast[0].detach()


def test_the_coarse_forecast_is_interpolated_to_the_horizon():
    one = _block_with_knots([2.5], 8)
    torch.testing.assert_close(one, torch.full((8,), 2.5, dtype=torch.float64))  # one knot: a level
    two = _block_with_knots([1.0, 3.0], 4)  # half-pixel linear interpolation, held at the ends
    torch.testing.assert_close(two, torch.tensor([1.0, 1.5, 2.5, 3.0], dtype=torch.float64))
    nearest = _block_with_knots([1.0, 3.0], 4, "nearest")
    torch.testing.assert_close(nearest, torch.tensor([1.0, 1.0, 3.0, 3.0], dtype=torch.float64))
    full_res = _block_with_knots([1.0, -2.0, 0.5, 4.0], 4)  # the finest stack: knots are the forecast
    torch.testing.assert_close(full_res, torch.tensor([1.0, -2.0, 0.5, 4.0], dtype=torch.float64))


def test_each_block_reads_the_residual_left_by_the_previous_ones():
    net = _net(4, blocks_per_stack=2)
    x = torch.randn(3, 10, 4, dtype=torch.float64)
    seen = []
    for b in net.blocks:
        b.register_forward_hook(lambda m, inp, out: seen.append((inp[0], out)))
    with torch.no_grad():
        logits = net(x)
        residual = net.adapter(x)  # (B, L, k)
        total = 0
        for inp, (backcast, forecast) in seen:
            torch.testing.assert_close(inp, residual, rtol=0, atol=0)
            assert backcast.shape == (3, 10, 3) and forecast.shape == (3, 3 * 8)
            residual = residual - backcast
            total = total + forecast
        torch.testing.assert_close(logits, net.head(total), rtol=0, atol=0)
    assert len(seen) == 3 * 2 and [b.kernel for b in net.blocks] == [4, 4, 3, 3, 1, 1]  # coarse stacks first


@pytest.mark.parametrize(("settings", "match"), [
    ({"pool_kernels": [4, 2], "freq_downsample": [4, 2, 1]}, "one entry per stack"),
    ({"pool_kernels": [], "freq_downsample": []}, "pool_kernels"),
    ({"pool_kernels": [0, 2, 1]}, "pool_kernels"),
    ({"freq_downsample": [0, 2, 1]}, "freq_downsample"),
    ({"window": 8, "pool_kernels": [16, 2, 1]}, "must not exceed window"),
    ({"interpolation": "cubic"}, "interpolation"),
    ({"units": 0}, "units"),
    ({"signals": 0}, "signals"),
    ({"horizon": 0}, "horizon"),
])
def test_bad_settings_are_config_errors(settings, match):
    with pytest.raises(ConfigError, match=match):
        create_model("nhits", **settings)


def test_cpu_profile_is_small():
    cpu = load_model_config("nhits")
    assert (cpu.window, cpu.pool_kernels, cpu.freq_downsample, cpu.units, cpu.layers) == (32, [4, 2, 1], [4, 2, 1],
                                                                                         64, 2)
    net = nhits.NHITSModel(**cpu.model_dump()).build_module(196)
    assert sum(p.numel() for p in net.parameters()) < 200_000
