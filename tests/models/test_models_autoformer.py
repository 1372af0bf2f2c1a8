"""Autoformer: FFT auto-correlation lags per window, time-delay aggregation, the encoder and its causality."""

from __future__ import annotations

import math

import pytest

from factory.errors import ConfigError
from factory.models import create_model
from factory.models.attention.autoformer import (AutoformerModel, _network, delay_aggregate, lag_correlations, n_lags,
                                                 top_lags)

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _module(window=8, channels=5, **extra):
    params = {**AutoformerModel.get_test_params(), "window": window, **extra}
    torch.manual_seed(0)
    return create_model("autoformer", **params).build_module(channels).eval()


def test_lag_correlations_equal_the_circular_sum():
    torch.manual_seed(0)
    q, k = torch.randn(2, 10, 2, 3, dtype=torch.float64), torch.randn(2, 10, 2, 3, dtype=torch.float64)
    corr = lag_correlations(q, k)  # (B, L)
    expected = torch.stack([(torch.roll(q, -tau, dims=1) * k).sum(dim=1).mean(dim=(1, 2)) for tau in range(10)],
                           dim=1)  # sum_t q(t + tau) k(t), mean over heads and channels
    torch.testing.assert_close(corr, expected, rtol=0, atol=1e-12)


def test_the_top_lag_is_each_windows_own_shift():
    torch.manual_seed(1)
    k = torch.randn(3, 24, 2, 4, dtype=torch.float64)
    shifts = [3, 7, 0]
    q = torch.stack([torch.roll(k[i], s, dims=0) for i, s in enumerate(shifts)])  # q(t) = k(t - s)
    lags, weights = top_lags(lag_correlations(q, k), 2)
    # one lag for the whole batch (Time-Series-Library's training path) could not give each its own
    assert lags[:, 0].tolist() == shifts
    assert (weights[:, 0] > weights[:, 1]).all()


def test_top_lags_ties_go_to_the_shorter_lag():
    lags, _ = top_lags(torch.zeros(2, 6), 3)
    assert lags.tolist() == [[0, 1, 2]] * 2


def test_delay_aggregation_rolls_the_values_within_the_window():
    torch.manual_seed(2)
    v = torch.randn(2, 9, 2, 3, dtype=torch.float64)
    lags = torch.tensor([[4], [1]])
    out = delay_aggregate(v, lags, torch.zeros(2, 1, dtype=torch.float64))  # one lag: weight 1
    torch.testing.assert_close(out[0], torch.roll(v[0], -4, dims=0))  # out(t) = v(t + 4 mod L)
    torch.testing.assert_close(out[1], torch.roll(v[1], -1, dims=0))
    # two lags: the softmax of their correlations weighs the rolled values
    lags2, w2 = torch.tensor([[2, 5]] * 2), torch.tensor([[1.0, 0.0]] * 2, dtype=torch.float64)
    share = torch.softmax(w2[0], dim=0)
    expected = share[0] * torch.roll(v, -2, dims=1) + share[1] * torch.roll(v, -5, dims=1)
    torch.testing.assert_close(delay_aggregate(v, lags2, w2), expected)


def test_the_number_of_lags_is_factor_log_window():
    assert [n_lags(n, 1) for n in (3, 8, 32, 96)] == [1, 2, 3, 4]
    assert n_lags(96, 3) == int(3 * math.log(96))
    assert n_lags(4, 10) == 4  # never more lags than the window has


def test_auto_correlation_layer_output_shape():
    layer = _network().AutoCorrelation(8, 2, 1)
    assert layer(torch.randn(3, 12, 8)).shape == (3, 12, 8)


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
    net = _module(16, 5).to(dtype)
    x = torch.randn(32, 16, 5, dtype=dtype)
    x[:4] *= 10  # windows of very different scale in the same batch
    together = net(x)
    for i in (0, 1, 5, 20):
        alone = net(x[i:i + 1])
        assert (together[i:i + 1] - alone).abs().max() < tol


def test_training_and_inference_compute_the_same_function_without_dropout():
    """Time-Series-Library chooses lags per batch in training and per window in inference; here both are per
    window, so with dropout 0 the two modes agree."""
    net = _module(12, 4)  # test settings: dropout 0
    x = torch.randn(6, 12, 4)
    eval_out = net(x)
    net.train()
    torch.testing.assert_close(net(x), eval_out)


def test_the_encoder_layer_keeps_the_seasonal_part():
    """Both decompositions remove the trailing moving average: a constant input leaves nothing."""
    torch.manual_seed(0)
    layer = _network().EncoderLayer(8, 2, 16, 3, 1, 0.0).double().eval()
    out = layer(torch.full((2, 10, 8), 3.0, dtype=torch.float64))
    assert out.abs().max() < 1e-12


def test_there_is_no_batchnorm():
    net = _module(8, 4)
    assert not [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def test_settings_are_validated():
    base = AutoformerModel.get_test_params()
    with pytest.raises(ConfigError, match="n_heads"):
        create_model("autoformer", **{**base, "d_model": 10, "n_heads": 3})
    with pytest.raises(ConfigError, match="no lag"):
        create_model("autoformer", **{**base, "window": 2})  # int(1 * ln 2) = 0
    create_model("autoformer", **{**base, "window": 3})
    for bad in ({"d_model": 0}, {"n_heads": 0}, {"layers": 0}, {"d_ff": 0}, {"moving_avg": 0}, {"factor": 0}):
        with pytest.raises(ConfigError):
            create_model("autoformer", **{**base, **bad})
