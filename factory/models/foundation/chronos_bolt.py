"""Chronos-Bolt (Ansari et al., 2024; amazon/chronos-bolt-*): a T5 encoder-decoder over patches of the context
that outputs quantiles of the next 64 steps directly, used zero-shot.

The context is the last ``context_length`` closes as log prices relative to the close at t (no price level
leaks in; Chronos-Bolt scales each context itself). The forecast at step ``horizon`` (the label horizon) is the
horizon log return; its native quantiles (0.1 .. 0.9) become class probabilities through the label barriers
(:mod:`factory.models.foundation.distribution`). Beyond the model's own prediction length, chronos-forecasting
extends the forecast autoregressively from its quantiles (its documented heuristic).

Weights: ``model_path`` is a hub id (default ``amazon/chronos-bolt-small``, 48M parameters, about 190 MB) or a
local folder, loaded with ``chronos.BaseChronosPipeline.from_pretrained(folder, device_map=...)``; ``save``
writes them with ``save_pretrained`` into the model folder.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from factory.models.foundation._base import FoundationConfig, FoundationForecaster, pad_batch
from factory.models.registry import register_model


class ChronosBoltConfig(FoundationConfig):
    model_path: str = Field("amazon/chronos-bolt-small", min_length=1)
    context_length: int = Field(512, ge=2, le=2048)


@register_model("chronos_bolt", family="foundation")
class ChronosBoltModel(FoundationForecaster):
    """Zero-shot Chronos-Bolt quantile forecasts priced through the label barriers."""

    Config = ChronosBoltConfig
    requirements = ("chronos", "transformers", "torch")
    default_id = "amazon/chronos-bolt-small"
    weight_files = ("config.json",)

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        from factory.models.foundation.tiny import tiny_model_path

        return {"model_path": str(tiny_model_path("chronos_bolt")), "context_length": 32, "batch_size": 64}

    def _load_backbone(self, folder: Path):
        from chronos import BaseChronosPipeline

        pipe = BaseChronosPipeline.from_pretrained(str(folder), device_map=self._device())
        if not hasattr(pipe, "quantiles") or type(pipe).__name__ != "ChronosBoltPipeline":
            raise ValueError(f"{folder} holds a {type(pipe).__name__}, not a Chronos-Bolt model")
        return pipe

    def _save_backbone(self, backbone, folder: Path) -> None:
        backbone.model.save_pretrained(str(folder))

    def _forecast_batch(self, contexts: np.ndarray, horizon: int):
        import torch

        pipe = self.backbone_
        b = len(contexts)
        ctx = torch.from_numpy(np.ascontiguousarray(pad_batch(contexts, self.config.batch_size), dtype=np.float32))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*prediction length.*")  # long horizons are intended
            with torch.no_grad():
                pred = pipe.predict(ctx, prediction_length=horizon, limit_prediction_length=False)  # (B, Q, H)
        return list(pipe.quantiles), pred[:b, :, horizon - 1].double().numpy()
