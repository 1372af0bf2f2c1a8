"""S-Mamba: the selective scan against a slow reference loop, the Mamba block's parameters and initialisation
(mamba_ssm's), the weight exchange with mambapy's independent implementation, the bidirectional mixing over the
variate tokens, shapes, the whole window read, the CPU path chosen without a GPU, and settings validation."""

from __future__ import annotations

import copy
import importlib.util
import math

import pytest

import factory.models.ssm_mlp.s_mamba as s_mamba_module  # registers the key before its central import line exists
from factory.errors import ConfigError
from factory.models import create_model, get_model_class

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _parts():
    return s_mamba_module.torch_parts()


def _net(n_channels: int, **settings):
    torch.manual_seed(0)
    params = {**get_model_class("s_mamba").get_test_params(), **settings}
    return create_model("s_mamba", **params)._network(n_channels).double().eval()


def _reference_scan(u, delta, A, B, C, D):
    """The recurrence written out element by element: h = exp(delta A) h + delta B u, y = C h + D u."""
    b, length, d_inner = u.shape
    n = A.shape[1]
    rows = []
    for i in range(b):
        h = [[torch.zeros((), dtype=u.dtype) for _ in range(n)] for _ in range(d_inner)]
        steps = []
        for t in range(length):
            out = []
            for d in range(d_inner):
                for k in range(n):
                    h[d][k] = torch.exp(delta[i, t, d] * A[d, k]) * h[d][k] + delta[i, t, d] * B[i, t, k] * u[i, t, d]
                out.append(sum(C[i, t, k] * h[d][k] for k in range(n)) + D[d] * u[i, t, d])
            steps.append(torch.stack(out))
        rows.append(torch.stack(steps))
    return torch.stack(rows)  # (b, L, d_inner)


def _scan_inputs(b=2, length=7, d_inner=3, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(b, length, d_inner, generator=g, dtype=torch.float64)
    delta = torch.rand(b, length, d_inner, generator=g, dtype=torch.float64) * 0.5 + 0.01
    A = -torch.rand(d_inner, n, generator=g, dtype=torch.float64) * 3 - 0.1
    B = torch.randn(b, length, n, generator=g, dtype=torch.float64)
    C = torch.randn(b, length, n, generator=g, dtype=torch.float64)
    D = torch.randn(d_inner, generator=g, dtype=torch.float64)
    return u, delta, A, B, C, D


def test_selective_scan_equals_the_reference_loop():
    args = _scan_inputs()
    got = _parts().selective_scan(*args)
    want = _reference_scan(*args)
    assert got.shape == want.shape == (2, 7, 3)
    assert float((got - want).abs().max()) <= 1e-10


def test_selective_scan_gradients_equal_the_reference_loops():
    args = [a.clone().requires_grad_(True) for a in _scan_inputs(b=1, length=5, d_inner=2, n=3, seed=1)]
    weights = torch.randn(1, 5, 2, dtype=torch.float64)
    got = torch.autograd.grad((_parts().selective_scan(*args) * weights).sum(), args)
    want = torch.autograd.grad((_reference_scan(*args) * weights).sum(), args)
    for g, w in zip(got, want):
        assert float((g - w).abs().max()) <= 1e-10


def test_the_scan_is_causal_over_the_tokens():
    u, delta, A, B, C, D = _scan_inputs(length=9)
    y = _parts().selective_scan(u, delta, A, B, C, D)
    u2 = u.clone()
    u2[:, 5] += 1.0
    y2 = _parts().selective_scan(u2, delta, A, B, C, D)
    assert torch.equal(y[:, :5], y2[:, :5]) and not torch.allclose(y[:, 5:], y2[:, 5:])


# The parameters of mamba_ssm.Mamba(d_model, d_state, d_conv, expand) (bias=False, conv_bias=True).
def _mamba_ssm_shapes(d_model, d_state, d_conv, expand):
    d_inner, dt_rank = expand * d_model, math.ceil(d_model / 16)
    return {"in_proj.weight": (2 * d_inner, d_model), "conv1d.weight": (d_inner, 1, d_conv),
            "conv1d.bias": (d_inner,), "x_proj.weight": (dt_rank + 2 * d_state, d_inner),
            "dt_proj.weight": (d_inner, dt_rank), "dt_proj.bias": (d_inner,), "A_log": (d_inner, d_state),
            "D": (d_inner,), "out_proj.weight": (d_model, d_inner)}


@pytest.mark.parametrize(("d_model", "d_state", "d_conv", "expand"), [(16, 4, 2, 1), (40, 16, 4, 2), (8, 3, 3, 3)])
def test_block_has_mamba_ssm_parameter_names_and_shapes(d_model, d_state, d_conv, expand):
    block = _parts().MambaBlock(d_model, d_state, d_conv, expand)
    shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    assert shapes == _mamba_ssm_shapes(d_model, d_state, d_conv, expand)
    assert block.conv1d.groups == expand * d_model and block.conv1d.padding == (d_conv - 1,)


def test_block_initialisation_is_mamba_ssms():
    torch.manual_seed(3)
    block = _parts().MambaBlock(64, d_state=16, d_conv=4, expand=2)  # d_inner 128, dt_rank 4
    n = torch.arange(1, 17, dtype=torch.float32)
    assert torch.equal(block.A_log, torch.log(n).repeat(128, 1))  # S4D-real: A = -(1..N) on every channel
    assert torch.equal(block.D, torch.ones(128))
    dt = torch.nn.functional.softplus(block.dt_proj.bias.detach().double())  # the initial step sizes
    assert float(dt.min()) >= 1e-3 * (1 - 1e-5) and float(dt.max()) <= 1e-1 * (1 + 1e-5)
    logs = torch.log10(dt)  # log-uniform over [1e-3, 1e-1]: the log spread covers the range, mean near -2
    assert float(logs.max() - logs.min()) > 1.5 and abs(float(logs.mean()) + 2) < 0.25
    bound = 4 ** -0.5
    w = block.dt_proj.weight.detach()
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.8 * bound  # uniform(+-dt_rank^-0.5)
    assert block.A_log._no_weight_decay and block.D._no_weight_decay


def _mambapy_block(d_model, d_state, d_conv, expand):
    mambapy = pytest.importorskip("mambapy.mamba")  # test-only dependency: pip install mambapy==1.2.0
    config = mambapy.MambaConfig(d_model=d_model, n_layers=1, d_state=d_state, expand_factor=expand, d_conv=d_conv,
                                 bias=False, conv_bias=True, pscan=False)
    return mambapy.MambaBlock(config)


@pytest.mark.parametrize(("d_model", "d_state", "d_conv", "expand"), [(16, 4, 2, 1), (20, 8, 4, 2)])
def test_weights_exchange_with_mambapy_both_ways(d_model, d_state, d_conv, expand):
    torch.manual_seed(0)
    theirs = _mambapy_block(d_model, d_state, d_conv, expand)
    ours = _parts().MambaBlock(d_model, d_state, d_conv, expand)
    assert set(theirs.state_dict()) == set(ours.state_dict())
    x = torch.randn(3, 11, d_model)
    # theirs -> ours
    ours.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        diff = float((ours(x) - theirs(x)).abs().max())
    assert diff <= 1e-5
    # ours -> theirs (fresh weights on our side, and the token axis 11 long)
    fresh = _parts().MambaBlock(d_model, d_state, d_conv, expand)
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(0.1 * torch.randn_like(p))
    theirs.load_state_dict(fresh.state_dict(), strict=True)
    with torch.no_grad():
        out = fresh(x)
        diff = float((out - theirs(x)).abs().max())
    assert diff <= 1e-5 and float(out.abs().max()) > 1e-3


def test_the_cpu_path_is_taken_without_cuda(monkeypatch):
    def kernel(*args, **kwargs):
        raise AssertionError("the fused CUDA kernel was called on the CPU")

    monkeypatch.setattr(s_mamba_module, "fused_selective_scan", lambda: kernel)
    block = _parts().MambaBlock(8, 4, 2, 1)
    assert block(torch.randn(2, 5, 8)).shape == (2, 5, 8)
    assert block.double()(torch.randn(2, 5, 8, dtype=torch.float64)).dtype == torch.float64


def _selective_scan_fn_semantics(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """What mamba_ssm's ``selective_scan_fn`` computes (its ``selective_scan_ref``), in its layout: u, delta, z
    (b, d, L); A (d, N); B, C (b, N, L); D, delta_bias (d); out (b, d, L) = (C h + D u) * silu(z)."""
    assert u.shape == delta.shape and B.shape[:2] == C.shape[:2] == (u.shape[0], A.shape[1])
    assert A.dtype == D.dtype == delta_bias.dtype == torch.float32
    delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = torch.nn.functional.softplus(delta)
    decay = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    drive = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    h = u.new_zeros(u.shape[0], A.shape[0], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        h = decay[:, :, i] * h + drive[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, i]))
    out = torch.stack(ys, dim=2) + u * D[:, None]
    return out * torch.nn.functional.silu(z)


def test_the_fused_kernel_gets_mamba_ssms_argument_layout(monkeypatch):
    """The CUDA path cannot run here: a stand-in with the kernel's documented semantics shows that the call hands
    it the arguments in its layout and that the block's output then equals the PyTorch path's."""
    torch.manual_seed(0)
    block = _parts().MambaBlock(12, 5, 3, 2)
    x = torch.randn(2, 9, 12)
    with torch.no_grad():
        want = block(x)
        monkeypatch.setattr(s_mamba_module, "fused_kernel_for", lambda u: _selective_scan_fn_semantics)
        got = block(x)
    assert float((got - want).abs().max()) <= 1e-5 and float(want.abs().max()) > 1e-3


def test_without_mamba_ssm_there_is_no_fused_kernel():
    if importlib.util.find_spec("mamba_ssm") is not None:
        pytest.skip("mamba_ssm is installed here")
    assert s_mamba_module.fused_selective_scan() is None


def _token_reach(layer, x, token):
    """Which output tokens of the layer move when one input token does."""
    y = x.clone()
    y[:, token] += 1.0
    with torch.no_grad():
        return [not torch.allclose(a, b) for a, b in zip(layer(x).unbind(1), layer(y).unbind(1))]


def test_the_forward_scan_reads_earlier_tokens_and_the_reverse_scan_later_ones():
    x = torch.randn(2, 6, 8, dtype=torch.float64)  # (B, tokens, d_model)
    both = _net(6).layers[0]
    assert _token_reach(both, x, 3) == [True] * 6  # every token hears token 3: from the front and from the back
    forward_only = _net(6).layers[0]
    reverse_only = _net(6).layers[0]
    with torch.no_grad():
        forward_only.reverse_mamba.out_proj.weight.zero_()
        reverse_only.forward_mamba.out_proj.weight.zero_()
    # token i of the forward scan reads tokens 0..i; of the reverse scan (flipped back) tokens i..C-1
    assert _token_reach(forward_only, x, 3) == [False, False, False, True, True, True]
    assert _token_reach(reverse_only, x, 3) == [True, True, True, True, False, False]


@pytest.mark.parametrize(("window", "channels"), [(8, 1), (8, 12), (16, 5), (33, 3)])
def test_output_shape(window, channels):
    net = _net(channels, window=window)
    out = net(torch.randn(4, window, channels, dtype=torch.float64))
    assert out.shape == (4, 3) and torch.isfinite(out).all()


def test_the_whole_window_and_every_channel_are_read():
    net = _net(4, window=12)
    x = torch.randn(2, 12, 4, dtype=torch.float64)
    for row, ch in ((0, 0), (0, 3), (11, 2), (5, 1)):
        y = x.clone()
        y[:, row, ch] += 1.0
        assert not torch.allclose(net(x), net(y)), f"row {row} channel {ch} is not read"


def test_float64_and_float32_agree_and_the_head_sees_every_token():
    torch.manual_seed(0)
    model = create_model("s_mamba", **get_model_class("s_mamba").get_test_params())
    net = model._network(5).eval()
    assert net.head.out.in_features == 5 * model.config.d_model
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    x = torch.randn(3, 8, 5)
    with torch.no_grad():
        a = net(x).double()
        b = copy.deepcopy(net).double()(x.double())
    assert float((a - b).abs().max()) <= 1e-4


def test_parameter_count_of_the_cpu_profile_by_hand():
    d, n, w, c, ff = 16, 4, 32, 196, 32  # the cpu profile: d_conv 2, expand 1, 1 layer
    dt_rank = 1
    block = 2 * d * d + d * 2 + d + d * (dt_rank + 2 * n) + dt_rank * d + d + d * n + d + d * d
    layer = 2 * block + 2 * 2 * d + d * ff + ff + ff * d + d
    total = (w * d + d) + layer + 2 * d + (c * d * 3 + 3)
    model = create_model("s_mamba", window=w, d_model=d, d_state=n, d_conv=2, expand=1, layers=1, d_ff=ff)
    assert sum(p.numel() for p in model._network(c).parameters()) == total


@pytest.mark.parametrize("bad", [{"d_model": 0}, {"d_state": 0}, {"d_conv": 0}, {"expand": 0}, {"layers": 0},
                                 {"d_ff": 0}])
def test_settings_are_validated(bad):
    with pytest.raises(ConfigError):
        create_model("s_mamba", **bad)


def test_the_state_dict_nests_mamba_ssm_blocks():
    keys = set(create_model("s_mamba", d_model=8, d_state=4, d_conv=2, expand=1, layers=2)._network(3).state_dict())
    for layer in (0, 1):
        for direction in ("forward_mamba", "reverse_mamba"):
            prefix = f"layers.{layer}.{direction}."
            assert {k for k in keys if k.startswith(prefix)} == {prefix + k for k in _mamba_ssm_shapes(8, 4, 2, 1)}


def test_the_yaml_profiles_validate_and_full_is_the_published_setting():
    import yaml

    from factory.models.config import MODELS_CONFIG_DIR, load_model_config

    raw = yaml.safe_load((MODELS_CONFIG_DIR / "s_mamba.yaml").read_text())
    cpu = load_model_config("s_mamba")
    assert {k: v for k, v in raw.items() if k not in ("profile", "profiles")}.items() <= cpu.model_dump().items()
    full = load_model_config("s_mamba", overrides={"profile": "full"})
    assert (full.window, full.d_model, full.d_state, full.d_conv, full.expand, full.layers, full.d_ff) == (
        96, 128, 16, 2, 1, 2, 128)
    assert full.revin and not cpu.revin
    default = get_model_class("s_mamba").Config()  # the class defaults are the cpu profile's architecture
    assert [getattr(default, k) for k in ("window", "d_model", "d_state", "d_conv", "expand", "layers", "d_ff")] == [
        getattr(cpu, k) for k in ("window", "d_model", "d_state", "d_conv", "expand", "layers", "d_ff")]
