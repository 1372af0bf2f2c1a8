"""Soft voting: weights from validation log loss, favour the better member, members saved in sub-folders."""

from __future__ import annotations

import numpy as np
import pytest

from factory.models import create_model, load_model
from factory.models._metrics import log_loss
from factory.models.testing import make_toy_data

# A useful member and a crippled one (a single, very shallow boosting round is close to guessing).
PARAMS = {"members": ["logistic", "lightgbm"],
          "member_params": {"lightgbm": {"n_estimators": 1, "learning_rate": 0.01, "num_leaves": 2, "n_jobs": 1}}}


@pytest.fixture(scope="module")
def data():
    X, y = make_toy_data(600, 6, seed=0, noise=0.5)
    Xv, yv = make_toy_data(300, 6, seed=1, noise=0.5)
    return X, y, Xv, yv


def test_weights_sum_to_one_and_favour_the_better_member(data):
    X, y, Xv, yv = data
    model = create_model("voting", **PARAMS).fit(X, y, eval_set=(Xv, yv))
    np.testing.assert_allclose(model.weights_.sum(), 1.0)
    loss = model.val_log_loss_
    assert loss[0] < loss[1]
    assert model.weights_[0] > model.weights_[1]
    np.testing.assert_allclose(model.weights_, (1 / loss) / (1 / loss).sum())
    sharper = create_model("voting", **PARAMS, weight_power=4.0).fit(X, y, eval_set=(Xv, yv))
    assert sharper.weights_[0] > model.weights_[0]
    # The ensemble probability is the weighted average of the members'.
    members = model.member_proba(Xv)
    np.testing.assert_allclose(model.predict_proba(Xv), np.tensordot(model.weights_, members, axes=1), atol=1e-12)
    assert log_loss(yv + 1, model.predict_proba(Xv)) < loss[1]


def test_equal_weights_without_validation_or_when_asked(data):
    X, y, Xv, yv = data
    np.testing.assert_allclose(create_model("voting", **PARAMS).fit(X, y).weights_, [0.5, 0.5])
    eq = create_model("voting", **PARAMS, weighting="equal").fit(X, y, eval_set=(Xv, yv))
    np.testing.assert_allclose(eq.weights_, [0.5, 0.5])


def test_members_are_saved_in_sub_folders(data, tmp_path):
    X, y, Xv, yv = data
    model = create_model("voting", **PARAMS).fit(X, y, eval_set=(Xv, yv))
    model.save(tmp_path / "v")
    subs = sorted(p.name for p in (tmp_path / "v" / "members").iterdir())
    assert subs == ["00_logistic", "01_lightgbm"]
    assert (tmp_path / "v" / "members" / "01_lightgbm" / "booster.txt").is_file()
    loaded = load_model(tmp_path / "v")
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    np.testing.assert_array_equal(loaded.predict_proba(Xv), model.predict_proba(Xv))


def test_member_seed_follows_the_ensemble_seed():
    model = create_model("voting", seed=5, members=["logistic", "xgboost"], member_params={"xgboost": {"seed": 9}})
    X, y = make_toy_data(200, 3)
    model.fit(X, y)
    assert [m.config.seed for m in model.members_] == [5, 9]
