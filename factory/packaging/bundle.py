"""ModelBundle: everything a trained model needs to go from raw bars to served predictions, saved without pickle.

Parts (each in its own native or JSON format, one folder or file per MLflow artifact):

=================  ===========================================================================
artifact           content
=================  ===========================================================================
feature_pipeline   fitted ``FeaturePipeline`` (JSON + ``.npz`` loaded with ``allow_pickle=False``)
regime_hmm         fitted ``RegimeHMM`` (JSON)
model              ``FactoryModel.save`` folder (``model.json`` + LightGBM/XGBoost files, JSON coefficients)
calibration        ``ProbabilityCalibrator`` (JSON)
returns            ``ReturnDistribution`` (JSON)
cost_model         the contract's ``CostModel`` (JSON)
bundle             ``bundle.json``: contract, label horizon, input names, signal rule (and, for models
                   that price the label barriers, their definition: k_up, k_down, horizon, ATR window, cost)
=================  ===========================================================================

Prediction (:meth:`ModelBundle.predict`) = model inputs (:func:`compute_model_inputs`) -> what the model reads
at each row (:func:`factory.models.views.model_input`: rows, windows or price contexts) -> ``predict_proba`` ->
calibration -> return distribution -> signal (:mod:`factory.packaging.signal`). Training evaluates through
:meth:`ModelBundle.predict_rows` on the dataset's matrix, so offline metrics and served outputs share the code.

Lookback: the output at bar t reads bars t - :attr:`ModelBundle.lookback` .. t only (the inputs' lookback plus
the model's window), so :attr:`ModelBundle.min_bars` = lookback + 1 bars are enough for the last bar's output to
equal the output the full history gives at that bar.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.packaging.model_inputs import HMM_PREFIX, compute_model_inputs, first_bad_input, input_lookback
from factory.packaging.signal import signals

OUTPUT_COLUMNS = ["timestamp", "prob_down", "prob_flat", "prob_up", "signal", "expected_return",
                  "ret_q05", "ret_q50", "ret_q95"]
RETURN_QUANTILES = (0.05, 0.5, 0.95)
# 2: bounded-memory inputs and model lookback (``lookback`` in bundle.json)
BUNDLE_FORMAT = 2
SIGNAL_RULE = "argmax_net_of_cost"

# MLflow artifact name -> path inside a saved bundle folder.
ARTIFACT_PATHS = {
    "feature_pipeline": "feature_pipeline",
    "regime_hmm": "regime_hmm",
    "model": "model",
    "calibration": "calibration",
    "returns": "returns",
    "cost_model": "cost_model.json",
    "bundle": "bundle.json",
}


class ModelBundle:
    """A fitted feature pipeline, HMM, model, calibrator and return distribution, used as one predictor."""

    def __init__(self, feature_pipeline, hmm, model, calibrator, returns, cost_model, *, contract: str,
                 horizon_bars: int, barriers=None) -> None:
        self.feature_pipeline = feature_pipeline
        self.hmm = hmm
        self.model = model
        self.calibrator = calibrator
        self.returns = returns
        self.cost_model = cost_model
        self.contract = str(contract)
        self.horizon_bars = int(horizon_bars)
        # The labels' BarrierDefinition, for models that price the barriers (None for every other model).
        self.barriers = barriers
        if getattr(model, "reads_barriers", False) and barriers is None:
            from factory.errors import FactoryError

            raise FactoryError(f"model '{model.key}' prices the label barriers: the bundle needs their definition")

    # ------------------------------------------------------------------ description
    @property
    def input_lookback(self) -> int:
        """Bars before t that the input row at t reads (features and HMM)."""
        return input_lookback(self.feature_pipeline, self.hmm)

    @property
    def lookback(self) -> int:
        """Bars before t that the output at t reads: the inputs' lookback plus the model's own history."""
        kind = self.model.input_kind
        if kind == "window":
            return self.input_lookback + self.model.lookback
        if kind == "price_window":  # closes are read directly, not through the inputs
            barrier = self.barriers.lookback if self.barriers is not None else 0  # the barriers' ATR
            return max(self.input_lookback, self.model.lookback, barrier)
        return self.input_lookback

    @property
    def warmup_bars(self) -> int:
        """First row of a request that gets an output row: the lookback."""
        return self.lookback

    @property
    def min_bars(self) -> int:
        """Fewest bars a request must hold: the lookback plus the one bar to predict."""
        return self.lookback + 1

    @property
    def input_names(self) -> list[str]:
        """Columns of the model's input matrix, in order."""
        k = int(self.hmm.transmat_.shape[0])
        return list(self.feature_pipeline.feature_names_) + [f"{HMM_PREFIX}{i}" for i in range(k)]

    # ------------------------------------------------------------------ prediction
    def model_inputs(self, bars: pd.DataFrame, rows=None) -> pd.DataFrame:
        return compute_model_inputs(bars, self.feature_pipeline, self.hmm, rows)

    def barrier_widths(self, bars: pd.DataFrame):
        """The label barriers' widths at every bar of ``bars`` for a model that reads them, else None."""
        return None if self.barriers is None else self.barriers.widths(bars)

    def model_reads(self, inputs: pd.DataFrame, close: Any, rows: Any, barriers=None):
        """What the model reads at bar positions ``rows`` (see :func:`factory.models.views.model_input`)."""
        from factory.models.views import model_input

        return model_input(self.model, inputs, close, rows, first_valid=self.input_lookback, barriers=barriers)

    def raw_proba(self, inputs: pd.DataFrame, close: Any, rows: Any, barriers=None) -> np.ndarray:
        """The model's uncalibrated probabilities at bar positions ``rows``."""
        return self.raw_outputs(inputs, close, rows, barriers)[0]

    def raw_outputs(self, inputs: pd.DataFrame, close: Any, rows: Any, barriers=None):
        """``(uncalibrated probabilities, the model's own return forecast or None)`` at bar positions ``rows``
        (see :meth:`FactoryModel.predict_proba_and_returns`)."""
        from factory.models.errors import ModelInputError

        rows = np.asarray(rows, dtype=np.int64)
        if not self.model.allows_nan and self.model.input_kind != "price_window":
            offset = int(inputs.index[0]) if len(inputs) else 0
            need = rows if self.model.input_kind == "tabular" else np.unique(
                (rows[:, None] - np.arange(self.model.window_length)[None, :]).ravel())
            bad = first_bad_input(inputs, need - offset)
            if bad is not None:
                raise ModelInputError(f"model input '{bad[1]}' is not finite at row {bad[0] + offset}; the bars "
                                      "around it are probably degenerate (zero range, constant prices)")
        return self.model.predict_proba_and_returns(self.model_reads(inputs, close, rows, barriers),
                                                    RETURN_QUANTILES)

    def predict_rows(self, inputs: pd.DataFrame, close: Any, timestamps: Any, rows: Any,
                     barriers=None) -> pd.DataFrame:
        """Output rows at bar positions ``rows``, from an input matrix over a contiguous stretch of bars (its
        index their positions) and the closes and timestamps of every bar."""
        rows = np.asarray(rows, dtype=np.int64)
        raw, returns = self.raw_outputs(inputs, close, rows, barriers)
        return self.outputs_from_raw(raw, close, timestamps, rows, returns)

    def outputs_from_raw(self, raw: np.ndarray, close: Any, timestamps: Any, rows: Any,
                         returns: np.ndarray | None = None) -> pd.DataFrame:
        """Output rows at bar positions ``rows`` from the model's raw probabilities there (calibration, returns,
        signal): :meth:`predict_rows` without running the model again. ``returns``: the model's own return
        forecast (mean, q05, q50, q95) where it makes one; else the return distribution fitted on validation."""
        rows = np.asarray(rows, dtype=np.int64)
        proba = self.calibrator.transform(raw)
        if returns is None:
            expected = self.returns.expected_return(proba)
            quantiles = self.returns.quantile(proba, self.returns.quantiles)  # (n, 3): q05, q50, q95
        else:
            expected, quantiles = returns[:, 0], returns[:, 1:]
        close = np.asarray(close, dtype=np.float64)[rows]
        stamps = timestamps.iloc[rows] if isinstance(timestamps, pd.Series) else pd.Series(timestamps).iloc[rows]
        # Built in one constructor call: column-by-column inserts cost more than the arithmetic at serve time.
        return pd.DataFrame({
            "timestamp": stamps.reset_index(drop=True),
            "prob_down": proba[:, 0], "prob_flat": proba[:, 1], "prob_up": proba[:, 2],
            "signal": signals(proba, expected, close, self.cost_model.round_trip_points),
            "expected_return": expected,
            "ret_q05": quantiles[:, 0], "ret_q50": quantiles[:, 1], "ret_q95": quantiles[:, 2],
        }, columns=OUTPUT_COLUMNS)

    def predict(self, bars: pd.DataFrame, last_only: bool = False) -> pd.DataFrame:
        """Outputs for every bar from :attr:`warmup_bars` on (or the last bar only) of already-valid bars."""
        return self.predict_with_inputs(bars, last_only)[0]

    def predict_with_inputs(self, bars: pd.DataFrame, last_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`predict`'s outputs and the model inputs of the predicted rows (what an inference log keeps)."""
        from factory.models.errors import ModelInputError

        n = len(bars)
        if n < self.min_bars:
            raise ModelInputError(f"{n} bars but the model needs at least {self.min_bars}")
        if not bars.index.equals(pd.RangeIndex(n)):
            bars = bars.reset_index(drop=True)
        rows = np.array([n - 1]) if last_only else np.arange(self.lookback, n)
        # The input rows the model reads: its rows, or its windows (one contiguous stretch).
        first = int(rows[0]) - (self.model.lookback if self.model.input_kind == "window" else 0)
        inputs = self.model_inputs(bars, np.arange(first, n))
        out = self.predict_rows(inputs, bars["close"].to_numpy(), bars["timestamp"], rows,
                                barriers=self.barrier_widths(bars))
        return out, inputs.loc[rows].reset_index(drop=True)

    # ------------------------------------------------------------------ persistence
    def info(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "contract": self.contract,
            "horizon_bars": self.horizon_bars,
            "model_key": self.model.key,
            "input_names": self.input_names,
            "input_kind": self.model.input_kind,
            "input_lookback": self.input_lookback,
            "lookback": self.lookback,
            "min_bars": self.min_bars,
            "return_quantiles": list(RETURN_QUANTILES),
            "signal_rule": SIGNAL_RULE,
            "barriers": None if self.barriers is None else self.barriers.to_dict(),
        }

    def save(self, folder: str | Path) -> dict[str, str]:
        """Write every part under ``folder``; returns ``{artifact name: path}`` for ``mlflow.pyfunc.log_model``."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        paths = {name: root / rel for name, rel in ARTIFACT_PATHS.items()}
        self.feature_pipeline.save(paths["feature_pipeline"])
        self.hmm.save(paths["regime_hmm"])
        self.model.save(paths["model"])
        paths["calibration"].mkdir(exist_ok=True)
        self.calibrator.save(paths["calibration"])
        paths["returns"].mkdir(exist_ok=True)
        self.returns.save(paths["returns"])
        paths["cost_model"].write_text(json.dumps(self.cost_model.model_dump(mode="json"), indent=1))
        paths["bundle"].write_text(json.dumps(self.info(), indent=1))
        return {name: str(p) for name, p in paths.items()}

    @classmethod
    def from_paths(cls, paths: dict[str, str]) -> "ModelBundle":
        """Rebuild from ``{artifact name: local path}`` (a pyfunc context's ``artifacts``); no pickle anywhere."""
        from factory.contracts import CostModel
        from factory.errors import FactoryError
        from factory.features.pipeline import FeaturePipeline
        from factory.labels.barriers import BarrierDefinition
        from factory.models import load_model
        from factory.models.calibration import ProbabilityCalibrator
        from factory.models.returns import ReturnDistribution
        from factory.regimes import RegimeHMM

        missing = sorted(set(ARTIFACT_PATHS) - set(paths))
        if missing:
            raise FactoryError(f"model bundle is incomplete: missing artifact(s) {missing}")
        info = json.loads(Path(paths["bundle"]).read_text())
        if info.get("format") != BUNDLE_FORMAT:
            raise FactoryError(f"unsupported model bundle format {info.get('format')!r} (expected {BUNDLE_FORMAT})")
        cost = CostModel.from_dict(json.loads(Path(paths["cost_model"]).read_text()), where="cost_model.json")
        bundle = cls(
            FeaturePipeline.load(paths["feature_pipeline"]),
            RegimeHMM.load(paths["regime_hmm"]),
            load_model(paths["model"]),
            ProbabilityCalibrator.load(paths["calibration"]),
            ReturnDistribution.load(paths["returns"]),
            cost,
            contract=info["contract"],
            horizon_bars=info["horizon_bars"],
            barriers=BarrierDefinition.from_dict(info["barriers"]) if info.get("barriers") else None,
        )
        if bundle.input_names != info["input_names"]:
            raise FactoryError("model bundle inputs differ from the ones it was saved with (code version mismatch)")
        if bundle.lookback != info["lookback"]:
            raise FactoryError(f"model bundle lookback {bundle.lookback} differs from the saved {info['lookback']} "
                               "(code version mismatch)")
        if tuple(bundle.returns.quantiles) != RETURN_QUANTILES:
            raise FactoryError(f"return distribution quantiles {bundle.returns.quantiles} != {RETURN_QUANTILES}")
        return bundle

    @classmethod
    def load(cls, folder: str | Path) -> "ModelBundle":
        root = Path(folder)
        return cls.from_paths({name: str(root / rel) for name, rel in ARTIFACT_PATHS.items()})
