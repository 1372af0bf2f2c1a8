"""The HMM regimes: causal, bounded-memory (fixed-lag) filtering, train-only fitting, state recovery, persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hmmlearn.hmm import GaussianHMM

from factory.errors import ConfigError, FactoryError
from factory.regimes import RegimeConfig, RegimeHMM, hmm_inputs
from factory.regimes.hmm import stationary_distribution

from regime_synth import regime_bars

CFG2 = RegimeConfig(n_states=2, n_iter=30, seed=0)
TRAIN_END = 3000


def perturb_after(bars: pd.DataFrame, t: int, seed: int = 99, vol=(4.0, 9.0)) -> pd.DataFrame:
    """Replace every row after ``t`` with an unrelated path (by default a much more volatile one)."""
    other, _ = regime_bars(len(bars), seed=seed, vol=vol)
    # Rescale the other path to continue from bar t's close, so the future differs in its moves, not by a jump.
    scale = bars["close"].iat[t] / other["close"].iat[t]
    out = bars.copy()
    for c in ("open", "high", "low", "close"):
        out.loc[t + 1:, c] = other.loc[t + 1:, c].to_numpy() * scale
    out.loc[t + 1:, "volume"] = other.loc[t + 1:, "volume"].to_numpy()
    return out


@pytest.fixture(scope="module")
def fitted(switching):
    bars, states = switching
    X = hmm_inputs(bars)
    return bars, states, X, RegimeHMM(CFG2).fit(X, train_end=TRAIN_END)


def _as_hmmlearn(model: RegimeHMM) -> GaussianHMM:
    """The same parameters inside hmmlearn, to show what its forward-backward API would have done."""
    k, d = model.means_.shape
    h = GaussianHMM(n_components=k, covariance_type="full", init_params="", params="")
    h.n_features = d
    h.startprob_ = model.initial_distribution()
    h.transmat_ = model.transmat_
    h.means_ = model.means_
    h.covars_ = model.covars_
    return h


# ----------------------------------------------------------------------------------------------------------------
# (0) the observations are causal
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [40, 1000, 4321])
def test_hmm_inputs_are_causal(switching, t):
    bars, _ = switching
    X = hmm_inputs(bars)
    Xp = hmm_inputs(perturb_after(bars, t))
    np.testing.assert_array_equal(X[: t + 1], Xp[: t + 1])
    assert not np.allclose(X[t + 1:], Xp[t + 1:], equal_nan=True)


def test_hmm_inputs_warmup_is_nan(switching):
    bars, _ = switching
    X = hmm_inputs(bars, vol_window=30)
    assert X.shape == (len(bars), 3)
    assert np.isnan(X[:30]).any(axis=1).all()
    assert np.isfinite(X[30:]).all()


# ----------------------------------------------------------------------------------------------------------------
# (1) filtered probabilities do not see the future -- and forward-backward does
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [100, 1500, TRAIN_END - 1, 3500, 5000])
def test_filter_proba_ignores_future_rows(fitted, t):
    bars, _, X, model = fitted
    Xp = hmm_inputs(perturb_after(bars, t))
    p = model.filter_proba(X)
    pp = model.filter_proba(Xp)
    np.testing.assert_allclose(pp[: t + 1], p[: t + 1], rtol=0, atol=1e-9)
    assert np.nanmax(np.abs(pp[t + 1:] - p[t + 1:])) > 1e-3  # the perturbation is real


def _uncertain_rows(model, X, how_many=2):
    """Rows where the filter is least sure (probability nearest 0.5): there the future matters most."""
    p = model.filter_proba(X)[:, 0]
    d = np.abs(np.nan_to_num(p, nan=1.0) - 0.5)
    d[: model.lookback] = 1.0  # undefined there
    d[-50:] = 1.0  # keep some future to perturb
    return np.argsort(d)[:how_many]


CALM_FUTURE, WILD_FUTURE = (0.3, 0.3), (9.0, 9.0)


def test_filter_ignores_future_rows_where_it_is_uncertain(fitted):
    bars, _, X, model = fitted
    p = model.filter_proba(X)
    for t in _uncertain_rows(model, X):
        for vol in (CALM_FUTURE, WILD_FUTURE):
            Xp = hmm_inputs(perturb_after(bars, int(t), vol=vol))
            np.testing.assert_allclose(model.filter_proba(Xp)[: t + 1], p[: t + 1], rtol=0, atol=1e-9)


def test_forward_backward_would_leak_the_future(fitted):
    """Teeth: hmmlearn's predict_proba (forward-backward smoothing) fed the same two futures (a very calm one and
    a very wild one) gives different probabilities at rows <= t, where our filter gave identical ones."""
    bars, _, X, model = fitted
    first = 30  # first NaN-free row
    h = _as_hmmlearn(model)
    for t in _uncertain_rows(model, X):
        smooth = []
        for vol in (CALM_FUTURE, WILD_FUTURE):
            Xp = hmm_inputs(perturb_after(bars, int(t), vol=vol))
            smooth.append(h.predict_proba((Xp[first:] - model.mean_) / model.scale_)[: t + 1 - first])
        assert np.abs(smooth[0] - smooth[1]).max() > 1e-2
    # Our filter agrees with hmmlearn where the smoother has nothing left to add: the last row of the
    # filter's window (the lag rows ending at t, started from the stationary prior), where filtered ==
    # smoothed by definition.
    p = model.filter_proba(X)
    lag = model.config.filter_lag
    z = (X - model.mean_) / model.scale_
    for t in (model.lookback, 700, 2500, len(X) - 1):
        np.testing.assert_allclose(p[t], h.predict_proba(z[t - lag + 1: t + 1])[-1], atol=1e-8)


def test_fit_then_filter_pipeline_is_causal_after_train_end(switching):
    """Fitting on rows < train_end and filtering: perturbing rows after t >= train_end - 1 changes nothing <= t."""
    bars, _ = switching
    X = hmm_inputs(bars)
    p = RegimeHMM(CFG2).fit(X, TRAIN_END).filter_proba(X)
    for t in (TRAIN_END - 1, TRAIN_END + 700):
        Xp = hmm_inputs(perturb_after(bars, t))
        pp = RegimeHMM(CFG2).fit(Xp, TRAIN_END).filter_proba(Xp)
        np.testing.assert_allclose(pp[: t + 1], p[: t + 1], rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------------------------------------------
# (2) parameters come from training rows only
# ----------------------------------------------------------------------------------------------------------------

PARAMS = ["mean_", "scale_", "startprob_", "transmat_", "means_", "covars_"]


def test_fit_uses_training_rows_only(switching, fitted):
    bars, _, X, model = fitted
    Xp = hmm_inputs(perturb_after(bars, TRAIN_END - 1))
    other = RegimeHMM(CFG2).fit(Xp, train_end=TRAIN_END)
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(other, name), getattr(model, name), err_msg=name)
    assert other.log_likelihood_ == model.log_likelihood_


def test_changing_a_training_row_changes_the_fit(fitted):
    """Teeth for the test above: the parameters do react to the rows they are allowed to see."""
    _, _, X, model = fitted
    Xp = X.copy()
    Xp[TRAIN_END - 200: TRAIN_END] *= 3.0
    other = RegimeHMM(CFG2).fit(Xp, train_end=TRAIN_END)
    assert any(not np.array_equal(getattr(other, n), getattr(model, n)) for n in PARAMS)


def test_max_fit_rows_uses_the_most_recent_rows(fitted):
    _, _, X, _ = fitted
    cfg = CFG2.model_copy(update={"max_fit_rows": 1000})
    m = RegimeHMM(cfg).fit(X, train_end=TRAIN_END)
    assert (m.fit_start_, m.fit_end_, m.n_fit_rows_) == (TRAIN_END - 1000, TRAIN_END, 1000)
    Xp = X.copy()
    Xp[: TRAIN_END - 1000] = 0.0  # outside the window: no effect
    m2 = RegimeHMM(cfg).fit(Xp, train_end=TRAIN_END)
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(m2, name), getattr(m, name))


def test_too_few_training_rows_is_an_error(fitted):
    _, _, X, _ = fitted
    with pytest.raises(FactoryError):
        RegimeHMM(CFG2).fit(X, train_end=40)
    with pytest.raises(ConfigError):
        RegimeHMM(CFG2).fit(X, train_end=len(X) + 1)
    with pytest.raises(FactoryError):
        RegimeHMM(CFG2).filter_proba(X)


# ----------------------------------------------------------------------------------------------------------------
# (3) the filter recovers known hidden states; state 0 is the calm one
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recovers_calm_and_volatile_states(switching, seed):
    bars, states = switching
    X = hmm_inputs(bars)
    cfg = CFG2.model_copy(update={"seed": seed})
    s = RegimeHMM(cfg).fit(X, train_end=TRAIN_END).filter_states(X)
    ok = s >= 0
    # No label mapping needed: states are ordered by return variance, so 0 = calm, 1 = volatile.
    assert (s[ok] == states[ok]).mean() > 0.85
    assert (s[TRAIN_END:] == states[TRAIN_END:]).mean() > 0.85  # out of sample


def test_states_ordered_by_return_variance(fitted):
    _, _, _, model = fitted
    assert np.all(np.diff(model.covars_[:, 0, 0]) >= 0)
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)


def test_four_states_default_config(switching):
    bars, _ = switching
    X = hmm_inputs(bars)
    m = RegimeHMM(RegimeConfig(n_iter=20)).fit(X, train_end=TRAIN_END)
    p = m.filter_proba(X)
    assert p.shape == (len(X), 4)
    assert np.all(np.diff(m.covars_[:, 0, 0]) >= 0)


# ----------------------------------------------------------------------------------------------------------------
# (4) probabilities are well formed; save/load is exact
# ----------------------------------------------------------------------------------------------------------------

def test_probabilities_are_finite_and_sum_to_one(fitted):
    _, _, X, model = fitted
    p = model.filter_proba(X)
    first = model.lookback  # 30 bars of observation warm-up, then a full lag of rows
    assert first == 30 + CFG2.filter_lag - 1
    assert np.isnan(p[:first]).all()
    assert np.isfinite(p[first:]).all()
    assert (p[first:] >= 0).all()
    np.testing.assert_allclose(p[first:].sum(axis=1), 1.0, atol=1e-12)


def test_a_missing_row_blanks_exactly_the_windows_that_hold_it(fitted):
    _, _, X, model = fitted
    lag = model.config.filter_lag
    Xm = X.copy()
    Xm[2000] = np.nan
    p, base = model.filter_proba(Xm), model.filter_proba(X)
    assert np.isnan(p[2000: 2000 + lag]).all()
    np.testing.assert_array_equal(p[:2000], base[:2000])
    np.testing.assert_array_equal(p[2000 + lag:], base[2000 + lag:])


def test_initial_prior_is_stationary(fitted):
    _, _, _, model = fitted
    pi = model.initial_distribution()
    np.testing.assert_allclose(pi @ model.transmat_, pi, atol=1e-12)
    np.testing.assert_allclose(stationary_distribution(np.array([[0.9, 0.1], [0.3, 0.7]])), [0.75, 0.25])


def test_save_load_roundtrip_is_exact(fitted, tmp_path):
    _, _, X, model = fitted
    path = model.save(tmp_path / "hmm")
    assert path.suffix == ".json"
    loaded = RegimeHMM.load(tmp_path / "hmm")
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.config == model.config
    np.testing.assert_array_equal(loaded.filter_proba(X), model.filter_proba(X))
    with pytest.raises(ConfigError):
        RegimeHMM.load(tmp_path / "nowhere")


# ----------------------------------------------------------------------------------------------------------------
# (5) bounded memory: the probability at t is a function of the last `lookback` bars only
# ----------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [400, 1777, TRAIN_END - 1, TRAIN_END, 4999, 5999])
def test_probability_at_t_needs_only_the_lookback(fitted, t):
    """Bars t - lookback .. t alone give the probability the full history gives at t, bit for bit; one bar
    fewer and it is undefined (the declared lookback is exact)."""
    bars, _, X, model = fitted
    full = model.filter_proba(X)
    cut = bars.iloc[t - model.lookback: t + 1].reset_index(drop=True)
    np.testing.assert_array_equal(model.filter_proba(hmm_inputs(cut))[-1], full[t])  # bit for bit
    shorter = bars.iloc[t - model.lookback + 1: t + 1].reset_index(drop=True)
    assert np.isnan(model.filter_proba(hmm_inputs(shorter))[-1]).all()
    # only the requested rows are computed, and they are the same numbers
    np.testing.assert_array_equal(model.filter_proba(X, rows=[t, t - 3]), full[[t, t - 3]])


def _sticky_model(rows: int = 3000) -> tuple[RegimeHMM, np.ndarray]:
    """Two barely distinguishable states that rarely switch: a filter that remembers much more than its lag."""
    model = RegimeHMM(RegimeConfig(n_states=2, filter_lag=240, input_vol_window=30))
    model.mean_, model.scale_ = np.zeros(3), np.ones(3)
    model.startprob_ = np.array([0.5, 0.5])
    model.transmat_ = np.array([[0.9995, 0.0005], [0.0005, 0.9995]])
    model.means_ = np.array([[0.0, 0.0, 0.0], [0.05, 0.05, 0.05]])
    model.covars_ = np.array([np.eye(3), np.eye(3)])
    X = np.random.default_rng(5).normal(size=(rows, 3))
    X[:30] = np.nan  # the observations' warm-up, as hmm_inputs has it
    return model, X


def test_an_unbounded_filter_would_remember_where_the_series_began():
    """Teeth: with sticky, weakly informative states the textbook forward filter over the whole series (what this
    module did before the lag) gives at t a different number from the full history than from the last
    ``lookback + 1`` rows; the fixed-lag filter gives the same number to the last bit."""
    model, X = _sticky_model()
    for t in (1000, 2999):
        cut = X[t - model.lookback: t + 1].copy()
        cut[:30] = np.nan
        unbounded = np.abs(_unbounded_filter(model, X[: t + 1])[-1] - _unbounded_filter(model, cut)[-1]).max()
        assert unbounded > 1e-3
        np.testing.assert_array_equal(model.filter_proba(cut)[-1], model.filter_proba(X)[t])


def _unbounded_filter(model, X, first=30):
    """The textbook forward filter over the whole series from the stationary prior (plain NumPy)."""
    b = np.exp(model.log_emission(X[first:]))
    alpha = model.initial_distribution() * b[0]
    out = [alpha / alpha.sum()]
    for row in b[1:]:
        alpha = (out[-1] @ model.transmat_) * row
        out.append(alpha / alpha.sum())
    return np.vstack(out)


def test_fixed_lag_filter_tracks_the_unbounded_one(fitted):
    """The lag forgets only the prior: the two filters name the same state almost always."""
    _, _, X, model = fitted
    unbounded = _unbounded_filter(model, X)
    ours = model.filter_proba(X)[30:]
    ok = np.isfinite(ours).all(axis=1)
    assert ok.sum() > 5000
    assert (ours[ok].argmax(axis=1) == unbounded[ok].argmax(axis=1)).mean() > 0.99


def test_filter_lag_is_configurable_and_validated():
    assert RegimeHMM(RegimeConfig(filter_lag=10, input_vol_window=5)).lookback == 14
    with pytest.raises(ConfigError):
        RegimeConfig.from_dict({"filter_lag": 0})
    with pytest.raises(ConfigError, match="mode"):
        RegimeConfig.from_dict({"mode": "walk_forward"})


def test_recovers_volatility_regimes_of_the_project_synthetic_bars():
    """On the shared synthetic MES bars (intraday seasonality included), 2 states separate calm from volatile."""
    synth = pytest.importorskip("factory.data.synth")
    bars, hidden = synth.generate_bars(30_000, seed=0, return_regimes=True)
    volatile = (np.asarray(hidden) >= 2).astype(np.int64)  # ids 2, 3 are the volatile regimes
    X = hmm_inputs(bars)
    s = RegimeHMM(RegimeConfig(n_states=2, seed=0)).fit(X, train_end=20_000).filter_states(X)
    assert (s[20_000:] == volatile[20_000:]).mean() > 0.7  # out of sample
