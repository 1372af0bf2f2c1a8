"""Leakage proofs on the whole dataset build (features + HMM + tuned labels + split), default feature set.

Each test would fail if the property were broken: a fit that read validation/test rows, a feature or regime
probability that read later bars, a label that read beyond its horizon.
"""

import numpy as np
import pandas as pd
import pytest

from factory.config import load_pipeline_config
from factory.data.synth import generate_bars
from factory.dataset import build_dataset
from factory.errors import LeakageError

N = 16_000


@pytest.fixture(scope="module")
def config():
    return load_pipeline_config(overrides={
        "regimes": {"n_iter": 15},
        # More trials than the sampler's random start-up ones (10): with fewer, the choice would not depend on the
        # scores at all, and tuning on every bar would pass the train-only test below.
        "labels": {"tuning": {"n_trials": 30}},
    })


@pytest.fixture(scope="module")
def bars():
    return generate_bars(N, seed=11)


@pytest.fixture(scope="module")
def base(bars, config):
    return build_dataset(bars, config)


def _replace_after(bars: pd.DataFrame, row: int, seed: int) -> pd.DataFrame:
    """Same timestamps, entirely different OHLCV from `row` on (another seed, another price level)."""
    other = generate_bars(len(bars), seed=seed)
    out = bars.copy()
    cols = ["open", "high", "low", "close", "volume"]
    out.loc[row:, cols] = other.loc[row:, cols].to_numpy() * np.array([1.1, 1.1, 1.1, 1.1, 3.0])
    return out


def _fitted_state(ds):
    return (
        np.asarray(ds.feature_pipeline.center_), np.asarray(ds.feature_pipeline.scale_),
        ds.hmm.to_dict(), {k: ds.barriers[k] for k in ("k_up", "k_down", "horizon", "tuning_score")},
    )


def _assert_same_state(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    assert a[3] == b[3]


def test_changing_validation_and_test_bars_leaves_every_fit_unchanged(bars, config, base):
    cut = base.train_end
    changed = build_dataset(_replace_after(bars, cut, seed=99), config)
    _assert_same_state(_fitted_state(base), _fitted_state(changed))
    np.testing.assert_array_equal(base.split.train, changed.split.train)
    tr = base.rows("train")
    np.testing.assert_array_equal(base.labels["label"].to_numpy()[tr], changed.labels["label"].to_numpy()[tr])
    np.testing.assert_array_equal(base.features.to_numpy()[:cut], changed.features.to_numpy()[:cut])
    np.testing.assert_array_equal(base.weights[base.split.train], changed.weights[changed.split.train])


def test_changing_training_bars_does_change_the_fits(bars, config, base):
    """The check above has teeth: the same comparison notices a change inside the training rows."""
    tampered = bars.copy()
    rows = slice(base.train_end - 3000, base.train_end - 1)
    tampered.loc[rows, ["open", "high", "low", "close"]] *= 1.02
    tampered.loc[rows, "volume"] *= 5
    changed = build_dataset(tampered, config)
    a, b = _fitted_state(base), _fitted_state(changed)
    assert not np.array_equal(a[1], b[1]) or a[2] != b[2] or a[3] != b[3]


@pytest.mark.parametrize("offset", [0, 1700, 3500])
def test_future_bars_never_reach_features_regimes_or_labels(bars, config, base, offset):
    t = base.train_end + offset
    changed = build_dataset(_replace_after(bars, t + 1, seed=1234 + offset), config)
    f0, f1 = base.features.to_numpy(np.float64), changed.features.to_numpy(np.float64)
    np.testing.assert_allclose(f1[: t + 1], f0[: t + 1], rtol=0, atol=1e-9, equal_nan=True)
    assert not np.allclose(f1[t + 1:], f0[t + 1:], equal_nan=True)  # the perturbation did change the future
    p0 = base.regimes.filter(like="hmm_p").to_numpy()
    p1 = changed.regimes.filter(like="hmm_p").to_numpy()
    np.testing.assert_allclose(p1[: t + 1], p0[: t + 1], rtol=0, atol=1e-9, equal_nan=True)
    # a label at row r reads bars r..r+horizon only
    h = int(base.barriers["horizon"])
    l0, l1 = base.labels["label"].to_numpy(), changed.labels["label"].to_numpy()
    np.testing.assert_array_equal(l1[: t + 1 - h], l0[: t + 1 - h])


def test_embargo_shorter_than_feature_warmup_is_an_error(bars, config):
    short = config.model_copy(update={"split": config.split.model_copy(update={"embargo_bars": 100})})
    with pytest.raises(LeakageError, match=r"embargo_bars=100 is shorter than the feature warm-up \(\d+ bars\)"):
        build_dataset(bars, short)
