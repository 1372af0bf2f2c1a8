"""Which folder a served model logs to, and the one-thread prediction setting of the boosting libraries."""

from __future__ import annotations

import numpy as np
import yaml

from serving.model_identity import ModelIdentity, identify
from serving.threads import limit_prediction_threads, predict_threads


def _model_folder(root, metadata=None, run_id="run123", registry=None):
    (root / "artifacts").mkdir(parents=True)
    (root / "artifacts" / "bundle.json").write_text("{}")
    (root / "MLmodel").write_text(yaml.safe_dump({"run_id": run_id, "model_uuid": "m-42",
                                                  "metadata": metadata or {}}))
    if registry:
        (root / "registered_model_meta").write_text(yaml.safe_dump(registry))
    return {"bundle": str(root / "artifacts" / "bundle.json")}


def test_registered_name_then_run_id(tmp_path):
    meta = {"registered_name": "mes-lightgbm"}
    ident = identify(_model_folder(tmp_path / "a", meta, registry={"model_name": "mes-lightgbm",
                                                                   "model_version": "3"}))
    assert ident == ModelIdentity("mes-lightgbm", "3", "run123", "m-42") and ident.log_name == "mes-lightgbm"
    # Registered under a name the metadata does not know: the registry's name, with its version.
    ident = identify(_model_folder(tmp_path / "b", registry={"model_name": "mgc-xgboost", "model_version": "1"}))
    assert (ident.log_name, ident.version) == ("mgc-xgboost", "1")
    # Never registered: the run id.
    assert identify(_model_folder(tmp_path / "c")).log_name == "run123"
    assert identify(_model_folder(tmp_path / "d", run_id=None)).log_name == "m-42"
    assert identify({"x": str(tmp_path / "nowhere" / "file")}) == ModelIdentity()


def test_thread_setting_from_environment():
    assert predict_threads({}) == 1
    assert predict_threads({"FACTORY_PREDICT_THREADS": "4"}) == 4
    assert predict_threads({"FACTORY_PREDICT_THREADS": "zero"}) == 1
    assert predict_threads({"FACTORY_PREDICT_THREADS": "-2"}) == 1


def test_boosters_predict_on_one_thread_with_unchanged_outputs():
    from factory.models import create_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = rng.integers(-1, 2, 300)
    for key in ("lightgbm", "xgboost"):
        model = create_model(key, n_estimators=5, early_stopping_rounds=None, n_jobs=2)
        model.fit(X, y)
        before = model.predict_proba(X[:7])
        assert limit_prediction_threads(model, 1) == [key]
        np.testing.assert_array_equal(model.predict_proba(X[:7]), before)
    assert limit_prediction_threads(create_model("logistic"), 1) == []


def test_ensemble_members_are_reached():
    """The setting reaches every booster inside an ensemble (members and meta-learner), outputs unchanged."""
    from factory.models import create_model, get_model_class
    from factory.models.testing import make_spans, make_toy_data

    X, y = make_toy_data(300, 6, seed=4)
    t0, t1 = make_spans(300)
    for key, expect in (("voting", ["xgboost", "lightgbm"]), ("stacking", ["lightgbm"])):
        params = get_model_class(key).get_test_params()
        if key == "stacking":
            params["meta"] = "xgboost"
            params["meta_params"] = get_model_class("xgboost").get_test_params()
            expect = expect + ["xgboost"]
        model = create_model(key, **params).fit(X, y, eval_set=(X[:80], y[:80]), t0=t0, t1=t1)
        before = model.predict_proba(X[:9])
        assert limit_prediction_threads(model, 1) == expect
        np.testing.assert_array_equal(model.predict_proba(X[:9]), before)
