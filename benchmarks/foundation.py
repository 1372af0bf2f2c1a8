"""Foundation-model benchmark: one-window latency, batched throughput, size and peak memory of the two zero-shot
forecasters (``chronos_bolt``, ``timesfm``), against their own libraries called directly on the same contexts.

Usage:  python benchmarks/foundation.py [--keys chronos_bolt,timesfm] [--context-lengths 64,512]
                                        [--latency-requests 30] [--contexts 2000] [--batch 64]
                                        [--model-path-chronos ID_OR_DIR] [--model-path-timesfm ID_OR_DIR]
                                        [--real-latency-requests 5] [--real-contexts 256] [--with-data] [--json FILE]

Measured in this run, per key and model size, torch pinned to one thread, each (key, size) in a fresh subprocess:

* sizes: ``tiny``, the random model of the real architecture that :mod:`factory.models.foundation.tiny` builds
  offline (its forecasts mean nothing; only its speed is measured), always; and the weights named by
  ``--model-path-chronos`` / ``--model-path-timesfm`` (a hub id or a local folder, resolved as the model resolves
  ``model_path``: a folder, the local Hugging Face cache, then the hub unless ``HF_HUB_OFFLINE`` is set) when
  given and found (size ``given`` in the tables). Weights that are not found are reported as skipped, with the
  reason;
* the inputs: synthetic 1-minute bars (:func:`factory.data.synth.generate_bars`), price contexts of the last
  ``C`` closes (:class:`~factory.models.views.PriceContextView`) carrying the label barriers of the default
  pipeline config (``k_up``, ``k_down``, ``horizon``, ``atr_window``; without costs, which only move the widths),
  computed with the labels' own code (:class:`~factory.labels.barriers.BarrierDefinition`);
* inference latency per window, for each context length ``C`` of ``--context-lengths``: p50 and p99 of
  ``--latency-requests`` one-window ``predict_proba`` calls (after 5 untimed ones) of the fitted model (fit
  trains nothing: it loads the weights), through the public API: input checks, the batched forecast (padded to
  ``batch_size`` rows, so every forward pass has one shape), the barrier pricing, the checks on the probabilities;
* throughput, windows/s: one ``predict_proba`` call over ``--contexts`` contexts of ``C = --throughput-context``
  closes at the batch size ``--batch`` (the YAML default: 64), contexts over / wall time (best of two timed calls
  after an untimed warm-up over one batch);
* parameter count of the backbone; peak memory: the rise of the resident set (Linux ``VmHWM`` after resetting it
  through ``/proc/self/clear_refs``; elsewhere ``ru_maxrss``) over the resident set after the libraries were
  imported and before the weights were loaded, over the whole probe (loading, the latency calls, the throughput
  and the peer calls).

Peer, same run, same process, same contexts (the arrays the wrapper's ``PriceContextView.batch`` gives, gathered
beforehand), same settings: the library itself, as a user of it would call it. Chronos-Bolt:
``pipe.predict_quantiles(tensor, prediction_length=horizon, quantile_levels=pipe.quantiles,
limit_prediction_length=False)``; TimesFM: ``model.forecast(horizon, inputs=[...])`` after ``model.compile`` with
the wrapper's ``ForecastConfig``. Latency has two peer figures: "raw 1" calls the library on the one context
alone; "raw pad" on the same padded batch the wrapper forwards (for TimesFM both are the same work: ``forecast``
pads to its batch size itself). Throughput's peer runs the library over the contexts in chunks of the batch size.
The ratios ours / raw (time over time for latency, raw w/s over ours for throughput) show what the wrapper
adds: gathering the contexts, padding, the barrier pricing, the checks. Goal: within ~1.1x of the raw call.

Optional ``--with-data`` (real weights only: both ``--model-path-*`` given and found, or one of them for its
key): train nothing, build the default dataset as ``-e train`` does (``load_bars(None, ...)`` + ``build_dataset``
with the model's train config), run ``factory.fitting.fit_bundle`` (which loads the weights and calibrates on
validation) and ``evaluate_part(ds, bundle, "test")``, and report on the test split: directional accuracy (among
labelled test samples whose label is not flat, the share where ``prob_up > prob_down`` agrees with the label's
sign), the 3-class accuracy and ``net_sharpe`` of the backtest (the evaluation's ``metrics``), next to LightGBM
fitted and evaluated the same way. Without real weights it prints one line saying so and how to provide them.
Figures, not tests: nothing here passes or fails.

Needs the ``foundation`` extra (chronos-forecasting, timesfm[torch]).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._measure import PeakMemory, loadavg, run_json_probe  # noqa: E402
from benchmarks.deep_models import pin_threads  # noqa: E402

KEYS = ("chronos_bolt", "timesfm")
PATH_FLAG = {"chronos_bolt": "--model-path-chronos", "timesfm": "--model-path-timesfm"}
LATENCY_WARMUP = 5
PROBE_TIMEOUT_S = 1800
BARS_SEED = 7


# ----------------------------------------------------------------------------------------------------- inputs
def label_barriers():
    """The default pipeline config's barriers (no costs) as a BarrierDefinition."""
    from factory.config import resolve_config
    from factory.labels.barriers import BarrierDefinition

    lc = resolve_config().labels
    return BarrierDefinition(k_up=float(lc.k_up), k_down=float(lc.k_down), horizon=int(lc.horizon),
                             atr_window=int(lc.atr_window), round_trip_points=0.0)


def synthetic_inputs(n_contexts: int, max_context: int):
    """(closes, barrier widths, the first row every context of ``max_context`` closes and the barriers cover)."""
    from factory.data.synth import generate_bars

    definition = label_barriers()
    first = max_context + definition.lookback + 1
    bars = generate_bars(first + n_contexts + 1, seed=BARS_SEED)
    widths = definition.widths(bars)
    return bars["close"].to_numpy(np.float64), widths, first


def n_params(key: str, backbone) -> int:
    module = backbone.model  # Chronos: the ChronosBoltModelForForecasting; TimesFM: the torch module
    return int(sum(p.numel() for p in module.parameters()))


# ----------------------------------------------------------------------------------------------------- raw calls
def raw_caller(key: str, model, horizon: int):
    """A function (b, C) relative log prices -> (b, Q) quantiles at step ``horizon``: the library called directly."""
    import torch

    backbone = model.backbone_
    if key == "chronos_bolt":
        levels = list(backbone.quantiles)

        def call(ctx: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                q, _ = backbone.predict_quantiles(torch.from_numpy(np.ascontiguousarray(ctx, dtype=np.float32)),
                                                  prediction_length=horizon, quantile_levels=levels,
                                                  limit_prediction_length=False)
            return q[:, horizon - 1, :].numpy()
        return call

    model._compiled(horizon)  # the wrapper's ForecastConfig, compiled once (as the wrapper does)

    def call(ctx: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            _, q = backbone.forecast(horizon, inputs=list(ctx.astype(np.float64)))
        return np.asarray(q)[:, horizon - 1, 1:]
    return call


# ----------------------------------------------------------------------------------------------------- probe
def probe(key: str, size: str, model_path: str | None, a: dict) -> dict:
    """Run in a fresh process: latency, throughput, parameters and peak memory of one (key, size)."""
    import warnings

    import torch

    warnings.filterwarnings("ignore")
    os.environ["FACTORY_PROGRESS"] = "0"
    pin_threads()
    from factory.models import create_model, get_model_class, load_model_config
    from factory.models.foundation._base import pad_batch
    from factory.models.views import PriceContextView

    if key == "chronos_bolt":
        import chronos  # noqa: F401
    else:
        import timesfm  # noqa: F401
    if model_path is None:
        from factory.models.foundation.tiny import tiny_model_path

        model_path = str(tiny_model_path(key))
    lengths = [int(c) for c in a["context_lengths"]]
    C_thr = int(a["throughput_context"])
    n_ctx = int(a["contexts"])
    n_lat = int(a["latency_requests"])
    close, widths, first = synthetic_inputs(n_ctx, max(lengths + [C_thr]))
    horizon = widths.horizon
    rows = np.arange(first, first + n_ctx)
    base = load_model_config(key).model_dump(mode="json")
    batch = int(a["batch"] or base["batch_size"])
    mem = PeakMemory()

    def fitted(C: int):
        cfg = {**base, "model_path": model_path, "context_length": C, "batch_size": batch, "device": "cpu"}
        model = create_model(key, **cfg)
        fit_rows = rows[:64]
        y = np.tile([-1, 0, 1], 22)[:64]
        model.fit(PriceContextView(close, fit_rows, C, barriers=widths), y)
        return model

    out: dict = {"key": key, "size": size, "model_path": model_path if size != "tiny" else "tiny (built offline)",
                 "batch": batch, "horizon": horizon, "latency": {}, "threads": torch.get_num_threads()}
    t0 = time.perf_counter()
    model = fitted(lengths[0])
    out["load_s"] = time.perf_counter() - t0
    out["params"] = n_params(key, model.backbone_)
    rng = np.random.default_rng(3)

    for C in lengths:
        if model.config.context_length != C:
            backbone = model.backbone_
            model = fitted(C)
            del backbone
        raw = raw_caller(key, model, horizon)
        picks = rng.choice(rows, size=LATENCY_WARMUP + n_lat)
        ours, raw1, rawpad = [], [], []
        for i, r in enumerate(picks):
            view = PriceContextView(close, [r], C, barriers=widths)
            t = time.perf_counter()
            p = model.predict_proba(view)
            t1 = time.perf_counter()
            ctx = view.batch()
            t2 = time.perf_counter()
            raw(ctx)
            t3 = time.perf_counter()
            padded = pad_batch(ctx, batch)
            t4 = time.perf_counter()
            raw(padded)
            t5 = time.perf_counter()
            if i >= LATENCY_WARMUP:
                ours.append(t1 - t)
                raw1.append(t3 - t2)
                rawpad.append(t5 - t4)
        assert p.shape == (1, 3)
        out["latency"][str(C)] = {f"{name}_{q}_ms": 1e3 * float(np.percentile(v, q))
                                  for name, v in (("ours", ours), ("raw1", raw1), ("rawpad", rawpad))
                                  for q in (50, 99)}

    # throughput at C_thr over n_ctx contexts, both sides best of two timed calls after a one-batch warm-up
    if model.config.context_length != C_thr:
        backbone = model.backbone_
        model = fitted(C_thr)
        del backbone
    raw = raw_caller(key, model, horizon)
    view = PriceContextView(close, rows, C_thr, barriers=widths)
    contexts = view.batch()  # the peer's input, gathered beforehand (untimed)
    model.predict_proba(view.subset(np.arange(batch)))
    raw(contexts[:batch])
    ours_s, raw_s = [], []
    for _ in range(2):
        t = time.perf_counter()
        p = model.predict_proba(view)
        ours_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        for s in range(0, n_ctx, batch):
            raw(contexts[s:s + batch])
        raw_s.append(time.perf_counter() - t)
    assert p.shape == (n_ctx, 3) and np.isfinite(p).all()
    out["throughput"] = {"context": C_thr, "contexts": n_ctx, "ours_w_per_s": n_ctx / min(ours_s),
                         "raw_w_per_s": n_ctx / min(raw_s)}
    out["peak_rise_bytes"] = mem.rise()
    out["memory_method"] = mem.method
    out["model_class"] = get_model_class(key).__name__
    return out


# ----------------------------------------------------------------------------------------------------- with data
def with_data(paths: dict[str, str]) -> dict:
    """fit_bundle + evaluate_part on the default data for each key with real weights, and LightGBM."""
    from factory.data.loading import load_bars
    from factory.dataset import build_dataset
    from factory.fitting import evaluate_part, fit_bundle
    from factory.models import create_model
    from factory.train_config import load_train_config

    os.environ["FACTORY_PROGRESS"] = "0"
    out: dict[str, dict] = {}
    dataset = None
    for key in [*paths, "lightgbm"]:
        t0 = time.perf_counter()
        tc = load_train_config(key)
        settings = tc.model.model_dump(mode="json")
        if key in paths:
            settings["model_path"] = paths[key]
        estimator = create_model(tc.model_key, **settings)
        estimator.preflight()
        if dataset is None:  # the pipeline settings are the same for every key without a config file
            dataset = build_dataset(load_bars(None, tc.pipeline).bars, tc.pipeline, progress=False)
        bundle = fit_bundle(dataset, estimator, training=tc.training)
        ev = evaluate_part(dataset, bundle, "test")
        proba = ev.outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy()[ev.sample_pos]
        moved = ev.y != 0
        agree = np.where(proba[:, 2] > proba[:, 0], 1, -1)[moved] == ev.y[moved]
        out[key] = {"directional_accuracy": float(agree.mean()) if moved.any() else float("nan"),
                    "directional_samples": int(moved.sum()), "accuracy": ev.metrics["accuracy"],
                    "net_sharpe": ev.metrics["net_sharpe"], "n_trades": ev.metrics["n_trades"],
                    "n_samples": ev.metrics["n_samples"], "wall_s": time.perf_counter() - t0}
    return out


# ----------------------------------------------------------------------------------------------------- driver
def run_sub(argv: list[str]) -> dict:
    return run_json_probe(__file__, argv, PROBE_TIMEOUT_S, {"TOKENIZERS_PARALLELISM": "false"})


def resolve(key: str, model_path: str) -> tuple[bool, str]:
    """(found, folder or the reason it was not)."""
    from factory.models.foundation._base import resolve_weights
    from factory.models import get_model_class

    cls = get_model_class(key)
    try:
        return True, str(resolve_weights(key, model_path, cls.weight_files, cls.default_id))
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return False, str(exc)


def report(rows: list[dict], args) -> None:
    lengths = [int(c) for c in args.context_lengths.split(",")]
    print(f"\none-window predict_proba latency, ms (p50 / p99 of the timed calls; torch threads 1); "
          f"ratio = ours p50 / raw p50")
    head = f"{'key':<13}{'size':<7}{'params':>12}{'C':>6}{'ours p50':>10}{'p99':>8}{'raw1 p50':>10}" \
           f"{'p99':>8}{'pad p50':>9}{'p99':>8}{'/raw1':>7}{'/pad':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['key']:<13}{r['size']:<7}failed: {r['error'][:100]}")
            continue
        for C in lengths:
            L = r["latency"][str(C)]
            print(f"{r['key']:<13}{r['size']:<7}{r['params']:>12,}{C:>6}{L['ours_50_ms']:>10.2f}{L['ours_99_ms']:>8.2f}"
                  f"{L['raw1_50_ms']:>10.2f}{L['raw1_99_ms']:>8.2f}{L['rawpad_50_ms']:>9.2f}{L['rawpad_99_ms']:>8.2f}"
                  f"{L['ours_50_ms'] / L['raw1_50_ms']:>6.2f}x{L['ours_50_ms'] / L['rawpad_50_ms']:>6.2f}x")
    print(f"\nbatched predict_proba throughput (best of 2), peak memory")
    head = f"{'key':<13}{'size':<7}{'C':>6}{'contexts':>9}{'batch':>6}{'ours w/s':>10}{'raw w/s':>9}" \
           f"{'raw/ours':>9}{'load s':>8}{'peak MiB':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            continue
        t = r["throughput"]
        print(f"{r['key']:<13}{r['size']:<7}{t['context']:>6}{t['contexts']:>9,}{r['batch']:>6}"
              f"{t['ours_w_per_s']:>10,.0f}{t['raw_w_per_s']:>9,.0f}{t['raw_w_per_s'] / t['ours_w_per_s']:>8.2f}x"
              f"{r['load_s']:>8.2f}{r['peak_rise_bytes'] / 2**20:>9,.0f}")
    horizons = sorted({r["horizon"] for r in rows if "horizon" in r})
    print(f"\nours: predict_proba through the model's public API on a PriceContextView with the label barriers "
          f"(horizon {', '.join(map(str, horizons))} bars); raw1: the library on the one context alone; pad: the "
          f"library on the batch the wrapper forwards (the context padded to the batch size; TimesFM pads to its "
          f"batch size itself, so raw1 and pad are the same work there). Throughput raw: the library over the same "
          f"contexts (gathered beforehand) in chunks of the batch size. tiny: the random model of the real "
          f"architecture built offline; its forecasts mean nothing. peak MiB: peak RSS rise over the RSS after the "
          f"imports, whole probe (loading, latency, throughput, peer), in a fresh process. Goal: ours within ~1.1x "
          f"of the raw call.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", default=",".join(KEYS))
    ap.add_argument("--context-lengths", default="64,512", help="context lengths of the latency figures")
    ap.add_argument("--throughput-context", type=int, default=512)
    ap.add_argument("--latency-requests", type=int, default=30, help="timed one-window calls (tiny size)")
    ap.add_argument("--contexts", type=int, default=2000, help="contexts of the throughput figure (tiny size)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: the key's YAML, 64)")
    ap.add_argument("--model-path-chronos", default=None, help="Chronos-Bolt weights: a hub id or a local folder")
    ap.add_argument("--model-path-timesfm", default=None, help="TimesFM 2.5 weights: a hub id or a local folder")
    ap.add_argument("--real-latency-requests", type=int, default=5, help="timed one-window calls (real weights)")
    ap.add_argument("--real-contexts", type=int, default=256, help="contexts of the throughput figure (real weights)")
    ap.add_argument("--with-data", action="store_true", help="real weights only: test-split accuracy and net "
                    "Sharpe on the default data next to LightGBM (minutes)")
    ap.add_argument("--json", default=None, help="also write every figure to this JSON file")
    ap.add_argument("--_probe", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_with_data", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._probe:
        spec = json.loads(args._probe)
        print(json.dumps(probe(spec["key"], spec["size"], spec["path"], spec)))
        return 0
    if args._with_data:
        print(json.dumps(with_data(json.loads(args._with_data))))
        return 0

    keys = [k.strip() for k in args.keys.split(",") if k.strip()]
    unknown = [k for k in keys if k not in KEYS]
    if unknown:
        ap.error(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    given = {"chronos_bolt": args.model_path_chronos, "timesfm": args.model_path_timesfm}
    load_before = loadavg()
    print(f"load average before: {load_before}  (cpus: {os.cpu_count()})", flush=True)
    rows: list[dict] = []
    real: dict[str, str] = {}
    skipped: list[str] = []
    lengths = [int(c) for c in args.context_lengths.split(",")]
    for key in keys:
        sizes = [("tiny", None)]
        if given[key]:
            found, where = resolve(key, given[key])
            if found:
                sizes.append(("given", where))
                real[key] = where
            else:
                skipped.append(f"{key} {PATH_FLAG[key]} {given[key]!r}: skipped: {where}")
        for size, path in sizes:
            spec = {"key": key, "size": size, "path": path, "context_lengths": lengths,
                    "throughput_context": args.throughput_context, "batch": args.batch,
                    "latency_requests": args.latency_requests if size == "tiny" else args.real_latency_requests,
                    "contexts": args.contexts if size == "tiny" else args.real_contexts}
            t0 = time.perf_counter()
            r = run_sub(["--_probe", json.dumps(spec)])
            r.setdefault("key", key)
            r.setdefault("size", size)
            rows.append(r)
            print(f"  {key} ({size}): measured in {time.perf_counter() - t0:.0f} s"
                  + (f" (failed: {r['error']})" if "error" in r else ""), flush=True)
    for line in skipped:
        print(line)
    load_after = loadavg()
    report(rows, args)
    res: dict = {"rows": rows, "loadavg_before": load_before, "loadavg_after": load_after,
                 "cpu_count": os.cpu_count(), "args": {k: v for k, v in vars(args).items() if not k.startswith("_")}}

    if args.with_data:
        if not real:
            print(f"\n--with-data: directional accuracy and net Sharpe on the test split need the real weights; "
                  f"give {' and/or '.join(PATH_FLAG[k] for k in keys)} a hub id (with network access, e.g. "
                  f"amazon/chronos-bolt-small, google/timesfm-2.5-200m-pytorch) or a local folder holding the saved "
                  f"model (fetched elsewhere with `hf download ID --local-dir DIR`); skipped.")
        else:
            t0 = time.perf_counter()
            d = run_sub(["--_with_data", json.dumps(real)])
            res["with_data"] = d
            print(f"\ntest split of the default data, the given weights (fit_bundle + evaluate_part, nothing "
                  f"trained in the backbones; "
                  f"{time.perf_counter() - t0:.0f} s)")
            if "error" in d:
                print(f"failed: {d['error']}")
            else:
                print(f"{'key':<13}{'dir. acc':>9}{'of n':>8}{'accuracy':>10}{'net Sharpe':>12}{'trades':>8}")
                for key, m in d.items():
                    print(f"{key:<13}{m['directional_accuracy']:>9.3f}{m['directional_samples']:>8,}"
                          f"{m['accuracy']:>10.3f}{m['net_sharpe']:>12.2f}{m['n_trades']:>8,.0f}")
                print("dir. acc: among labelled test samples whose label is not flat (of n), the share where "
                      "prob_up > prob_down agrees with the label; accuracy: 3-class, all labelled test samples; "
                      "net Sharpe: the test backtest's, annualised, net of the contract's costs.")
    print(f"\nload average before: {load_before}; after: {load_after}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
