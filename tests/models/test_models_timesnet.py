"""TimesNet: per-window FFT periods, the 1-D -> 2-D folding, TimesBlocks and the whole module's causality."""

from __future__ import annotations

import math

import numpy as np
import pytest

from factory.errors import ConfigError
from factory.models import create_model
from factory.models.recurrent_conv.timesnet import TimesNetModel, _network, fft_periods, fold, unfold

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _module(window=8, channels=5, **extra):
    params = {**TimesNetModel.get_test_params(), "window": window, **extra}
    torch.manual_seed(0)
    return create_model("timesnet", **params).build_module(channels).eval()


def _sines(length: int, periods: list[int], d: int = 3, dtype=torch.float64):
    t = torch.arange(length, dtype=dtype)
    rows = [torch.sin(2 * math.pi * t / p)[:, None].expand(length, d) for p in periods]
    return torch.stack(rows)  # (B, L, d)


def test_fft_periods_finds_each_windows_own_period():
    x = _sines(32, [8, 4, 16])
    periods, amp = fft_periods(x, 1)
    # a batch-wide choice (Time-Series-Library's) would give every window the same period
    assert periods[:, 0].tolist() == [8, 4, 16]
    assert amp.shape == (3, 1) and (amp > 1).all()


def test_fft_periods_ignores_the_mean_and_ranks_by_amplitude():
    t = torch.arange(24, dtype=torch.float64)
    x = (10.0 + 2.0 * torch.sin(2 * math.pi * t / 6) + 1.0 * torch.sin(2 * math.pi * t / 3))[None, :, None]
    periods, amp = fft_periods(x, 2)
    assert periods[0].tolist() == [6, 3]  # the large constant (frequency 0) is never a period
    assert amp[0, 0] > amp[0, 1] > 0


def test_fft_periods_ties_go_to_the_lower_frequency():
    periods, amp = fft_periods(torch.zeros(2, 16, 3), 3)  # every amplitude 0: a pure tie
    assert periods.tolist() == [[16, 8, 5]] * 2  # frequencies 1, 2, 3
    assert (amp == 0).all()


def test_fold_pads_the_end_with_zeros_and_unfold_crops_it():
    x = torch.arange(1.0, 11.0).reshape(1, 10, 1)  # bars 1..10, one channel
    grid = fold(x, 4)  # (1, 1, 3, 4)
    assert grid.shape == (1, 1, 3, 4)
    np.testing.assert_array_equal(grid[0, 0].numpy(), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 0, 0]])
    np.testing.assert_array_equal(unfold(grid, 10).numpy(), x.numpy())
    assert fold(x, 5).shape == (1, 1, 2, 5)  # a divisor: no padding


def test_inception_averages_odd_kernels_of_same_size():
    torch.manual_seed(0)
    inception = _network().Inception(3, 4, 3)
    assert [conv.kernel_size for conv in inception.kernels] == [(1, 1), (3, 3), (5, 5)]
    x = torch.randn(2, 3, 4, 5)
    expected = sum(conv(x) for conv in inception.kernels) / 3
    torch.testing.assert_close(inception(x), expected)


def test_times_block_matches_a_per_window_reference():
    """The grouped computation (windows of one period convolved together) equals the block's formula computed
    window by window: fold each of the window's periods, convolve, unfold, softmax-weighted sum, residual."""
    torch.manual_seed(1)
    block = _network().TimesBlock(3, 4, 2, 2).double().eval()
    x = _sines(12, [4, 6, 3]) + 0.3 * _sines(12, [12, 2, 6]) + 0.01 * torch.randn(3, 12, 3, dtype=torch.float64)
    out = block(x)
    periods, amp = fft_periods(x, 2)
    assert len(set(periods.reshape(-1).tolist())) > 2  # the batch really mixes periods
    for i in range(3):
        branches = [unfold(block.conv(fold(x[i:i + 1], int(p))), 12) for p in periods[i]]
        weight = torch.softmax(amp[i], dim=0)
        expected = sum(w * br for w, br in zip(weight, branches)) + x[i:i + 1]
        torch.testing.assert_close(out[i:i + 1], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("window,channels", [(8, 12), (11, 3), (32, 7)])
def test_output_shape_for_several_windows_and_channels(window, channels):
    net = _module(window, channels, layers=2)
    assert net(torch.randn(4, window, channels)).shape == (4, 3)


def test_the_whole_window_is_read():
    net = _module(16, 4).double()
    x = torch.randn(1, 16, 4, dtype=torch.float64)
    y = x.clone()
    y[0, 0] += 1.0  # only the window's first (oldest) row differs
    assert (net(x) - net(y)).abs().max() > 1e-6


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_a_window_ignores_the_other_windows_of_its_batch(dtype, tol):
    net = _module(16, 5, top_k=3).to(dtype)
    x = torch.randn(32, 16, 5, dtype=dtype)
    x[:8] += _sines(16, [4, 8, 16, 3] * 2, d=5, dtype=dtype) * 3  # distinct dominant periods in one batch
    together = net(x)
    for i in (0, 1, 3, 20):
        alone = net(x[i:i + 1])
        assert (together[i:i + 1] - alone).abs().max() < tol


def test_training_and_inference_compute_the_same_function_without_dropout():
    net = _module(8, 4)  # test settings: dropout 0
    x = torch.randn(6, 8, 4)
    eval_out = net(x)
    net.train()
    torch.testing.assert_close(net(x), eval_out)


def test_there_is_no_batchnorm():
    net = _module(8, 4)
    assert not [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def test_settings_are_validated():
    base = TimesNetModel.get_test_params()
    with pytest.raises(ConfigError, match="top_k"):
        create_model("timesnet", **{**base, "window": 8, "top_k": 5})  # 4 non-zero frequencies
    create_model("timesnet", **{**base, "window": 8, "top_k": 4})
    for bad in ({"d_model": 0}, {"d_ff": 0}, {"top_k": 0}, {"layers": 0}, {"num_kernels": 0}):
        with pytest.raises(ConfigError):
            create_model("timesnet", **{**base, **bad})
