"""Drift-check benchmark: one window of served model inputs against a model's reference sample, with Evidently.

Usage:  python benchmarks/drift.py [--rows 100000] [--reference-rows 5000] [--train-bars 40000] [--json FILE]

Model inputs come from the default pipeline (``mlproject/pipeline.yaml``: every feature plus the HMM regime
probabilities): the feature pipeline and HMM are fitted on the first ``--train-bars`` synthetic bars, the reference
sample is ``--reference-rows`` of those training rows (what the train step logs inside the model), and the window is
the inputs of the ``--rows`` bars that follow. All columns are compared (the daemon's default also leaves out 7
calendar columns, which makes it slightly faster).

Measured in one run, on the same data and columns:

* the daemon's check (:func:`monitoring.drift.check_drift`): Evidently ``DataDriftPreset`` with the pinned method
  (``mlproject/monitoring.yaml``: normed Wasserstein), the HTML report rendered, one BLAS thread;
* Evidently's default method on the same preset (it picks per column; for numeric columns with > 1000 reference
  rows, Wasserstein with its default 0.1 threshold), with the machine's default threads;
* the pinned method with Evidently's default threads (isolates what the thread limit saves);
* the same preset with PSI, for comparison with the README's reference figures.

Target: the daemon's check <= 30 s on the 2-core machine. Writing the HTML is timed separately (the daemon writes
it for alert windows by default: ``reports: all`` writes it for every window).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def model_inputs(train_bars: int, rows: int, reference_rows: int):
    """(reference sample, window, feature names) of the default pipeline on synthetic bars."""
    import numpy as np

    from factory.config import load_pipeline_config
    from factory.data.synth import generate_bars
    from factory.features.pipeline import FeaturePipeline
    from factory.packaging.model_inputs import compute_model_inputs, input_lookback
    from factory.packaging.reference import reference_sample
    from factory.regimes import RegimeHMM, hmm_inputs

    config = load_pipeline_config()
    fp = FeaturePipeline(config.features)
    bars = generate_bars(train_bars + fp.lookback_bars() + rows, seed=3)
    fp.fit(bars, train_end=train_bars)
    hmm = RegimeHMM(config.regimes).fit(hmm_inputs(bars, config.regimes.input_vol_window), train_end=train_bars)
    inputs = compute_model_inputs(bars, fp, hmm)
    warm = input_lookback(fp, hmm)
    reference = reference_sample(inputs, bars["timestamp"], np.arange(warm, train_bars), reference_rows)
    window = inputs.iloc[len(bars) - rows:].reset_index(drop=True)
    return reference, window, list(inputs.columns)


def evidently_preset(reference, window, columns, **preset) -> float:
    """Seconds for Evidently's DataDriftPreset with ``preset`` settings (the machine's default threads)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=columns)
        t0 = time.perf_counter()
        Report([DataDriftPreset(columns=columns, **preset)]).run(
            Dataset.from_pandas(window[columns], data_definition=definition),
            Dataset.from_pandas(reference[columns], data_definition=definition))
        return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--reference-rows", type=int, default=5_000)
    ap.add_argument("--train-bars", type=int, default=40_000)
    ap.add_argument("--skip-peers", action="store_true", help="time the daemon's check only")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()

    from monitoring.config import load_monitor_config
    from monitoring.drift import check_drift

    t0 = time.perf_counter()
    reference, window, columns = model_inputs(args.train_bars, args.rows, args.reference_rows)
    print(f"model inputs: {len(window):,} window rows x {len(columns)} columns, reference {len(reference):,} rows "
          f"({time.perf_counter() - t0:.1f} s to build)", flush=True)

    settings = load_monitor_config().drift.model_copy(update={"exclude_columns": []})
    check_drift(reference.iloc[:500], window.iloc[:500], columns[:3], settings)  # imports and first-call costs
    t0 = time.perf_counter()
    result = check_drift(reference, window, columns, settings)
    t_check = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        size = result.save_html(Path(tmp) / "report.html").stat().st_size
        t_html = time.perf_counter() - t0
    figures = {"rows": len(window), "columns": result.n_columns, "reference_rows": len(reference),
               "method": settings.method, "check_s": round(t_check, 2), "html_s": round(t_html, 2),
               "html_mb": round(size / 1e6, 1), "drift_share": round(result.drift_share, 4)}
    print(f"daemon check ({settings.method}, threshold {settings.column_threshold}): {t_check:.1f} s "
          f"(target <= 30 s), drift share {result.drift_share:.3f}; HTML {t_html:.1f} s, {size / 1e6:.1f} MB",
          flush=True)
    if not args.skip_peers:
        t_default = evidently_preset(reference, window, columns)
        print(f"Evidently default method: {t_default:.1f} s  (daemon check is {t_default / t_check:.2f}x faster)",
              flush=True)
        # The pinned method with Evidently's default threads: separates the method from the thread limit.
        t_threads = evidently_preset(reference, window, columns, num_method=settings.method,
                                     num_threshold=settings.column_threshold)
        print(f"Evidently {settings.method}, default threads: {t_threads:.1f} s  (one BLAS thread saves "
              f"{t_threads - t_check:.1f} s)", flush=True)
        t_psi = evidently_preset(reference, window, columns, num_method="psi")
        print(f"Evidently PSI: {t_psi:.1f} s  (daemon check / PSI = {t_check / t_psi:.2f})", flush=True)
        figures.update(evidently_default_s=round(t_default, 2), evidently_psi_s=round(t_psi, 2),
                       evidently_pinned_default_threads_s=round(t_threads, 2),
                       speedup_vs_default=round(t_default / t_check, 2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
