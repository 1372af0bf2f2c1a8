"""The logged pyfunc as a package: metadata, signature, example, no pickle, and errors through ``predict``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.exceptions import MlflowException

REQUIRED_METADATA = ("factory_model", "family", "min_bars", "horizon_bars", "contract", "feature_names",
                     "data_sha256", "git_commit", "cost_model", "label_config", "is_production_safe")


def test_metadata_signature_and_requirements(saved, fitted):
    folder, pyfunc = saved("voting")
    bundle = fitted("voting")
    meta = pyfunc.metadata.metadata
    for key in REQUIRED_METADATA:
        assert key in meta, key
    assert meta["factory_model"] == "voting" and meta["family"] == "ensemble"
    assert meta["min_bars"] == bundle.min_bars and meta["feature_names"] == bundle.input_names
    assert meta["model_keys"] == ["lightgbm", "logistic", "voting", "xgboost"]
    sig = pyfunc.metadata.signature
    assert [c.name for c in sig.inputs.inputs] == ["timestamp", "open", "high", "low", "close", "volume"]
    assert all(repr(c.type) == "Any" for c in sig.inputs.inputs)
    assert [c.name for c in sig.outputs.inputs][:4] == ["timestamp", "prob_down", "prob_flat", "prob_up"]
    assert sig.params.params[0].name == "last_only" and sig.params.params[0].default is False
    reqs = (folder / "requirements.txt").read_text()
    for pkg in ("mlflow==", "lightgbm==", "xgboost", "hmmlearn==", "scikit-learn=="):
        assert pkg in reqs, pkg
    example = json.loads((folder / "serving_input_example.json").read_text())
    assert example["params"] == {"last_only": True}
    assert isinstance(example["dataframe_split"]["data"][0][0], str)  # ISO string timestamps


def test_no_pickle_and_every_part_present(saved):
    folder, _ = saved("stacking")
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".cloudpickle"))]
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["model_code_path"]
    for part in ("feature_pipeline/feature_pipeline.json", "regime_hmm/regime_hmm.json", "model/model.json",
                 "calibration/calibration.json", "returns/returns.json", "cost_model.json", "bundle.json",
                 "reference_sample.parquet", "resolved_config.yaml"):
        assert any(f.endswith(part) for f in files), part
    assert any("members/" in f for f in files)  # ensemble members travel with the model
    assert any(f.startswith("code/factory/") for f in files) and any(f.startswith("code/serving/") for f in files)


def test_reference_sample_holds_training_inputs(saved, dataset):
    folder, _ = saved("lightgbm")
    ref = pd.read_parquet(next(folder.rglob("reference_sample.parquet")))
    assert list(ref.columns) == ["timestamp"] + list(dataset.features.columns)
    train_end_time = dataset.bars["timestamp"].iloc[dataset.train_end]
    assert len(ref) == 200 and (ref["timestamp"] < train_end_time).all()
    # The held-out null sample: training rows too, in 3 contiguous stretches, none of them in the reference; the
    # MLmodel lists it where the drift monitor looks for it.
    null = pd.read_parquet(next(folder.rglob("drift_null_sample.parquet")))
    assert list(null.columns) == ["timestamp", "segment"] + list(dataset.features.columns)
    assert len(null) == 300 and (null["timestamp"] < train_end_time).all()
    assert set(null["timestamp"]).isdisjoint(set(ref["timestamp"]))
    train_times = dataset.bars["timestamp"].iloc[dataset.rows("train")].reset_index(drop=True)
    for _, seg in null.groupby("segment"):
        at = train_times.searchsorted(seg["timestamp"].iloc[0])
        assert list(train_times.iloc[at:at + len(seg)]) == list(seg["timestamp"])  # consecutive training rows
    artifacts = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]["artifacts"]
    assert artifacts["drift_null_sample"]["path"].endswith("drift_null_sample.parquet")


def _window(small_bars, bundle):
    return small_bars.iloc[-(bundle.min_bars + 5):].reset_index(drop=True)


@pytest.mark.parametrize("mutate, needle", [
    (lambda df: df.assign(close=df["close"].where(df.index != 3, np.nan)), "[nan] column 'close'"),
    (lambda df: df.iloc[::-1], "[sorted] column 'timestamp'"),
    (lambda df: df.iloc[-20:], "[min_bars]"),
    (lambda df: df.assign(volume=-df["volume"]), "[volume] column 'volume'"),
    (lambda df: df.assign(high=df["low"] - 1), "[high_low]"),
    (lambda df: df.assign(open="4500.25"), "[numeric] column 'open'"),
    (lambda df: df.assign(timestamp="not a time"), "[timestamp]"),
])
def test_bad_requests_raise_invalid_parameter_value(saved, fitted, small_bars, mutate, needle):
    _, pyfunc = saved("lightgbm")
    with pytest.raises(MlflowException) as err:
        pyfunc.predict(mutate(_window(small_bars, fitted("lightgbm"))))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert needle in err.value.message


def test_missing_column_is_a_client_error(saved, fitted, small_bars):
    _, pyfunc = saved("lightgbm")
    with pytest.raises(MlflowException) as err:
        pyfunc.predict(_window(small_bars, fitted("lightgbm")).drop(columns=["volume"]))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "volume" in err.value.message


def test_timestamp_formats_give_identical_predictions(saved, fitted, small_bars):
    _, pyfunc = saved("lightgbm")
    window = _window(small_bars, fitted("lightgbm"))
    base = pyfunc.predict(window)
    as_ms = window.assign(timestamp=window["timestamp"].astype("int64") // 10**6)
    as_chicago = window.assign(timestamp=[t.tz_convert("America/Chicago").isoformat() for t in window["timestamp"]])
    int_volume = window.assign(volume=window["volume"].astype(np.int64))
    for variant in (as_ms, as_chicago, int_volume):
        pd.testing.assert_frame_equal(pyfunc.predict(variant), base, check_exact=True)
