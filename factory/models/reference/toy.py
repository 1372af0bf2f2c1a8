"""Reference window and price-context models: a logistic regression on a summary of what the seam hands over.

* ``toy_window`` reads windows ``(n, L, F)`` of the model inputs and summarises each channel by its last value,
  its mean over the window and its change over the window (3 F numbers), computed batch by batch from the
  :class:`~factory.models.views.WindowView` (the windows are never all in memory at once);
* ``toy_price`` reads price contexts ``(n, C)`` of relative log prices and uses their ``C - 1`` log returns.

Both save as the inner logistic model's JSON coefficients (no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from factory.models.base import EvalSet, FactoryModel, ModelConfig, Spans
from factory.models.classical.logistic import LogisticModel
from factory.models.registry import register_model

INNER_DIR = "inner"
BATCH = 4096


class ToyWindowConfig(ModelConfig):
    window: int = Field(8, ge=2)
    C: float = Field(0.5, gt=0)
    max_iter: int = Field(300, ge=1)


class ToyPriceConfig(ModelConfig):
    context_length: int = Field(16, ge=3)
    C: float = Field(0.5, gt=0)
    max_iter: int = Field(300, ge=1)


class _SummaryLogistic(FactoryModel):
    """A logistic model on ``_summary(view)``; subclasses say what the summary is."""

    def _inner(self) -> LogisticModel:
        return LogisticModel(C=self.config.C, max_iter=self.config.max_iter, seed=self.config.seed)

    def _summary(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _summaries(self, view) -> np.ndarray:
        parts = [self._summary(view.batch(np.arange(i, min(i + BATCH, len(view))))) for i in range(0, len(view), BATCH)]
        return np.concatenate(parts)

    def _fit(self, X, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None) -> None:
        self.inner_ = self._inner().fit(self._summaries(X), y - 1, w)

    def _predict_proba(self, X) -> np.ndarray:
        return self.inner_.predict_proba(self._summaries(X))

    def _save(self, folder: Path) -> dict[str, Any]:
        self.inner_.save(folder / INNER_DIR)
        return {"inner": INNER_DIR}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        self.inner_ = LogisticModel.load(folder / state["inner"])


@register_model("toy_window", family="reference", input_kind="window")
class ToyWindowModel(_SummaryLogistic):
    """Logistic regression on (last, mean, change) of every channel over a window of ``window`` rows."""

    Config = ToyWindowConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {"window": 8, "max_iter": 200}

    @property
    def window_length(self) -> int:
        return self.config.window

    def _summary(self, batch: np.ndarray) -> np.ndarray:
        # (b, L, F) -> (b, 3 F)
        last = batch[:, -1, :]
        return np.concatenate([last, batch.mean(axis=1), last - batch[:, 0, :]], axis=1)


@register_model("toy_price", family="reference", input_kind="price_window")
class ToyPriceModel(_SummaryLogistic):
    """Logistic regression on the ``context_length - 1`` log returns of a price context (in basis points)."""

    Config = ToyPriceConfig

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        return {"context_length": 16, "max_iter": 200}

    @property
    def window_length(self) -> int:
        return self.config.context_length

    def _summary(self, batch: np.ndarray) -> np.ndarray:
        # (b, C) relative log prices -> (b, C - 1) log returns in basis points
        return 1e4 * np.diff(batch, axis=1)
