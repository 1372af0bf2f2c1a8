"""What each part of a bundle is fitted on: the model on the training split, the calibrator and the return
distribution on the validation split, and nothing on the test split.

Each check changes the labels (and their returns) of one split only and compares what was fitted, so a calibrator
or return distribution refitted on the test split (which turns a model without skill into a test-set winner) or
on the training split fails here; the teeth tests show the same comparison notices a change in the split a part
is fitted on.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

KEY = "logistic"


def _relabelled(dataset, part: str, seed: int = 5):
    """The dataset with the labels and label returns of ``part``'s samples permuted among themselves."""
    rows = dataset.rows(part)
    perm = np.random.default_rng(seed).permutation(rows)
    labels = dataset.labels.copy()
    for col in ("label", "ret"):
        values = labels[col].to_numpy().copy()
        values[rows] = values[perm]
        labels[col] = values
    assert (labels["label"].to_numpy()[rows] != dataset.labels["label"].to_numpy()[rows]).mean() > 0.3
    return dataclasses.replace(dataset, labels=labels)


def _fit(dataset):
    from sklearn.exceptions import ConvergenceWarning

    from factory.fitting import fit_bundle
    from factory.models import create_model, get_model_class

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_bundle(dataset, create_model(KEY, **get_model_class(KEY).get_test_params()))


def _state(bundle, folder) -> dict[str, bytes]:
    """The fitted parts as their saved files."""
    out = {}
    for name, part in (("model", bundle.model), ("calibration", bundle.calibrator), ("returns", bundle.returns)):
        target = folder / name
        target.mkdir()
        part.save(target)
        out[name] = b"".join(p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file())
    return out


@pytest.fixture(scope="module")
def base(dataset, tmp_path_factory):
    return _state(_fit(dataset), tmp_path_factory.mktemp("base"))


def test_test_labels_reach_no_fitted_part(dataset, base, tmp_path):
    assert _state(_fit(_relabelled(dataset, "test")), tmp_path) == base


def test_calibrator_and_returns_are_fitted_on_validation(dataset, base, tmp_path):
    """Validation labels move the calibrator and the return distribution but not the model."""
    other = _state(_fit(_relabelled(dataset, "val")), tmp_path)
    assert other["model"] == base["model"]
    assert other["calibration"] != base["calibration"]
    assert other["returns"] != base["returns"]


def test_model_is_fitted_on_training(dataset, base, tmp_path):
    """Teeth for the first test: training labels move the model (so a changed fit is noticed)."""
    other = _state(_fit(_relabelled(dataset, "train")), tmp_path)
    assert other["model"] != base["model"]


def test_shuffled_label_control_is_the_real_fit_on_permuted_labels(dataset, base, tmp_path):
    """The permutation control equals a fit on labels (and their returns) permuted within training and within
    validation, and differs from the real fit."""
    from sklearn.exceptions import ConvergenceWarning

    from factory.fitting import fit_bundle
    from factory.models import create_model, get_model_class

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shuffled = fit_bundle(dataset, create_model(KEY, **get_model_class(KEY).get_test_params()),
                              shuffle_labels_seed=11)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    got = _state(shuffled, tmp_path / "a")
    assert got["model"] != base["model"] and got["calibration"] != base["calibration"]
    # By hand: the same permutations applied to the dataset's labels give the same fitted parts.
    rng = np.random.default_rng(11)
    labels = dataset.labels.copy()
    tr, val = dataset.rows("train"), dataset.rows("val")
    lab, ret = labels["label"].to_numpy().copy(), labels["ret"].to_numpy().copy()
    lab[tr] = lab[tr][rng.permutation(len(tr))]
    perm = rng.permutation(len(val))
    lab[val], ret[val] = lab[val][perm], ret[val][perm]
    labels["label"], labels["ret"] = lab, ret
    assert _state(_fit(dataclasses.replace(dataset, labels=labels)), tmp_path / "b") == got
