"""The contract every model implements (scikit-learn style), and the shared input checks around it.

A model is built from keyword settings only; they are validated at once by the model's typed ``Config``
(unknown keys and wrong types raise :class:`~factory.errors.ConfigError`) and nothing else happens until
``fit``. Fitted attributes end in ``_``.

``fit(X, y, sample_weight=None, eval_set=None, *, t0=None, t1=None, input_lookback=0)``
    ``X``: what the model's ``input_kind`` reads (:mod:`factory.models.views`): a 2-D float array or
    DataFrame of features (``tabular``), windows ``(n, L, F)`` (``window``: a ``WindowView`` or a 3-D array)
    or relative log-price contexts ``(n, C)`` (``price_window``); ``y``: labels in {-1, 0, 1} (down, flat,
    up); ``eval_set``: optional ``(X_val, y_val[, w_val])`` used for early stopping / member weighting;
    ``t0``/``t1``: label spans in bar rows, needed only by models that cross-validate internally (stacking);
    ``input_lookback``: bars of history each input row already reads (the features'), which such models
    add to their embargo.
``predict_proba(X)`` -> ``(n, 3)`` probabilities of (down, flat, up), always three columns.
``predict(X)`` -> labels in {-1, 0, 1}.
``save(folder)`` / ``Class.load(folder)`` (or ``factory.models.load_model(folder)`` for any class): ``model.json``
(settings + small state) plus weights in the library's native format; no pickle.

Subclasses implement ``_fit``, ``_predict_proba``, ``_save`` and ``_load`` on already-checked inputs (a
float64 matrix, a window view or a context view), where labels are class indices 0, 1, 2 (``label + 1``).
Class-level tags describe a model to the registry: ``family``, ``input_kind`` ("tabular", "window",
"price_window"), ``is_production_safe``, ``needs_gpu``, ``allows_nan`` and ``requirements`` (the import
names the served model needs beyond the factory's own), ``reads_barriers`` (a price model that prices the label
barriers itself: its contexts carry the barrier widths and the horizon, see :mod:`factory.models.views`) and
``zero_shot`` (a pretrained backbone that ``fit`` does not train, so its skill owes nothing to the labels). Per
instance, ``window_length`` (rows or closes one
sample reads, 1 for tabular models) and ``lookback = window_length - 1`` (the extra bars of history, which
enters the embargo and the served model's ``min_bars``). ``set_predict_threads(n)`` limits the threads of
one prediction (the scoring server runs requests concurrently). ``preflight()`` checks, before any data is
read or any MLflow run is started, what the model needs from outside (pretrained weights); it raises a
:class:`~factory.errors.FactoryError` that says what is missing and how to provide it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from factory._config_base import StrictConfig
from factory.models import _io
from factory.models._inputs import CLASSES, check_features, check_labels, check_model_input, check_weights
from factory.models._inputs import finalise_proba
from factory.models.errors import ModelFileError, ModelInputError, NotFittedError

EvalSet = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]
Spans = tuple[np.ndarray, np.ndarray]


class ModelConfig(StrictConfig):
    """Settings every model has. Subclasses add theirs; unknown keys are rejected."""

    seed: int = Field(42, ge=0)


class FactoryModel:
    """Base class of all models. See the module docstring for the contract."""

    key: ClassVar[str] = ""
    family: ClassVar[str] = ""
    input_kind: ClassVar[str] = "tabular"
    is_production_safe: ClassVar[bool] = True
    needs_gpu: ClassVar[bool] = False
    allows_nan: ClassVar[bool] = False
    requirements: ClassVar[tuple[str, ...]] = ()
    reads_barriers: ClassVar[bool] = False
    zero_shot: ClassVar[bool] = False
    Config: ClassVar[type[ModelConfig]] = ModelConfig

    def __init__(self, **settings: Any) -> None:
        self.config = self.Config.from_dict(settings, where=f"model '{self.key or type(self).__name__}'")
        self._label_spans: Spans | None = None

    # ------------------------------------------------------------------ settings
    @property
    def window_length(self) -> int:
        """Input rows (``window``) or closes (``price_window``) one sample reads; 1 for tabular models."""
        return 1

    @property
    def lookback(self) -> int:
        """Bars of history one sample reads beyond its own row (enters the embargo and ``min_bars``)."""
        return self.window_length - 1

    def preflight(self) -> None:
        """Check what the model needs from outside the data (e.g. pretrained weights); nothing by default."""

    def import_names(self) -> set[str]:
        """Import names of what the served model needs (ensembles add their members')."""
        return set(type(self).requirements)

    def set_predict_threads(self, n: int) -> list[str]:
        """Let one prediction use at most ``n`` threads; returns the keys of the models it changed."""
        return []

    def get_params(self) -> dict[str, Any]:
        """Settings as plain JSON values (what ``save`` writes and ``load`` passes back to the constructor)."""
        return self.config.model_dump(mode="json")

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        """Tiny settings that fit in well under a second on a few hundred rows (used by the contract tests)."""
        return {}

    def set_label_spans(self, t0: Any, t1: Any) -> "FactoryModel":
        """Label spans ``[t0, t1]`` (bar rows) of the training samples for the next ``fit``."""
        self._label_spans = (np.asarray(t0), np.asarray(t1))
        return self

    def __repr__(self) -> str:
        defaults = self.Config().model_dump(mode="json")
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k) != v}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        eval_set: Any = None,
        *,
        t0: Any = None,
        t1: Any = None,
        input_lookback: int = 0,
    ) -> "FactoryModel":
        """Check the inputs, fit, and return ``self``."""
        self.__dict__.pop("classes_", None)  # a refit that fails must not leave a model that looks fitted
        Xa, names = self._check_input(X)
        ya = check_labels(y, len(Xa))
        w = check_weights(sample_weight, len(Xa))
        present = np.unique(ya)
        if len(present) < 2:
            raise ModelInputError(
                f"y holds a single class ({int(CLASSES[present[0]])}): a classifier needs at least two"
            )
        ev = self._check_eval_set(eval_set, Xa.shape[-1], names)
        spans = self._check_spans(t0, t1, len(Xa))
        if int(input_lookback) < 0:
            raise ModelInputError(f"input_lookback must be >= 0, got {input_lookback}")
        self.n_features_in_ = int(Xa.shape[-1]) if self.input_kind != "price_window" else 1
        self.feature_names_in_ = names
        self.input_lookback_ = int(input_lookback)
        self._fit(Xa, ya, w, ev, spans)
        self.classes_ = CLASSES.copy()
        self.train_classes_ = CLASSES[present].copy()
        return self

    def _check_eval_set(self, eval_set: Any, n_features: int, names: list[str] | None) -> EvalSet | None:
        if eval_set is None:
            return None
        if not isinstance(eval_set, (tuple, list)) or len(eval_set) not in (2, 3):
            raise ModelInputError("eval_set must be a tuple (X_val, y_val) or (X_val, y_val, w_val)")
        Xv, _ = self._check_input(eval_set[0], n_features=n_features, feature_names=names, what="eval_set X")
        yv = check_labels(eval_set[1], len(Xv), what="eval_set y")
        wv = check_weights(eval_set[2], len(Xv), what="eval_set weights") if len(eval_set) == 3 else None
        return Xv, yv, wv

    def _check_spans(self, t0: Any, t1: Any, n: int) -> Spans | None:
        if (t0 is None) != (t1 is None):
            raise ModelInputError("give both t0 and t1 (label spans), or neither")
        spans = (np.asarray(t0), np.asarray(t1)) if t0 is not None else self._label_spans
        if spans is not None and (spans[0].shape != (n,) or spans[1].shape != (n,)):
            raise ModelInputError(
                f"label spans t0/t1 must have one entry per training row ({n}), got {spans[0].shape} and "
                f"{spans[1].shape}"
            )
        return spans

    # ------------------------------------------------------------------ prediction
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "classes_")

    def _require_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__}.{what}() called before fit()")

    def _check_input(self, X: Any, *, n_features: int | None = None, feature_names: list[str] | None = None,
                     what: str = "X"):
        """(checked input, column names) for this model's input kind."""
        if self.input_kind == "tabular":
            return check_features(X, allow_nan=self.allows_nan, n_features=n_features, feature_names=feature_names,
                                  what=what)
        return check_model_input(X, self.input_kind, self.window_length, allow_nan=self.allows_nan,
                                 n_features=n_features, feature_names=feature_names, what=what)

    def _features_for_predict(self, X: Any, what: str = "X"):
        Xa, _ = self._check_input(X, n_features=self.n_features_in_, feature_names=self.feature_names_in_, what=what)
        return Xa

    @property
    def feature_names_(self) -> list[str]:
        """Fitted feature names; ``f0, f1, ...`` when the model was fitted on an array."""
        self._require_fitted("feature_names_")
        return list(self.feature_names_in_ or [f"f{i}" for i in range(self.n_features_in_)])

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 3)`` probabilities of (down, flat, up): finite, in [0, 1], rows summing to 1."""
        self._require_fitted("predict_proba")
        Xa = self._features_for_predict(X)
        return finalise_proba(self._predict_proba(Xa), len(Xa), type(self).__name__)

    def predict_proba_and_returns(self, X: Any, levels) -> tuple[np.ndarray, np.ndarray | None]:
        """``(predict_proba(X), returns)``: ``returns`` is ``(n, 1 + len(levels))``, the model's own forecast of
        the label-horizon log return (its mean, then its quantiles at ``levels``), or None for a model that
        forecasts no returns (the bundle then derives them from the probabilities, fitted on validation)."""
        return self.predict_proba(X), None

    def predict(self, X: Any) -> np.ndarray:
        """Most probable label in {-1, 0, 1} per row."""
        return CLASSES[np.argmax(self.predict_proba(X), axis=1)]

    # ------------------------------------------------------------------ persistence
    def save(self, folder: str | Path) -> Path:
        """Write ``model.json`` and native weight files into ``folder`` (created if needed)."""
        self._require_fitted("save")
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        state = self._save(path)
        meta = {
            "format": _io.FORMAT,
            "format_version": _io.FORMAT_VERSION,
            "key": self.key,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "settings": self.get_params(),
            "fitted": {
                "n_features_in": self.n_features_in_,
                "feature_names_in": self.feature_names_in_,
                "input_lookback": self.input_lookback_,
                "train_classes": self.train_classes_,
            },
            "state": state or {},
        }
        _io.write_json(path / _io.META_FILE, meta)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "FactoryModel":
        """Rebuild a saved model of this class (:func:`factory.models.load_model` finds the class by the key)."""
        path = Path(folder)
        meta = _io.read_meta(path)
        key = meta.get("key", "")
        if cls is FactoryModel:
            raise TypeError("FactoryModel.load needs a concrete class; use factory.models.load_model(folder)")
        if key != cls.key:
            raise ModelFileError(f"{path} holds a '{key}' model, not '{cls.key}'")
        model = cls(**meta["settings"])
        fitted = meta["fitted"]
        model.n_features_in_ = int(fitted["n_features_in"])
        model.feature_names_in_ = fitted["feature_names_in"]
        model.input_lookback_ = int(fitted.get("input_lookback", 0))
        model._load(path, meta.get("state", {}))
        model.classes_ = CLASSES.copy()
        model.train_classes_ = np.asarray(fitted["train_classes"], dtype=np.int64)
        return model

    # ------------------------------------------------------------------ subclass hooks
    def _fit(
        self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None
    ) -> None:
        raise NotImplementedError

    def _predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save(self, folder: Path) -> dict[str, Any]:
        """Write weight files into ``folder``; return small JSON-able state for ``model.json``."""
        raise NotImplementedError

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        raise NotImplementedError
