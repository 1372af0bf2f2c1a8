"""Deep-model benchmark: training throughput, one-window latency, size and peak memory of the 11 deep window
models, against neuralforecast's implementations of the same architectures.

Usage:  python benchmarks/deep_models.py [--keys tcn,dlinear] [--window 32] [--channels 196] [--batch 256]
                                         [--batches 30] [--latency-requests 200] [--json FILE] [--train-runs] [--train-runs-only]

Measured in this run, per model key, at one shared lookback (``--window``) and channel count (``--channels``),
torch pinned to one thread, each key in a fresh subprocess:

* training throughput, windows/s: our module built from the key's ``cpu`` profile (``mlproject/models/<key>.yaml``)
  with ``window`` overridden, on batches of ``--batch`` windows gathered by index from a 2-D float32 matrix of
  random data through ``WindowView.batch`` (as the trainer does), each step the trainer's own: weighted
  cross-entropy, backward, gradient clipping, AdamW. Three warm-up batches, then ``--batches`` timed ones; the
  figure is batch / median step time. "step" times the forward, backward, clipping and optimiser step (what the
  peer's figure times too); "+gather" adds gathering the batch from the matrix and making it a tensor;
* inference latency per window: p50 of ``--latency-requests`` one-window ``predict_proba`` calls of the model
  fitted for one tiny epoch (a few hundred random windows), which is the real predict path: input checks, the
  module in float64 (``predict_precision``), softmax; and the same path with ``predict_precision: float32``;
* parameter count;
* peak memory: the rise of the resident set (Linux ``VmHWM`` after resetting it through ``/proc/self/clear_refs``;
  elsewhere ``ru_maxrss``) over the resident set before the model is built, over the whole probe (throughput,
  the tiny fit and the latency calls).

Peer, same run, same sizes: neuralforecast 3.3's LSTM, TCN, PatchTST, iTransformer, TimesNet, Autoformer,
NBEATS, NHITS, DLinear and TiDE (it has no Mamba: s_mamba has no peer), each in its own fresh subprocess. Only
its forward, loss and backward and the optimiser (AdamW, our learning rate and weight decay) step are timed, on
a ``windows_batch`` dict built as its ``training_step`` builds it (``insample_y``, ``insample_mask``,
``hist_exog``, ``futr_exog``, ``stat_exog``; ``input_size = window``, ``h = 1``, scaler ``identity``, as ours
normalises nothing), with its loss (MAE) called as training calls it. Lightning's own per-step work (hooks,
logging, the learning-rate scheduler) and building the dict from its series tensor are left out: the peer's
figure is a lower bound of its step. Hidden sizes follow our ``cpu`` profile as closely as its settings allow;
the table's footnotes say what was matched.

Inputs: LSTM, TCN, NHITS and TiDE take historical covariates (``hist_exog_list``): they get the target plus
``channels - 1`` exogenous series, the same 196 values per bar as ours. iTransformer is multivariate: it gets
``n_series = channels``. NBEATS, PatchTST, DLinear, TimesNet and Autoformer take no historical covariates
(future-known ones at most), so they run univariate, on 1 series: their per-window work is then a fraction of
ours on 196 channels, and their rows are marked ``*`` (their ratio is not like for like).

Optional ``--train-runs``: ``mlflow run . -e train -P model=<key> --env-manager local`` on the default data per
key in a subprocess, in a temporary folder with its own SQLite tracking store, wall time and peak RSS (of the whole
process tree's largest member) from ``/usr/bin/time -v``.
Targets (2-core machine): ours / peer >= 1.0x in windows/s; a train run <= 5 minutes and <= 3 GB per key.
Figures, not tests: nothing here passes or fails.

The peers need ``pip install 'ohlcv-ml-factory[bench]'`` (neuralforecast pulls ray and pytorch-lightning,
~1.7 GB: keep it in an environment of its own); without it our figures are reported alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._measure import PeakMemory, loadavg, run_json_probe  # noqa: E402

KEYS = ("lstm", "tcn", "patchtst", "itransformer", "timesnet", "autoformer", "s_mamba", "nbeats", "nhits",
        "dlinear", "tide")
WARMUP = 3  # untimed batches before the timed ones (allocator, lazy kernels)
LATENCY_WARMUP = 10
N_ROWS = 20_000  # rows of the random input matrix the batches are gathered from
FIT_WINDOWS = 384  # windows of the tiny fit that makes a fitted model for the latency figures
PROBE_TIMEOUT_S = 1800
MISSING_PEERS = "neuralforecast not installed: peers skipped (pip install 'ohlcv-ml-factory[bench]')"

# key -> (neuralforecast module, class, input mode). "exog": target + channels - 1 historical covariates;
# "multivariate": n_series = channels; "univariate": 1 series (the model takes no historical covariates).
PEERS: dict[str, tuple[str, str, str] | None] = {
    "lstm": ("neuralforecast.models.lstm", "LSTM", "exog"),
    "tcn": ("neuralforecast.models.tcn", "TCN", "exog"),
    "patchtst": ("neuralforecast.models.patchtst", "PatchTST", "univariate"),
    "itransformer": ("neuralforecast.models.itransformer", "iTransformer", "multivariate"),
    "timesnet": ("neuralforecast.models.timesnet", "TimesNet", "univariate"),
    "autoformer": ("neuralforecast.models.autoformer", "Autoformer", "univariate"),
    "s_mamba": None,  # neuralforecast has no Mamba
    "nbeats": ("neuralforecast.models.nbeats", "NBEATS", "univariate"),
    "nhits": ("neuralforecast.models.nhits", "NHITS", "exog"),
    "dlinear": ("neuralforecast.models.dlinear", "DLinear", "univariate"),
    "tide": ("neuralforecast.models.tide", "TiDE", "exog"),
}
# Channel-independent peers: each of our windows is `channels` sequences through one set of shared weights, so the
# peer is also fed batch x channels one-series windows per step (the same sequence count: "equal work").
CHANNEL_INDEPENDENT = ("patchtst", "dlinear")
NBEATS_STACKS = {"generic": "identity", "trend": "trend", "seasonality": "seasonality"}


# ----------------------------------------------------------------------------------------------------- memory
# ----------------------------------------------------------------------------------------------------- data
def pin_threads() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once work ran
        pass


def random_matrix(channels: int, seed: int = 0) -> np.ndarray:
    """The 2-D (rows x channels) float32 matrix of random inputs both sides gather their windows from."""
    return np.random.default_rng(seed).standard_normal((N_ROWS, channels), dtype=np.float32)


def batch_ends(window: int, batch: int, n_batches: int, seed: int = 1) -> list[np.ndarray]:
    """Window end rows of each batch, drawn at random as an epoch's permutation draws them (room for h = 1)."""
    rng = np.random.default_rng(seed)
    rows = np.arange(window - 1, N_ROWS - 1)
    return [rng.choice(rows, size=batch, replace=False) for _ in range(n_batches)]


def _summary(step_s: list[float], gather_s: list[float] | None, batch: int) -> dict:
    med = float(np.median(step_s))
    out = {"step_median_ms": 1e3 * med, "step_mean_ms": 1e3 * float(np.mean(step_s)), "windows_per_s": batch / med}
    if gather_s is not None:
        tot = np.asarray(step_s) + np.asarray(gather_s)
        out["gather_median_ms"] = 1e3 * float(np.median(gather_s))
        out["windows_per_s_with_gather"] = batch / float(np.median(tot))
    return out


# ----------------------------------------------------------------------------------------------------- ours
def our_config(key: str, window: int, batch: int):
    """The key's cpu-profile settings with the shared window and batch, one thread, on the CPU."""
    from factory.models import load_model_config

    return load_model_config(key, overrides={"window": window, "batch_size": batch, "threads": 1, "device": "cpu"})


def probe_ours(key: str, window: int, channels: int, batch: int, n_batches: int, latency_requests: int) -> dict:
    """Run in a fresh process: our module's training throughput, the fitted model's latency, the peak memory."""
    import torch

    from factory.models import create_model
    from factory.models._torch import runtime
    from factory.models._torch.trainer import _as_tensor
    from factory.models.views import WindowView

    pin_threads()
    cfg = our_config(key, window, batch)
    matrix = random_matrix(channels)
    view = WindowView(matrix, np.arange(window - 1, N_ROWS), window)
    ends = batch_ends(window, batch, WARMUP + n_batches)
    pos = [e - (window - 1) for e in ends]  # the view's sample indices of those end rows
    rng = np.random.default_rng(2)
    y_all = torch.as_tensor(rng.integers(0, 3, len(view)), dtype=torch.long)
    w_all = torch.as_tensor(rng.uniform(0.5, 1.5, len(view)), dtype=torch.float32)
    mem = PeakMemory()

    model = create_model(key, **cfg.model_dump(mode="json"))
    runtime.seed_everything(cfg.seed, torch.device("cpu"))  # as TorchWindowModel._fit
    module = model._network(channels)
    n_params = int(sum(p.numel() for p in module.parameters()))
    device = torch.device("cpu")
    optimiser = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    module.train()
    step_s, gather_s = [], []
    for i, idx in enumerate(pos):
        t0 = time.perf_counter()
        xb = _as_tensor(view.batch(idx), device)
        yb, wb = y_all[idx], w_all[idx]
        t1 = time.perf_counter()
        optimiser.zero_grad(set_to_none=True)
        logits = module(xb)
        loss = (loss_fn(logits.float(), yb) * wb).sum() / wb.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
        optimiser.step()
        float(loss.detach())  # the trainer reads the loss every batch
        t2 = time.perf_counter()
        if i >= WARMUP:
            gather_s.append(t1 - t0)
            step_s.append(t2 - t1)
    out = {"key": key, "params": n_params, **_summary(step_s, gather_s, batch)}
    del module, optimiser

    # A fitted model (one tiny epoch), then one window at a time through predict_proba.
    os.environ["FACTORY_PROGRESS"] = "0"
    tiny = create_model(key, **{**cfg.model_dump(mode="json"), "epochs": 1, "max_train_windows": FIT_WINDOWS,
                                "batch_size": min(batch, 128)})
    fit_rows = np.arange(window - 1, window - 1 + FIT_WINDOWS)
    labels = rng.integers(-1, 2, FIT_WINDOWS)
    labels[:3] = (-1, 0, 1)
    tiny.fit(WindowView(matrix, fit_rows, window), labels)
    rows = rng.integers(window - 1, N_ROWS, LATENCY_WARMUP + latency_requests)
    for precision in ("float64", "float32"):
        tiny.config = tiny.config.model_copy(update={"predict_precision": precision})
        lat = []
        for i, r in enumerate(rows):
            one = WindowView(matrix, [r], window)
            t0 = time.perf_counter()
            p = tiny.predict_proba(one)
            dt = time.perf_counter() - t0
            if i >= LATENCY_WARMUP:
                lat.append(dt)
        assert p.shape == (1, 3)
        out[f"latency_p50_ms_{precision}"] = 1e3 * float(np.percentile(lat, 50))
        out[f"latency_p99_ms_{precision}"] = 1e3 * float(np.percentile(lat, 99))
    out["peak_rise_bytes"] = mem.rise()
    out["memory_method"] = mem.method
    out["threads"] = torch.get_num_threads()
    return out


# ----------------------------------------------------------------------------------------------------- peer
def peer_settings(key: str, cfg, window: int, channels: int) -> tuple[dict, str]:
    """neuralforecast keyword settings matched to our cpu profile, and a line saying what was matched."""
    c = cfg
    hist = [f"x{i}" for i in range(1, channels)]
    if key == "lstm":
        kw = dict(encoder_hidden_size=c.hidden, encoder_n_layers=c.layers, decoder_layers=1, recurrent=False,
                  encoder_dropout=c.dropout if c.layers > 1 else 0.0, hist_exog_list=hist)
        note = (f"encoder_hidden_size={c.hidden} (hidden), encoder_n_layers={c.layers} (layers), decoder_layers=1 "
                f"(a linear head, as ours), recurrent=False (direct, from the last hidden state, as ours)")
    elif key == "tcn":
        dil = [2 ** i for i in range(c.levels) for _ in range(2)]
        kw = dict(kernel_size=c.kernel, dilations=dil, encoder_hidden_size=c.channels, decoder_layers=1,
                  hist_exog_list=hist)
        note = (f"encoder_hidden_size={c.channels} (channels), kernel_size={c.kernel} (kernel), dilations={dil}: "
                f"one conv per dilation there, two per level here, so {2 * c.levels} convolutions and the same "
                f"receptive field on both sides; no residual 1x1 convs there; decoder_layers=1")
    elif key == "patchtst":
        kw = dict(patch_len=c.patch_len, stride=c.stride, hidden_size=c.d_model, n_heads=c.n_heads,
                  encoder_layers=c.layers, linear_hidden_size=c.d_ff, dropout=c.dropout, fc_dropout=c.dropout,
                  head_dropout=c.dropout, attn_dropout=c.dropout, revin=c.revin, res_attention=False,
                  batch_normalization=False, learn_pos_embed=True)
        note = (f"patch_len={c.patch_len}, stride={c.stride}, hidden_size={c.d_model} (d_model), n_heads={c.n_heads}, "
                f"encoder_layers={c.layers}, linear_hidden_size={c.d_ff} (d_ff), revin={c.revin}, "
                f"res_attention=False, LayerNorm (batch_normalization=False), as ours. 1 series: channel-independent, "
                f"ours runs {channels} channel sequences per window, see the equal-work figures")
    elif key == "itransformer":
        kw = dict(n_series=channels, hidden_size=c.d_model, n_heads=c.n_heads, e_layers=c.layers, d_ff=c.d_ff,
                  dropout=c.dropout, use_norm=c.revin)
        note = (f"n_series={channels} (channels), hidden_size={c.d_model} (d_model), n_heads={c.n_heads}, "
                f"e_layers={c.layers}, d_ff={c.d_ff}, use_norm={c.revin} (revin)")
    elif key == "timesnet":
        kw = dict(hidden_size=c.d_model, conv_hidden_size=c.d_ff, top_k=c.top_k, num_kernels=c.num_kernels,
                  encoder_layers=c.layers, dropout=c.dropout)
        note = (f"hidden_size={c.d_model} (d_model), conv_hidden_size={c.d_ff} (d_ff), top_k={c.top_k}, "
                f"num_kernels={c.num_kernels}, encoder_layers={c.layers}. 1 series: ours embeds a bar's {channels} "
                f"inputs into d_model, the peer its 1; past the embedding both run d_model-wide windows")
    elif key == "autoformer":
        kw = dict(hidden_size=c.d_model, n_head=c.n_heads, encoder_layers=c.layers, decoder_layers=1,
                  conv_hidden_size=c.d_ff, MovingAvg_window=c.moving_avg, factor=c.factor, dropout=c.dropout)
        note = (f"hidden_size={c.d_model} (d_model), n_head={c.n_heads}, encoder_layers={c.layers}, "
                f"conv_hidden_size={c.d_ff} (d_ff), MovingAvg_window={c.moving_avg}, factor={c.factor}; "
                f"decoder_layers=1 (its least: ours has no decoder). 1 series: ours embeds a bar's {channels} inputs "
                f"into d_model, the peer its 1; past the embedding both run d_model-wide windows")
    elif key == "nbeats":
        stacks = [NBEATS_STACKS[s] for s in c.stack_types]
        units = list(c.units) * len(stacks) if len(c.units) == 1 else list(c.units)
        kw = dict(stack_types=stacks, n_blocks=[c.blocks_per_stack] * len(stacks),
                  mlp_units=[[u] * c.layers for u in units], shared_weights=c.share_weights,
                  n_polynomials=c.degree)
        note = (f"stack_types={stacks} ({list(c.stack_types)}), n_blocks={kw['n_blocks']}, "
                f"mlp_units={kw['mlp_units']} (layers x units). 1 series: ours mixes a bar's {channels} inputs into "
                f"{c.signals} series (a Linear({channels} -> {c.signals}) adapter) and its blocks read "
                f"{c.signals} x window values, the peer's 1 x window")
    elif key == "nhits":
        n = len(c.pool_kernels)
        kw = dict(stack_types=["identity"] * n, n_blocks=[c.blocks_per_stack] * n, mlp_units=[[c.units] * c.layers] * n,
                  n_pool_kernel_size=list(c.pool_kernels), n_freq_downsample=list(c.freq_downsample),
                  interpolation_mode=c.interpolation, hist_exog_list=hist)
        note = (f"n_pool_kernel_size={list(c.pool_kernels)}, n_freq_downsample={list(c.freq_downsample)}, "
                f"n_blocks={kw['n_blocks']}, mlp_units={kw['mlp_units']}; the peer's blocks read the pooled "
                f"{channels} x window values flattened, ours {c.signals} adapter series (Linear({channels} -> "
                f"{c.signals}) per bar), so its first layers are ~{channels // c.signals}x wider")
    elif key == "dlinear":
        kw = dict(moving_avg_window=min(c.kernel, window))
        note = (f"moving_avg_window={min(c.kernel, window)} (kernel), linear maps shared by the series (individual"
                f"={c.individual}). 1 series: channel-independent, ours maps {channels} channels per window, "
                f"see the equal-work figures")
    elif key == "tide":
        kw = dict(hidden_size=c.hidden, num_encoder_layers=c.encoder_layers, num_decoder_layers=c.decoder_layers,
                  temporal_width=c.temporal_width, decoder_output_dim=c.decoder_dim,
                  temporal_decoder_dim=c.decoder_dim, dropout=c.dropout, layernorm=True, hist_exog_list=hist)
        note = (f"hidden_size={c.hidden}, num_encoder_layers={c.encoder_layers}, num_decoder_layers="
                f"{c.decoder_layers}, temporal_width={c.temporal_width}, decoder_output_dim={c.decoder_dim}, "
                f"temporal_decoder_dim={c.decoder_dim} (ours: a linear head); unmatched: its covariate "
                f"projection's hidden width is hidden_size ({c.hidden}), ours feature_hidden ({c.feature_hidden})")
    else:
        raise KeyError(key)
    return kw, note


def peer_windows_batch(matrix: np.ndarray, ends: np.ndarray, window: int, mode: str):
    """(windows_batch, outsample_y, outsample_mask) of the windows ending at ``ends`` (+1 bar of horizon), shaped
    as neuralforecast's ``training_step`` hands them to ``forward`` and the loss (``_parse_windows``): univariate
    ``insample_y`` [B, L, 1], ``hist_exog`` [B, L, X], ``outsample_y`` [B, h, 1]; multivariate [B, L, N] and
    [B, h, N]. Channel 0 is the target; ``futr_exog`` and ``stat_exog`` are None (none are used)."""
    import torch

    win = matrix[ends[:, None] + np.arange(-window + 1, 2)[None, :]]  # (B, L + 1, C)
    t = torch.from_numpy(np.ascontiguousarray(win))
    if mode == "multivariate":
        y_in, y_out, hist = t[:, :window], t[:, window:], None
    elif mode == "channels":  # every channel of every window its own one-series window: (B * C, L + 1, 1)
        t = t.transpose(1, 2).reshape(-1, window + 1, 1)
        y_in, y_out, hist = t[:, :window], t[:, window:], None
    else:
        y_in, y_out = t[:, :window, :1], t[:, window:, :1]
        hist = t[:, :window, 1:].contiguous() if mode == "exog" else None
    wb = dict(insample_y=y_in.contiguous(), insample_mask=torch.ones_like(y_in), futr_exog=None, hist_exog=hist,
              stat_exog=None)
    return wb, y_out.contiguous(), torch.ones_like(y_out)


def probe_peer(key: str, window: int, channels: int, batch: int, n_batches: int) -> dict:
    """Run in a fresh process: neuralforecast's model's forward + loss + backward + optimiser step."""
    import importlib
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import torch

    module_name, cls_name, mode = PEERS[key]
    cls = getattr(importlib.import_module(module_name), cls_name)
    pin_threads()
    cfg = our_config(key, window, batch)
    kw, note = peer_settings(key, cfg, window, channels)
    matrix = random_matrix(channels)
    ends = batch_ends(window, batch, WARMUP + n_batches)
    mem = PeakMemory()

    model = cls(h=1, input_size=window, max_steps=1, windows_batch_size=batch, batch_size=32,
                learning_rate=cfg.lr, optimizer=torch.optim.AdamW,
                optimizer_kwargs={"weight_decay": cfg.weight_decay}, scaler_type="identity", random_seed=0,
                accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                enable_checkpointing=False, **kw)
    pin_threads()
    optimiser = model.configure_optimizers()["optimizer"]
    model.train()

    def timed(feed: str) -> tuple[list[float], list[int]]:
        step_s = []
        for i, e in enumerate(ends):
            wb, y_out, mask = peer_windows_batch(matrix, e, window, feed)  # untimed: its data path is not ours
            t0 = time.perf_counter()
            optimiser.zero_grad(set_to_none=True)
            output = model.loss.domain_map(model(wb))  # as training_step
            loss = model.loss(y=y_out, y_hat=output, y_insample=wb["insample_y"], mask=mask)
            loss.backward()
            optimiser.step()
            float(loss.detach())  # training_step reads the loss every step
            dt = time.perf_counter() - t0
            if i >= WARMUP:
                step_s.append(dt)
        return step_s, list(output.shape)

    step_s, out_shape = timed(mode)
    n_params = int(sum(p.numel() for p in model.parameters()))
    out = {"key": key, "peer": f"neuralforecast {cls_name}", "mode": mode, "params": n_params,
           "settings": note, "output_shape": out_shape, **_summary(step_s, None, batch),
           "peak_rise_bytes": mem.rise(), "memory_method": mem.method, "threads": torch.get_num_threads()}
    if key in CHANNEL_INDEPENDENT and mode == "univariate":
        # batch x channels one-series windows per step; windows/s counted in OUR windows (batch per step)
        eq_s, eq_shape = timed("channels")
        out["equal_work"] = {"series_windows_per_step": eq_shape[0], **_summary(eq_s, None, batch)}
    try:
        from importlib.metadata import version

        out["neuralforecast_version"] = version("neuralforecast")
    except Exception:  # noqa: BLE001 - only informative
        pass
    return out


# ----------------------------------------------------------------------------------------------------- driver
def run_probe(side: str, key: str, args) -> dict:
    """One probe in a fresh subprocess; its figures, or {"error": ...}."""
    argv = ["--_probe", f"{side}:{key}", "--window", str(args.window), "--channels", str(args.channels),
            "--batch", str(args.batch), "--batches", str(args.batches),
            "--latency-requests", str(args.latency_requests)]
    return run_json_probe(__file__, argv, PROBE_TIMEOUT_S, {"RAY_DISABLE_IMPORT_WARNING": "1"})


def _fmt(v, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}{spec}}"


def report(rows: dict[str, dict], peers_on: bool, args) -> None:
    print(f"\nwindow {args.window}, channels {args.channels}, batch {args.batch}, {args.batches} timed batches "
          f"(median), torch threads 1; latency: p50 of {args.latency_requests} one-window predict_proba calls")
    head = (f"{'key':<13}{'params':>9}{'step w/s':>10}{'+gather':>9}{'p50 f64':>9}{'p50 f32':>9}{'peak MiB':>9}"
            f" | {'peer':<13}{'peer in':<12}{'params':>9}{'step w/s':>10}{'peak MiB':>9}{'ours/peer':>10}")
    print(head)
    print("-" * len(head))
    notes = []
    for key, r in rows.items():
        o, p = r.get("ours", {}), r.get("peer")
        if "error" in o:
            left = f"{key:<13}{'failed: ' + o['error'][:60]:<64}"
        else:
            left = (f"{key:<13}{o['params']:>9,}{o['windows_per_s']:>10,.0f}{o['windows_per_s_with_gather']:>9,.0f}"
                    f"{o['latency_p50_ms_float64']:>9.2f}{o['latency_p50_ms_float32']:>9.2f}"
                    f"{o['peak_rise_bytes'] / 2**20:>9,.0f}")
        spec = PEERS.get(key)
        if spec is None:
            right = f"{'none':<13}{'(no Mamba in neuralforecast)':<40}"
        elif not peers_on:
            right = f"{'skipped':<13}"
        elif p is None or "error" in p:
            right = f"{spec[1]:<13}failed: {(p or {}).get('error', '?')[:80]}"
        else:
            mode = {"exog": f"1+{args.channels - 1} hist", "multivariate": f"{args.channels} series",
                    "univariate": "1 series *"}[p["mode"]]
            ratio = (f"{o['windows_per_s'] / p['windows_per_s']:>9.2f}x" if "windows_per_s" in o else f"{'-':>10}")
            if p["mode"] == "univariate":
                ratio += "*"
            right = (f"{spec[1]:<13}{mode:<12}{p['params']:>9,}{p['windows_per_s']:>10,.0f}"
                     f"{p['peak_rise_bytes'] / 2**20:>9,.0f}{ratio}")
            notes.append(f"  {key:<13}{spec[1]}: {p['settings']}")
        print(left + " | " + right)
    print("\nstep w/s: windows/s of forward + loss + backward + optimiser step (ours also clips the gradients, as "
          "the trainer does), batch / median step time; +gather: ours with the batch gathered from the matrix "
          "(WindowView.batch) and made a tensor, the trainer's whole batch. p50 f64: ms per one-window "
          "predict_proba of the fitted model (module in float64, the served path); p50 f32: the same with "
          "predict_precision float32. peak MiB: peak RSS rise over the RSS before the model was built, in a fresh "
          "process (ours: throughput + a tiny fit + the latency calls; peer: throughput).")
    if peers_on:
        print(f"peer in: what the peer reads per window. 1+{args.channels - 1} hist: the target and "
              f"{args.channels - 1} historical covariates, the same {args.channels} values per bar as ours; "
              f"{args.channels} series: multivariate; 1 series *: univariate, since the model takes no historical "
              f"covariates: its per-window work is a fraction of ours on {args.channels} channels, so a ratio "
              f"marked * is not like for like. The peer's step leaves out Lightning's per-step work (hooks, logging, "
              f"its LR scheduler), so its figure is a lower bound of its step time. Goal: ours/peer >= 1.0x.")
        eq = [(k, r["ours"], r["peer"]["equal_work"]) for k, r in rows.items()
              if "windows_per_s" in r.get("ours", {}) and "equal_work" in (r.get("peer") or {})]
        if eq:
            print(f"\nequal work, channel-independent peers: fed batch x channels = {args.batch * args.channels:,} "
                  f"one-series windows per step, the {args.channels} channel sequences of each of our {args.batch} "
                  f"windows; w/s counted in our windows")
            print(f"{'key':<13}{'ours w/s':>10}{'peer w/s':>10}{'ours/peer':>11}")
            for k, o, e in eq:
                print(f"{k:<13}{o['windows_per_s']:>10,.0f}{e['windows_per_s']:>10,.1f}"
                      f"{o['windows_per_s'] / e['windows_per_s']:>10.2f}x")
        print("\npeer settings matched to our cpu profile (all: input_size = window, h = 1, scaler identity, MAE "
              "loss, AdamW with our lr and weight decay):")
        for n in notes:
            print(n)


def train_runs(keys: list[str]) -> dict[str, dict]:
    """`mlflow run . -e train -P model=<key> --env-manager local` on the default data, each in a temporary folder
    with its own SQLite tracking store: wall time and peak RSS."""
    bindir = str(Path(sys.executable).parent)
    exe = shutil.which("mlflow", path=bindir)
    base = [exe] if exe else [sys.executable, "-m", "mlflow"]
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else None
    out: dict[str, dict] = {}
    print("\nmlflow run . -e train -P model=<key> --env-manager local on the default data "
          "(targets: <= 300 s and <= 3 GB per key)")
    print(f"{'key':<13}{'wall s':>9}{'peak RSS MiB':>14}  status")
    for key in keys:
        with tempfile.TemporaryDirectory(prefix=f"bench-deep-{key}-") as tmp:
            # the entry point's `python` is this environment's
            env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{Path(tmp) / 'mlflow.db'}",
                   "FACTORY_PROGRESS": "0", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                   "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
            cmd = [*base, "run", str(ROOT), "-e", "train", "-P", f"model={key}", "--env-manager", "local"]
            if timer is None:  # a wrapper process whose only child is the run: its children's ru_maxrss is the run's
                cmd = [sys.executable, "-c", "import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
                       "print(f'Maximum resident set size (kbytes): "
                       "{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); sys.exit(rc)",
                       *cmd]
            else:
                cmd = [*timer, *cmd]
            t0 = time.perf_counter()
            res = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr)
        rss = int(m.group(1)) * 1024 if m else None
        m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", res.stderr)
        if m:  # /usr/bin/time's own figure: the run alone, without this process's spawning
            wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(m.group(1).split(":"))))
        ok = res.returncode == 0
        # /usr/bin/time -v's report is tab-indented: the run's own last lines come before it
        own = [ln for ln in res.stderr.strip().splitlines() if not ln.startswith(("\t", "Command exited"))]
        status = "ok" if ok else "failed: " + " | ".join(own[-2:] or ["?"])[:160]
        if ok:
            flags = [w for w, bad in (("> 300 s", wall > 300), ("> 3 GB", rss is not None and rss > 3e9)) if bad]
            status = "ok" + (f" (over target: {', '.join(flags)})" if flags else "")
        out[key] = {"wall_s": wall, "peak_rss_bytes": rss, "returncode": res.returncode}
        rss_txt = f"{rss / 2**20:,.0f}" if rss is not None else "n/a"
        print(f"{key:<13}{wall:>9.1f}{rss_txt:>14}  {status}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default=",".join(KEYS), help="comma list of model keys (default: all 11)")
    ap.add_argument("--window", type=int, default=32, help="shared lookback (rows per window)")
    ap.add_argument("--channels", type=int, default=196, help="inputs per bar")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=30, help="timed training batches (after 3 warm-up ones)")
    ap.add_argument("--latency-requests", type=int, default=200)
    ap.add_argument("--train-runs", action="store_true", help="also time `mlflow run . -e train -P model=<key>` "
                    "(minutes per key)")
    ap.add_argument("--train-runs-only", action="store_true", help="only the train runs (no probes)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    ap.add_argument("--_probe", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._probe:
        side, key = args._probe.split(":", 1)
        if side == "ours":
            res = probe_ours(key, args.window, args.channels, args.batch, args.batches, args.latency_requests)
        else:
            res = probe_peer(key, args.window, args.channels, args.batch, args.batches)
        print(json.dumps(res))
        return 0

    keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    unknown = [k for k in keys if k not in KEYS]
    if unknown:
        ap.error(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    peers_on = importlib.util.find_spec("neuralforecast") is not None  # imported only inside the peer probes
    if not peers_on:
        print(MISSING_PEERS)
    if args.train_runs_only:
        res = {"cpu_count": os.cpu_count(), "loadavg_before": loadavg(), "train_runs": train_runs(keys),
               "loadavg_after": loadavg()}
        print(f"\nload average before: {res['loadavg_before']}; after: {res['loadavg_after']}")
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=2, default=float))
        return 0
    load_before = loadavg()
    print(f"load average before: {load_before}  (cpus: {os.cpu_count()})", flush=True)
    rows: dict[str, dict] = {}
    for key in keys:
        t0 = time.perf_counter()
        rows[key] = {"ours": run_probe("ours", key, args)}
        if peers_on and PEERS[key] is not None:
            rows[key]["peer"] = run_probe("peer", key, args)
        errs = [f"{s}: {r['error']}" for s, r in rows[key].items() if "error" in r]
        print(f"  {key}: measured in {time.perf_counter() - t0:.0f} s" + (f" ({'; '.join(errs)})" if errs else ""),
              flush=True)
    load_after = loadavg()
    report(rows, peers_on, args)
    print(f"\nload average before: {load_before}; after: {load_after}")
    res = {"window": args.window, "channels": args.channels, "batch": args.batch, "batches": args.batches,
           "latency_requests": args.latency_requests, "peers": peers_on, "loadavg_before": load_before,
           "loadavg_after": load_after, "cpu_count": os.cpu_count(), "rows": rows}
    if args.train_runs:
        res["train_runs"] = train_runs(keys)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
