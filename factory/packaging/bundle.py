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
bundle             ``bundle.json``: contract, label horizon, input names, signal rule
=================  ===========================================================================

Prediction (:meth:`ModelBundle.predict`) = model inputs (:func:`compute_model_inputs`) -> ``predict_proba`` ->
calibration -> return distribution -> signal (:mod:`factory.packaging.signal`). Training evaluates through
:meth:`ModelBundle.predict_inputs` on the dataset's matrix, so offline metrics and served outputs share the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from factory.packaging.model_inputs import HMM_PREFIX, compute_model_inputs, first_bad_input, input_warmup
from factory.packaging.signal import signals

OUTPUT_COLUMNS = ["timestamp", "prob_down", "prob_flat", "prob_up", "signal", "expected_return",
                  "ret_q05", "ret_q50", "ret_q95"]
RETURN_QUANTILES = (0.05, 0.5, 0.95)
BUNDLE_FORMAT = 1
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
                 horizon_bars: int) -> None:
        self.feature_pipeline = feature_pipeline
        self.hmm = hmm
        self.model = model
        self.calibrator = calibrator
        self.returns = returns
        self.cost_model = cost_model
        self.contract = str(contract)
        self.horizon_bars = int(horizon_bars)

    # ------------------------------------------------------------------ description
    @property
    def warmup_bars(self) -> int:
        """First row of a request that gets an output row (every input defined from there on)."""
        return input_warmup(self.feature_pipeline, self.hmm)

    @property
    def min_bars(self) -> int:
        """Fewest bars a request must hold: the warm-up plus the one bar to predict."""
        return self.warmup_bars + 1

    @property
    def input_names(self) -> list[str]:
        """Columns of the model's input matrix, in order."""
        k = int(self.hmm.transmat_.shape[0])
        return list(self.feature_pipeline.feature_names_) + [f"{HMM_PREFIX}{i}" for i in range(k)]

    # ------------------------------------------------------------------ prediction
    def model_inputs(self, bars: pd.DataFrame) -> pd.DataFrame:
        return compute_model_inputs(bars, self.feature_pipeline, self.hmm)

    def predict_inputs(self, inputs: pd.DataFrame, close: Any, timestamps: Any) -> pd.DataFrame:
        """Output rows for an input matrix (one row per input row) and the bars' closes and timestamps."""
        from factory.models.errors import ModelInputError

        if not self.model.allows_nan:
            bad = first_bad_input(inputs, np.arange(len(inputs)))
            if bad is not None:
                raise ModelInputError(f"model input '{bad[1]}' is not finite at row {bad[0]}; the bars around it "
                                      "are probably degenerate (zero range, constant prices)")
        raw = self.model.predict_proba(inputs)
        proba = self.calibrator.transform(raw)
        ret = self.returns.predict(proba)
        close = np.asarray(close, dtype=np.float64)
        expected = ret["expected_return"].to_numpy()
        # Built in one constructor call: column-by-column inserts cost more than the arithmetic at serve time.
        return pd.DataFrame({
            "timestamp": pd.Series(timestamps).reset_index(drop=True),
            "prob_down": proba[:, 0], "prob_flat": proba[:, 1], "prob_up": proba[:, 2],
            "signal": signals(proba, expected, close, self.cost_model.round_trip_points),
            "expected_return": expected,
            **{col: ret[col].to_numpy() for col in ("ret_q05", "ret_q50", "ret_q95")},
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
        rows = np.array([n - 1]) if last_only else np.arange(self.warmup_bars, n)
        inputs = self.model_inputs(bars).iloc[rows]
        out = self.predict_inputs(inputs, bars["close"].to_numpy()[rows], bars["timestamp"].iloc[rows])
        return out, inputs.reset_index(drop=True)

    # ------------------------------------------------------------------ persistence
    def info(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "contract": self.contract,
            "horizon_bars": self.horizon_bars,
            "model_key": self.model.key,
            "input_names": self.input_names,
            "warmup_bars": self.warmup_bars,
            "min_bars": self.min_bars,
            "return_quantiles": list(RETURN_QUANTILES),
            "signal_rule": SIGNAL_RULE,
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
        )
        if bundle.input_names != info["input_names"]:
            raise FactoryError("model bundle inputs differ from the ones it was saved with (code version mismatch)")
        if tuple(bundle.returns.quantiles) != RETURN_QUANTILES:
            raise FactoryError(f"return distribution quantiles {bundle.returns.quantiles} != {RETURN_QUANTILES}")
        return bundle

    @classmethod
    def load(cls, folder: str | Path) -> "ModelBundle":
        root = Path(folder)
        return cls.from_paths({name: str(root / rel) for name, rel in ARTIFACT_PATHS.items()})
