"""The CPCV leaderboard: every model on the same combinatorial purged splits of one dataset, side by side.

Protocol (no MLflow here; :mod:`factory.jobs.evaluate` logs what this returns):

1. **Splits.** One :class:`~factory.validation.cpcv.CombinatorialPurgedCV` over the dataset's labelled samples
   (from the first bar every model can read), with the config's purge and embargo; the embargo is checked
   against the inputs' lookback plus the largest model window. Every model sees the same splits and costs.
2. **Inputs per split.** :func:`build_dataset` fits the feature scaling, the HMM and the volatility terciles on
   the chronological training prefix, which contains CPCV test groups. Each split refits them on its own
   training samples only (:mod:`factory.evaluation.split_inputs`), so no test bar shapes what a model reads.
   Labels use the config's fixed barriers: Optuna barrier tuning is itself a selection step fitted on bars,
   so the leaderboard turns it off (tuning inside every split would be a different experiment). The search is
   judged instead by :mod:`factory.evaluation.trials`: every candidate through this same leaderboard.
3. **Fit per split.** The chronologically last ``val_frac`` of the split's training samples is the
   validation block (early stopping, calibration, return distribution: *selection* data); the rest, purged and
   embargoed around that block, is what the model is fitted on (:func:`factory.fitting.fit_bundle`).
4. **Test per group.** Each test group is evaluated as one contiguous stretch of bars (from its first sample to
   the next group's first sample), scored on its own samples, backtested with the contract's costs.
5. **Paths.** :meth:`CombinatorialPurgedCV.paths` picks, for each path, one split per group; the groups'
   per-bar net P&L concatenated in time order is that path's out-of-sample P&L. Its Sharpe is annualised with
   the *whole dataset's* bar rate, as :mod:`factory.evaluation.performance` prescribes for concatenated
   stretches: a path's groups come from different splits' backtests, and one rate for every path and every
   model keeps their Sharpe ratios on one scale, whatever stretches (and gaps) a path is made of.

Columns: ``net_sharpe_mean`` / ``net_sharpe_std`` across paths; ``win_rate`` (winning trades / trades, pooled
over paths), ``n_trades`` and ``max_drawdown_usd`` (means over paths; ``max_drawdown_usd_worst`` the worst
path); ``log_loss`` and ``ece`` over every test prediction of every split; ``sharpe_<kind>_<regime>`` the mean
over paths of the Sharpe inside each regime (the regimes of each split's own fit); ``pbo`` across the
successful models and ``dsr`` per model (:mod:`factory.evaluation.leaderboard_stats`); ``error`` for a model
that raised (its other columns NaN).
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.errors import FactoryError

DEFAULT_GROUPS = 6
DEFAULT_TEST_GROUPS = 2
DEFAULT_VAL_FRAC = 0.2
# A leaderboard row named "<key>:shuffled" is a permutation control: the model <key> fitted on labels permuted
# within each split's fitting and validation samples (factory.fitting.fit_bundle's shuffle_labels_seed). It can
# learn nothing real, so it is a null trial for PBO and DSR, and a judge that rates it well is broken.
CONTROL_SUFFIX = ":shuffled"
CONTROL_SEED = 1_000_003


def model_key(name: str) -> tuple[str, bool]:
    """``(registry key, is a shuffled-label control)`` of a leaderboard row name."""
    if name.endswith(CONTROL_SUFFIX):
        return name[: -len(CONTROL_SUFFIX)], True
    return name, False


@dataclass
class SplitPlan:
    """One CPCV split: its test groups, the bar rows it fits on, and each test group's stretch of bars."""

    index: int
    test_groups: tuple[int, ...]
    fit_rows: np.ndarray  # training samples the model is fitted on
    val_rows: np.ndarray  # selection samples: early stopping, calibration, return distribution

    @property
    def train_rows(self) -> np.ndarray:
        """Every training sample of the split (what the scaling and the HMM are fitted on)."""
        return np.union1d(self.fit_rows, self.val_rows)


@dataclass
class CPCVPlan:
    n_groups: int
    n_test_groups: int
    paths: np.ndarray  # (n_paths, n_groups): the split each path uses for each group
    stretches: list[tuple[int, int]]  # per group: [start, stop) bar rows evaluated
    group_samples: list[np.ndarray]  # per group: its sample bar rows
    splits: list[SplitPlan]
    rate: float  # bars per year of the whole dataset

    @property
    def n_paths(self) -> int:
        return int(self.paths.shape[0])


def plan_cpcv(dataset, n_groups: int = DEFAULT_GROUPS, n_test_groups: int = DEFAULT_TEST_GROUPS,
              val_frac: float = DEFAULT_VAL_FRAC, model_lookback: int = 0, first_row: int = 0) -> CPCVPlan:
    """The splits every model shares; see the module docstring (steps 1, 3 and 4)."""
    from factory.evaluation.performance import bars_per_year
    from factory.validation.cpcv import CombinatorialPurgedCV
    from factory.validation._spans import as_spans, drop_near_block

    if not 0 < val_frac < 1:
        raise FactoryError(f"val_frac must be in (0, 1), got {val_frac}")
    s = dataset.config.split
    samples = dataset.sample_rows[dataset.sample_rows >= first_row]
    t1 = dataset.labels["t1"].to_numpy()[samples].astype(np.int64)
    cv = CombinatorialPurgedCV(n_groups, n_test_groups, s.purge_bars, s.embargo_bars, t0=samples, t1=t1,
                               feature_warmup=dataset.input_lookback, model_lookback=model_lookback)
    groups = cv.groups()
    starts = [int(samples[g[0]]) for g in groups]
    stretches = [(starts[g], starts[g + 1] if g + 1 < n_groups else int(samples[groups[g][-1]]) + 1)
                 for g in range(n_groups)]
    spans = as_spans(samples, t1)
    splits = []
    for index, ((train, _test), combo) in enumerate(zip(cv.split(), cv.test_groups())):
        # `train` is sorted by position, i.e. by time: the validation block is its last chunk.
        k = int(round(val_frac * len(train)))
        if k < 1 or k >= len(train):
            raise FactoryError(f"split {index} (test groups {combo}) has {len(train)} training samples: too few for "
                               f"a validation block of {val_frac:.0%}; give more bars, fewer groups or a smaller "
                               "embargo")
        val = train[-k:]
        keep = np.zeros(len(samples), dtype=bool)
        keep[train[:-k]] = True
        # The validation block is purged and embargoed from the fitting samples like a test block.
        drop_near_block(keep, spans, int(samples[val].min()), int(t1[val].max()), s.purge_bars, s.embargo_bars)
        fit = np.flatnonzero(keep)
        if len(fit) == 0:
            raise FactoryError(f"split {index} (test groups {combo}) has no fitting samples left after purging "
                               "around its validation block; give more bars or fewer groups")
        splits.append(SplitPlan(index, tuple(combo), samples[fit], samples[val]))
    return CPCVPlan(n_groups, n_test_groups, cv.paths(), stretches, [samples[g] for g in groups], splits,
                    bars_per_year(dataset.bars["timestamp"]))


# ----------------------------------------------------------------------------------------------- per model
@dataclass
class GroupResult:
    """Out-of-sample numbers of one test group in one split (one model)."""

    pnl: np.ndarray  # net USD per bar of the group's stretch
    position: np.ndarray
    trade_net: np.ndarray  # net USD per trade
    trade_rows: np.ndarray  # each trade's signal bar, as a position in the group's stretch
    y: np.ndarray
    proba: np.ndarray  # calibrated (down, flat, up) at the group's samples
    regimes: dict[str, np.ndarray]  # per-bar regime labels by kind (the split's own fit)


@dataclass
class ModelRun:
    key: str
    groups: dict[tuple[int, int], GroupResult] = field(default_factory=dict)  # (split, group) -> result
    selection: dict[str, float] = field(default_factory=dict)  # mean validation-block numbers across splits
    members: list[str] = field(default_factory=list)  # ensemble members, if any
    seconds: float = 0.0


@dataclass
class ModelJob:
    """Picklable unit of work: one model over every split, reading the prepared context from ``folder``."""

    key: str
    settings: dict[str, Any]
    training: Any  # TrainingConfig
    folder: str


def prepare_context(dataset, plan: CPCVPlan, folder: str | Path, progress=None) -> Path:
    """Fit each split's inputs once and save them with the dataset and plan, for the workers to read.

    The dataset is written once; a split's inputs are its small fitted state, applied by each worker
    (:func:`~factory.evaluation.split_inputs.with_split_inputs`), so no worker rebuilds the dataset.
    """
    from factory.evaluation.split_inputs import fit_split_inputs, raw_features

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = raw_features(dataset)
    for sp in plan.splits:
        inputs = fit_split_inputs(dataset, sp.train_rows, raw)
        (folder / f"split_{sp.index}.pkl").write_bytes(pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL))
        if progress is not None:
            progress.update()
    (folder / "context.pkl").write_bytes(pickle.dumps((dataset, plan), protocol=pickle.HIGHEST_PROTOCOL))
    return folder


_CONTEXT: dict[str, Any] = {}  # per worker process: the context it already read


def _context(folder: str):
    if folder not in _CONTEXT:
        _CONTEXT.clear()
        _CONTEXT[folder] = pickle.loads((Path(folder) / "context.pkl").read_bytes())
    return _CONTEXT[folder]


def split_dataset(folder: str, index: int):
    """The dataset with split ``index``'s refitted inputs (read from the prepared context)."""
    from factory.evaluation.split_inputs import with_split_inputs

    dataset, _ = _context(folder)
    inputs = pickle.loads((Path(folder) / f"split_{index}.pkl").read_bytes())
    return with_split_inputs(dataset, inputs)


def run_model(job: ModelJob) -> ModelRun:
    """Fit and test one model on every split of the prepared context (what a worker runs)."""
    import os

    # Per-epoch bars of many fits would bury the leaderboard's own progress bar.
    previous = os.environ.get("FACTORY_PROGRESS")
    os.environ["FACTORY_PROGRESS"] = "0"
    try:
        return _run_model(job)
    finally:
        if previous is None:
            os.environ.pop("FACTORY_PROGRESS", None)
        else:
            os.environ["FACTORY_PROGRESS"] = previous


def _run_model(job: ModelJob) -> ModelRun:
    import warnings

    from factory.fitting import evaluate, fit_bundle, regime_labels
    from factory.models import create_model

    start = time.perf_counter()
    _, plan = _context(job.folder)
    run = ModelRun(job.key)
    selection: dict[str, list[float]] = {}
    key, control = model_key(job.key)
    for sp in plan.splits:
        ds = split_dataset(job.folder, sp.index)
        model = create_model(key, **job.settings)
        run.members = list(getattr(getattr(model, "config", None), "members", None) or [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter of tiny fits would drown the progress bar
            bundle = fit_bundle(ds, model, sp.fit_rows, sp.val_rows, job.training,
                                shuffle_labels_seed=CONTROL_SEED + sp.index if control else None)
            lo, hi = int(sp.val_rows[0]), int(sp.val_rows[-1]) + 1
            # Selection numbers only where the validation block is one stretch free of test bars.
            if not any(plan.stretches[g][0] < hi and lo < plan.stretches[g][1] for g in sp.test_groups):
                val = evaluate(ds, bundle, np.arange(lo, hi), sp.val_rows, "selection")
                for k in ("log_loss", "net_sharpe"):
                    selection.setdefault(f"selection_{k}", []).append(float(val.metrics.get(k, np.nan)))
        for g in sp.test_groups:
            lo, hi = plan.stretches[g]
            rows = np.arange(lo, hi)
            ev = evaluate(ds, bundle, rows, plan.group_samples[g], part=f"split{sp.index}_group{g}")
            proba = ev.outputs[["prob_down", "prob_flat", "prob_up"]].to_numpy()[ev.sample_pos]
            run.groups[(sp.index, g)] = GroupResult(
                np.asarray(ev.backtest.pnl, np.float64), np.asarray(ev.backtest.position, np.float64),
                ev.backtest.trades["net_usd"].to_numpy(np.float64),
                ev.backtest.trades["signal_row"].to_numpy(np.int64), ev.y, proba, regime_labels(ds, rows))
    run.selection = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
                     for k, v in selection.items()}
    run.seconds = time.perf_counter() - start
    return run


def evaluate_models(dataset, models: dict[str, dict[str, Any]], training=None, *, executor=None,
                    n_groups: int = DEFAULT_GROUPS, n_test_groups: int = DEFAULT_TEST_GROUPS,
                    val_frac: float = DEFAULT_VAL_FRAC, workdir: str | Path | None = None, progress: bool = False,
                    failed: dict[str, BaseException] | None = None, first_row: int = 0):
    """Run every model of ``models`` (key -> settings) on the same CPCV plan; returns a
    :class:`~factory.evaluation.leaderboard_stats.Leaderboard` (table, per-model runs and paths, PBO).
    ``failed``: models that already failed (e.g. their settings did not validate); they get error rows.
    ``first_row``: no sample before this bar row is fitted or tested (e.g. bars kept for proposing barriers)."""
    import tempfile

    from tqdm.auto import tqdm

    from factory.evaluation.executor import SerialExecutor
    from factory.evaluation.leaderboard_stats import build_leaderboard
    from factory.fitting import first_sample_row
    from factory.models import create_model
    from factory.train_config import TrainingConfig
    from factory.validation.splits import check_embargo

    failed = dict(failed or {})
    if not models:
        raise FactoryError("no models to evaluate")
    training = training or TrainingConfig()
    executor = executor or SerialExecutor()
    # Model windows fix the common first row and the embargo check; a model that cannot even be built fails
    # here already, but only its own row (it does not shape the others' splits).
    lookbacks, firsts, early = {}, {}, {}
    for key, settings in models.items():
        try:
            m = create_model(model_key(key)[0], **settings)
            m.preflight()  # what the model needs from outside (pretrained weights)
            # A window longer than the embargo allows fails this model only, not the splits of the others.
            check_embargo(dataset.config.split.embargo_bars, dataset.input_lookback, m.lookback)
            lookbacks[key], firsts[key] = int(m.lookback), first_sample_row(dataset, m)
        except Exception as exc:  # noqa: BLE001 - becomes the model's error row
            early[key] = exc
    plan = plan_cpcv(dataset, n_groups, n_test_groups, val_frac, max(lookbacks.values(), default=0),
                     max(int(first_row), *firsts.values()))
    runs: dict[str, Any] = {**failed, **early}
    jobs = [k for k in models if k not in early]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, \
            tqdm(total=len(plan.splits) + len(jobs), desc="leaderboard", unit="step", disable=not progress,
                 dynamic_ncols=True) as bar:
        if jobs:
            bar.set_postfix_str("fitting split inputs")
            prepare_context(dataset, plan, tmp, bar)
        items = [ModelJob(k, models[k], training, tmp) for k in jobs]
        bar.set_postfix_str(f"{len(items)} model(s)")
        for job, result in executor.map(run_model, items):
            runs[job.key] = result
            bar.set_postfix_str(f"{job.key} {'failed' if isinstance(result, BaseException) else 'done'}")
            bar.update()
    _CONTEXT.clear()
    return build_leaderboard({k: runs[k] for k in [*models, *failed]}, plan, dataset)
