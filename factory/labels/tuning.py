"""Choose the barrier widths and horizon on TRAINING bars only, with Optuna's seeded TPE sampler.

Objective, for candidate ``(k_up, k_down, horizon)`` and the valid triple-barrier labels of the training bars:

    p_c     = share of the valid labels in class c, c in {-1, 0, +1}
    H       = -sum_c p_c log p_c / log 3                    (normalised entropy, in [0, 1])
    net_i   = k_side / (k_side + c_i)  for a label i = ±1  (k_side = k_up for +1, k_down for -1;
              c_i = cost_in_atr at i): the share of the barrier distance that is profit after the round trip
    N       = mean of net_i over the non-zero labels        (in (0, 1]; 1 when costs are off)
    score   = H * N       (0 when there are fewer than ``MIN_VALID_LABELS`` valid labels or no non-zero label)

Why: balanced classes (high ``H``) give a classifier something to learn in every direction and keep a
"no clear move" class; ``N`` stops the search from buying balance with barriers so narrow that the round-trip
cost is most of the move (e.g. on MES with a 1-point ATR, ``k = 0.5`` leaves 40% net, ``k = 2`` leaves 73%).
Both factors are smooth in the widths, so TPE has a gradient-free but informative surface. The result is
deterministic given the bars, the configuration and the seed (sequential trials, seeded sampler).

The training bars are the only market data the tuner receives. :func:`tune_on_split` cuts a longer series at
``train_end`` BEFORE labelling, so a label whose horizon would cross ``train_end`` has no full horizon inside the
slice and is invalid: no validation or test bar can influence the choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from factory.contracts import CostModel
from factory.errors import ConfigError
from factory.features.indicators import atr as wilder_atr
from factory.labels.config import LabelConfig
from factory.labels.triple_barrier import triple_barrier_labels

MIN_VALID_LABELS = 50
K_STEP = 0.05  # widths are searched on a 0.05 grid: readable values, and repeated candidates are recognisable


@dataclass(frozen=True)
class TunedBarriers:
    k_up: float
    k_down: float
    horizon: int
    score: float
    n_trials: int

    def to_dict(self) -> dict:
        return asdict(self)

    def apply(self, config: LabelConfig) -> LabelConfig:
        """``config`` with the tuned widths and horizon."""
        return config.model_copy(update={"k_up": self.k_up, "k_down": self.k_down, "horizon": self.horizon})


def barrier_score(labels: pd.DataFrame, k_up: float, k_down: float) -> float:
    """The objective above, from the output of :func:`triple_barrier_labels`."""
    lab = labels["label"].to_numpy()
    valid = np.isfinite(lab)
    if valid.sum() < MIN_VALID_LABELS:
        return 0.0
    lab = lab[valid]
    counts = np.array([(lab == -1).sum(), (lab == 0).sum(), (lab == 1).sum()], dtype=np.float64)
    p = counts / counts.sum()
    nz = p[p > 0]
    entropy = float(-(nz * np.log(nz)).sum() / np.log(3.0))
    hit = lab != 0
    if not hit.any():
        return 0.0
    cost = labels["cost_in_atr"].to_numpy()[valid][hit]
    k_side = np.where(lab[hit] > 0, k_up, k_down)
    net = float(np.mean(k_side / (k_side + cost)))
    return entropy * net


@dataclass(frozen=True)
class BarrierTrial:
    """One Optuna trial of the barrier search: a candidate ``(k_up, k_down, horizon)`` and its score."""

    number: int
    k_up: float
    k_down: float
    horizon: int
    score: float

    def apply(self, config: LabelConfig) -> LabelConfig:
        """``config`` with this trial's widths and horizon (and tuning off: the barriers are now fixed)."""
        return config.model_copy(update={"k_up": self.k_up, "k_down": self.k_down, "horizon": self.horizon,
                                         "tuning": config.tuning.model_copy(update={"enabled": False})})


def _study(bars_train: pd.DataFrame, label_config: LabelConfig | None, cost_model: CostModel | None,
           atr: np.ndarray | None):
    """The finished Optuna study of :func:`tune_barriers` and the ranges' low ends (for fixed parameters)."""
    import optuna  # heavy import kept lazy

    cfg = label_config if label_config is not None else LabelConfig()
    tcfg = cfg.tuning
    n = len(bars_train)
    if atr is None:
        atr = wilder_atr(bars_train["high"].to_numpy(np.float64), bars_train["low"].to_numpy(np.float64),
                         bars_train["close"].to_numpy(np.float64), cfg.atr_window)
    else:
        atr = np.asarray(atr, dtype=np.float64)
        if atr.shape != (n,):
            raise ConfigError(f"atr must have shape ({n},) like the training bars, got {atr.shape}")
    lo_k, hi_k = tcfg.k_up_range
    lo_d, hi_d = tcfg.k_down_range
    lo_h, hi_h = tcfg.horizon_range
    if not (0 < lo_k <= hi_k and 0 < lo_d <= hi_d and 1 <= lo_h <= hi_h):
        raise ConfigError(f"invalid tuning ranges: k_up {tcfg.k_up_range}, k_down {tcfg.k_down_range}, "
                          f"horizon {tcfg.horizon_range}")
    cost = cost_model if cfg.include_costs else None

    def objective(trial) -> float:
        k_up = trial.suggest_float("k_up", lo_k, hi_k, step=K_STEP) if hi_k > lo_k else lo_k
        k_down = trial.suggest_float("k_down", lo_d, hi_d, step=K_STEP) if hi_d > lo_d else lo_d
        horizon = trial.suggest_int("horizon", lo_h, hi_h) if hi_h > lo_h else lo_h
        labels = triple_barrier_labels(bars_train, k_up, k_down, horizon, cost_model=cost,
                                       atr_window=cfg.atr_window, path=cfg.path, atr=atr,
                                       entry=cfg.entry)
        return barrier_score(labels, k_up, k_down)

    opt_log = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=tcfg.seed))
        study.optimize(objective, n_trials=tcfg.n_trials, n_jobs=1, show_progress_bar=False)
    finally:
        optuna.logging.set_verbosity(opt_log)
    return study, (lo_k, lo_d, lo_h)


def _candidate(trial, lows) -> tuple[float, float, int]:
    # round off the float noise of the 0.05 grid (3.8000000000000003 -> 3.8)
    return (round(float(trial.params.get("k_up", lows[0])), 10), round(float(trial.params.get("k_down", lows[1])), 10),
            int(trial.params.get("horizon", lows[2])))


def tune_barriers(bars_train: pd.DataFrame, label_config: LabelConfig | None = None,
                  cost_model: CostModel | None = None, atr: np.ndarray | None = None) -> TunedBarriers:
    """Search ``(k_up, k_down, horizon)`` in ``label_config.tuning``'s ranges maximising the module's score.

    ``bars_train`` must contain the training rows only. ``atr`` (price points, aligned on ``bars_train``)
    overrides the Wilder ATR of ``label_config.atr_window``; costs apply when ``label_config.include_costs``.
    """
    study, lows = _study(bars_train, label_config, cost_model, atr)
    best = study.best_trial
    k_up, k_down, horizon = _candidate(best, lows)
    return TunedBarriers(k_up=k_up, k_down=k_down, horizon=horizon, score=float(best.value),
                         n_trials=len(study.trials))


def barrier_trials(bars_train: pd.DataFrame, label_config: LabelConfig | None = None,
                   cost_model: CostModel | None = None, atr: np.ndarray | None = None) -> list[BarrierTrial]:
    """Every distinct candidate the search of :func:`tune_barriers` tried, in trial order, with its score.

    TPE proposes some candidates more than once; a repeat is the same strategy, so it is kept once (its first
    trial). The candidate :func:`tune_barriers` returns is the one with the highest score (the first on ties).
    """
    study, lows = _study(bars_train, label_config, cost_model, atr)
    seen, out = set(), []
    for t in study.trials:
        cand = _candidate(t, lows)
        if cand in seen or t.value is None:
            continue
        seen.add(cand)
        out.append(BarrierTrial(int(t.number), *cand, score=float(t.value)))
    return out


def tune_on_split(bars: pd.DataFrame, train_end: int, label_config: LabelConfig | None = None,
                  cost_model: CostModel | None = None, atr: np.ndarray | None = None) -> TunedBarriers:
    """:func:`tune_barriers` on rows ``< train_end`` of ``bars`` (and of ``atr``, which must be causal).

    The slice is taken before anything else, so labels near ``train_end`` cannot reach past it.
    """
    train_end = int(train_end)
    if not 0 < train_end <= len(bars):
        raise ConfigError(f"train_end={train_end} outside [1, {len(bars)}]")
    train = bars.iloc[:train_end].reset_index(drop=True)
    atr_train = None if atr is None else np.asarray(atr, dtype=np.float64)[:train_end]
    return tune_barriers(train, label_config, cost_model, atr=atr_train)
