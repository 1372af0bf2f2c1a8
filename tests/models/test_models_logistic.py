"""Logistic regression: sklearn equivalence, NaN errors, JSON coefficients rebuilt into an estimator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from factory.models import create_model, load_model
from factory.models.errors import ModelInputError
from factory.models.testing import make_toy_data


def test_matches_sklearn_multinomial_logistic_regression():
    X, y = make_toy_data(400, 5)
    ours = create_model("logistic", C=0.7, class_weight=None).fit(X, y)
    ref = LogisticRegression(C=0.7, max_iter=1000, tol=1e-6).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-10)
    assert ours.coef_.shape == (3, 5)


def test_nan_rows_are_an_error_naming_the_row():
    X, y = make_toy_data(100, 3)
    X[[4, 9], 1] = np.nan
    with pytest.raises(ModelInputError, match=r"NaN in 2 row\(s\) \(first at row 4\)"):
        create_model("logistic").fit(X, y)
    model = create_model("logistic").fit(make_toy_data(100, 3)[0], y)
    with pytest.raises(ModelInputError, match="NaN"):
        model.predict_proba(X)


def test_saved_as_json_and_rebuilt_estimator_predicts_identically(tmp_path):
    X, y = make_toy_data(300, 4)
    keep = y != -1  # two classes: sklearn fits a binary model; still three output columns
    for Xs, ys in ((X, y), (X[keep], y[keep])):
        model = create_model("logistic").fit(Xs, ys)
        model.save(tmp_path / "m")
        data = json.loads((tmp_path / "m" / "coefficients.json").read_text())
        assert set(data) == {"classes", "coef", "intercept", "n_iter"}
        loaded = load_model(tmp_path / "m")
        assert isinstance(loaded.estimator_, LogisticRegression)
        np.testing.assert_array_equal(loaded.estimator_.predict_proba(X), model.estimator_.predict_proba(X))
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert (model.predict_proba(X)[:, 0] == 0).all()
