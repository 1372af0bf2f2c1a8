"""TiDE: the residual block's formula, the per-bar feature projection, the encoder input (projected window plus the
last bar's raw inputs), distinct (unshared) blocks, a hand-counted parameter total, shapes, the whole window read,
and settings validation."""

from __future__ import annotations

import pytest

import factory.models.ssm_mlp.tide  # noqa: F401  (registers the key before its central import line exists)
from factory.errors import ConfigError
from factory.models import create_model, get_model_class

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _net(n_channels: int, **settings):
    torch.manual_seed(0)
    params = {**get_model_class("tide").get_test_params(), **settings}
    return create_model("tide", **params)._network(n_channels).double().eval()


def test_residual_block_is_dense_relu_dense_dropout_plus_a_linear_skip_then_layernorm():
    block = _net(3).project  # C=3 -> feature_hidden 8 -> temporal_width 2
    x = torch.randn(5, 3, dtype=torch.float64)
    F = torch.nn.functional
    with torch.no_grad():
        want = F.layer_norm(block.out(F.relu(block.dense(x))) + block.skip(x), (2,), block.norm.weight,
                            block.norm.bias)
        assert float((block(x) - want).abs().max()) <= 1e-12
    assert block.dense.out_features == 8 and block.out.out_features == 2 and block.skip.in_features == 3


def test_the_projection_acts_on_every_bar_alone():
    net = _net(4, window=6)
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    with torch.no_grad():
        whole = net.project(x)  # (B, L, temporal_width)
        for t in range(6):
            assert float((whole[:, t] - net.project(x[:, t])).abs().max()) <= 1e-12


def test_encoder_reads_the_projected_window_and_the_last_bars_raw_inputs():
    net = _net(5, window=7)
    assert net.encoder[0].dense.in_features == 7 * 2 + 5
    with torch.no_grad():  # the projection gives 0 for every bar: only the last bar's raw inputs remain
        for p in net.project.parameters():
            p.zero_()
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    y = x.clone()
    y[:, :-1] += torch.randn(3, 6, 5, dtype=torch.float64)  # every bar but the last
    assert torch.equal(net(x), net(y))
    y[:, -1, 4] += 1.0
    assert not torch.allclose(net(x), net(y))


def test_blocks_are_distinct_and_the_parameter_count_is_by_hand():
    c, w, h, r, fh, p = 196, 32, 128, 4, 64, 16  # the cpu profile
    net = create_model("tide", window=w, hidden=h, encoder_layers=2, decoder_layers=2, temporal_width=r,
                       feature_hidden=fh, decoder_dim=p)._network(c)

    def block(d_in, d_hidden, d_out):
        return d_in * d_hidden + d_hidden + d_hidden * d_out + d_out + d_in * d_out + d_out + 2 * d_out

    flat = w * r + c
    total = block(c, fh, r) + block(flat, h, h) + block(h, h, h) + block(h, h, h) + block(h, h, p) + (p * 3 + 3)
    assert sum(q.numel() for q in net.parameters()) == total
    ids = [id(m) for m in list(net.encoder) + list(net.decoder)]
    assert len(set(ids)) == 4
    assert net.decoder[-1].out.out_features == p and net.head.out.in_features == p
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())


@pytest.mark.parametrize(("window", "channels", "enc", "dec"), [(8, 1, 1, 1), (8, 12, 2, 3), (16, 5, 3, 1),
                                                                (33, 3, 1, 2)])
def test_output_shape(window, channels, enc, dec):
    net = _net(channels, window=window, encoder_layers=enc, decoder_layers=dec)
    assert len(net.encoder) == enc and len(net.decoder) == dec
    out = net(torch.randn(4, window, channels, dtype=torch.float64))
    assert out.shape == (4, 3) and torch.isfinite(out).all()


def test_the_whole_window_is_read():
    net = _net(3, window=12)
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    for row, ch in ((0, 0), (0, 2), (6, 1), (11, 0)):
        y = x.clone()
        y[:, row, ch] += 1.0
        assert not torch.allclose(net(x), net(y)), f"row {row} channel {ch} is not read"


def test_dropout_is_active_in_training_only():
    net = _net(3, dropout=0.5).train()
    x = torch.randn(4, 8, 3, dtype=torch.float64)
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


@pytest.mark.parametrize("bad", [{"hidden": 0}, {"encoder_layers": 0}, {"decoder_layers": 0},
                                 {"temporal_width": 0}, {"feature_hidden": 0}, {"decoder_dim": 0}])
def test_settings_are_validated(bad):
    with pytest.raises(ConfigError):
        create_model("tide", **bad)


def test_the_yaml_profiles_validate_and_full_is_the_published_setting():
    import yaml

    from factory.models.config import MODELS_CONFIG_DIR, load_model_config

    raw = yaml.safe_load((MODELS_CONFIG_DIR / "tide.yaml").read_text())
    cpu = load_model_config("tide")
    assert {k: v for k, v in raw.items() if k not in ("profile", "profiles")}.items() <= cpu.model_dump().items()
    full = load_model_config("tide", overrides={"profile": "full"})
    assert (full.window, full.hidden, full.encoder_layers, full.decoder_layers, full.temporal_width,
            full.decoder_dim, full.dropout) == (96, 256, 2, 2, 4, 16, 0.3)
    assert full.revin
