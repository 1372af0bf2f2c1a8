"""Reusable library steps between a dataset and a judged model: fit a bundle, evaluate it on any rows.

``fit_bundle(dataset, model, train_rows, val_rows)`` fits the model on ``train_rows`` (uniqueness sample
weights, label spans and the inputs' lookback for models that cross-validate inside), with ``val_rows`` as its
``eval_set`` (early stopping), then the probability calibration and the return distribution on ``val_rows``
only. ``evaluate(dataset, bundle, rows)`` runs the served code path over ``rows`` (every bar of a segment),
scores the labelled samples among them and backtests the signal with the contract's costs. Both work for any
split or cross-validation fold (rows are bar positions), and the model reads its input through the one seam,
:func:`factory.models.views.model_input` (rows, windows or price contexts). MLflow is not touched here: the
train job logs what these return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import FactoryError


@dataclass
class Evaluation:
    """Outputs and numbers of one evaluated stretch of bars."""

    part: str
    outputs: pd.DataFrame  # pyfunc outputs for every bar of the stretch
    sample_pos: np.ndarray  # positions of labelled samples within `outputs`
    y: np.ndarray
    raw_proba: np.ndarray
    backtest: Any
    metrics: dict[str, float] = field(default_factory=dict)
    # Per-regime numbers of the backtest: columns kind (volatility / trend / hmm), regime, net_sharpe,
    # net_pnl_usd, exposure, n_bars; the regime of a bar is the one known at its close.
    regimes: pd.DataFrame | None = None


def regime_labels(dataset, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The regime of each bar of ``rows`` by kind: volatility and trend labels, their cross (``2 * vol + trend``,
    -1 where either is undefined) and the most probable HMM state."""
    reg = dataset.regimes
    vol, trend = reg["vol_regime"].to_numpy()[rows], reg["trend_regime"].to_numpy()[rows]
    cross = np.where((vol >= 0) & (trend >= 0), 2 * vol.astype(np.int64) + trend, -1)
    out = {"volatility": vol, "trend": trend, "volatility_x_trend": cross}
    probs = reg.filter(like="hmm_p").to_numpy()
    if probs.shape[1]:
        p = probs[rows]
        out["hmm"] = np.where(np.isfinite(p).all(axis=1), np.nan_to_num(p).argmax(axis=1), -1)
    return out


def regime_names(dataset) -> dict[str, dict]:
    """Display names of each regime kind's labels (see :func:`regime_labels`)."""
    from factory.regimes import TREND_REGIME_NAMES, VOLATILITY_REGIME_NAMES, hmm_state_names

    cross = {2 * v + t: f"{vn}_{tn}" for v, vn in VOLATILITY_REGIME_NAMES.items() if v >= 0
             for t, tn in TREND_REGIME_NAMES.items() if t >= 0}
    return {"volatility": VOLATILITY_REGIME_NAMES, "trend": TREND_REGIME_NAMES, "volatility_x_trend": cross,
            "hmm": hmm_state_names(dataset.regimes.filter(like="hmm_p").shape[1])}


def regime_table(dataset, rows: np.ndarray, pnl: np.ndarray, position: np.ndarray, rate: float,
                 trades: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`factory.evaluation.performance.per_regime` for every regime kind, stacked with a ``kind`` column.

    ``trades`` is the backtest's trade table over the same ``rows`` (its ``signal_row`` positions them).
    """
    from factory.evaluation.performance import REGIME_COLUMNS, per_regime

    names = regime_names(dataset)
    sig, net = (None, None) if trades is None else (trades["signal_row"].to_numpy(), trades["net_usd"].to_numpy())
    tables = [per_regime(pnl, position, lab, rate, names[kind], sig, net).assign(kind=kind)
              for kind, lab in regime_labels(dataset, rows).items()]
    out = pd.concat(tables, ignore_index=True)
    return out[["kind", *REGIME_COLUMNS]]


def sample_positions(dataset, rows: np.ndarray) -> np.ndarray:
    """Positions in ``dataset.sample_rows`` of bar ``rows`` (each must be a sample row)."""
    rows = np.asarray(rows, dtype=np.int64)
    pos = np.searchsorted(dataset.sample_rows, rows)
    ok = (pos < len(dataset.sample_rows)) & (dataset.sample_rows[np.minimum(pos, len(dataset.sample_rows) - 1)]
                                            == rows)
    if not ok.all():
        raise FactoryError(f"bar row {int(rows[~ok][0])} is not a sample row of the dataset (warm-up or no label)")
    return pos


def first_sample_row(dataset, model) -> int:
    """First bar at which ``model`` can read its whole input: the inputs' lookback plus the model's window."""
    lookback = dataset.input_lookback
    if model.input_kind == "window":
        return lookback + model.lookback
    if model.input_kind == "price_window":
        return max(lookback, model.lookback)
    return lookback


def _usable(dataset, model, rows: np.ndarray) -> np.ndarray:
    """The rows whose input the model can read (a window model skips the first ``lookback`` sample rows)."""
    return rows[rows >= first_sample_row(dataset, model)]


def fit_bundle(dataset, model, train_rows=None, val_rows=None, training=None, shuffle_labels_seed=None):
    """Fit ``model`` on ``train_rows``, then calibration and returns on ``val_rows`` (bar positions; the
    dataset's chronological training and validation splits by default). Returns a ModelBundle.

    ``shuffle_labels_seed`` (an int) builds a permutation control: the training and validation labels are
    shuffled (each split within itself, so class shares stay the same) before anything is fitted, and the
    returns are shuffled with them. Such a model can learn nothing real; the leaderboard uses it as a null
    trial, and a judge that rates it well is broken.
    """
    from factory.contracts import get_contract
    from factory.models.calibration import ProbabilityCalibrator
    from factory.models.returns import ReturnDistribution
    from factory.packaging.bundle import RETURN_QUANTILES, ModelBundle
    from factory.train_config import TrainingConfig
    from factory.validation.splits import check_embargo

    training = training or TrainingConfig()
    lookback = dataset.input_lookback
    # The embargo must cover everything one sample reads: the inputs' lookback and the model's window.
    check_embargo(dataset.config.split.embargo_bars, lookback, model.lookback)
    train_rows = _usable(dataset, model, np.asarray(dataset.rows("train") if train_rows is None else train_rows))
    val_rows = _usable(dataset, model, np.asarray(dataset.rows("val") if val_rows is None else val_rows))
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise FactoryError("the training or validation rows are empty: give more bars or smaller embargo/purge")
    labels = dataset.labels["label"].to_numpy()
    t1 = dataset.labels["t1"].to_numpy()
    close = dataset.bars["close"].to_numpy()
    # Models that price the label barriers read the labels' own barriers, recomputed from the bars by the code
    # the served bundle runs (factory.labels.barriers).
    barrier_def = dataset.barrier_definition if model.reads_barriers else None
    widths = barrier_def.widths(dataset.bars) if barrier_def is not None else None

    def read(rows):
        from factory.models.views import model_input

        return model_input(model, dataset.features, close, rows, first_valid=lookback, barriers=widths)

    w_tr = dataset.weights[sample_positions(dataset, train_rows)]
    w_val = dataset.weights[sample_positions(dataset, val_rows)]
    y_tr, y_val = labels[train_rows].astype(np.int64), labels[val_rows].astype(np.int64)
    ret_val = dataset.labels["ret"].to_numpy()[val_rows]
    if shuffle_labels_seed is not None:
        rng = np.random.default_rng(int(shuffle_labels_seed))
        y_tr = y_tr[rng.permutation(len(y_tr))]
        perm = rng.permutation(len(y_val))
        y_val, ret_val = y_val[perm], ret_val[perm]
    model.fit(read(train_rows), y_tr, w_tr, eval_set=(read(val_rows), y_val, w_val),
              t0=train_rows, t1=t1[train_rows], input_lookback=lookback)
    calibrator = ProbabilityCalibrator(training.calibration).fit(model.predict_proba(read(val_rows)), y_val)
    returns = ReturnDistribution(RETURN_QUANTILES).fit(ret_val, y_val)
    # Signals and backtests always pay the contract's real costs, even if the labels were built without them.
    cost = get_contract(dataset.config.contract).cost_model()
    bundle = ModelBundle(dataset.feature_pipeline, dataset.hmm, model, calibrator, returns, cost,
                         contract=dataset.config.contract, horizon_bars=int(dataset.barriers["horizon"]),
                         barriers=barrier_def)
    if bundle.input_names != list(dataset.features.columns):
        raise FactoryError("the served model inputs differ from the dataset's features; the pyfunc would not "
                           "reproduce training")
    return bundle


def segment(dataset, part: str) -> np.ndarray:
    """Every bar row of the validation or test segment (``[val_start, val_end)`` / ``[test_start, end)``)."""
    b = dataset.split.boundaries
    return np.arange(b.val_start, b.val_end) if part == "val" else np.arange(b.test_start, b.end)


def trade_signals(dataset, bundle, outputs: pd.DataFrame, rows: np.ndarray):
    """Backtest the bundle's signal over bar ``rows`` with the dataset's backtest settings, the labels' barriers
    (:class:`~factory.evaluation.backtest.BacktestConfig`) and the bundle's costs, annualised with the window's own
    bar rate (so a window scores the same inside its dataset or cut out as a file of its own)."""
    from factory.evaluation.backtest import backtest, position_sizes

    config = dataset.config.backtest
    window = dataset.bars.iloc[rows[0]:rows[-1] + 1]
    # The ATR has bounded memory: computed from its lookback before the window, it equals the labels' ATR.
    barrier_def = dataset.barrier_definition
    start = max(int(rows[0]) - barrier_def.lookback, 0)
    offsets = [o[rows[0] - start:] for o in barrier_def.offsets(dataset.bars.iloc[start:rows[-1] + 1])]
    signal = outputs["signal"].to_numpy()
    size = position_sizes(outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy(), signal, config)
    return backtest(window, signal, bundle.horizon_bars, bundle.cost_model, barriers=offsets, size=size,
                    config=config)


def evaluate(dataset, bundle, rows, samples=None, part: str = "test") -> Evaluation:
    """Outputs at every bar of ``rows`` (contiguous bar positions); classification metrics on the labelled
    ``samples`` (bar positions inside ``rows``; default: every sample row among them); a backtest of the signal
    over all of ``rows`` with the bundle's costs."""
    from factory.evaluation.metrics import classification_metrics
    from factory.evaluation.performance import bars_per_year

    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0 or not np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        raise FactoryError("evaluate needs a non-empty, contiguous stretch of bar rows")
    if samples is None:
        samples = dataset.sample_rows[(dataset.sample_rows >= rows[0]) & (dataset.sample_rows <= rows[-1])]
    samples = np.asarray(samples, dtype=np.int64)
    if len(samples) and (samples.min() < rows[0] or samples.max() > rows[-1]):
        raise FactoryError("evaluation samples must lie inside the evaluated rows")
    bars = dataset.bars
    close = bars["close"].to_numpy()
    # The model runs once per bar; barrier widths (for models that read them) come from the bars as when served.
    raw_all, returns = bundle.raw_outputs(dataset.features, close, rows, barriers=bundle.barrier_widths(bars))
    outputs = bundle.outputs_from_raw(raw_all, close, bars["timestamp"], rows, returns)
    pos = samples - rows[0]
    y = dataset.labels["label"].to_numpy()[samples].astype(np.int64)
    proba = outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy()[pos]
    raw = raw_all[pos]
    bt = trade_signals(dataset, bundle, outputs, rows)
    metrics = classification_metrics(y, proba)
    metrics["log_loss_uncalibrated"] = classification_metrics(y, raw)["log_loss"]
    metrics.update(bt.metrics)
    metrics["n_samples"] = float(len(y))
    metrics["signal_long_share"] = float(np.mean(outputs["signal"] == 1))
    metrics["signal_short_share"] = float(np.mean(outputs["signal"] == -1))
    regimes = regime_table(dataset, rows, bt.pnl, bt.position, bars_per_year(bars["timestamp"].iloc[rows]),
                           bt.trades)
    for r in regimes.itertuples():
        if r.kind in ("volatility", "trend"):  # the cross and the HMM states are in the table (and its CSV)
            metrics[f"net_sharpe_{r.kind}_{r.regime}"] = r.net_sharpe
    return Evaluation(part, outputs, pos, y, raw, bt, metrics, regimes)


def evaluate_part(dataset, bundle, part: str) -> Evaluation:
    """:func:`evaluate` over the whole validation or test segment, scored on that split's samples."""
    return evaluate(dataset, bundle, segment(dataset, part), dataset.rows(part), part)
