"""TimesFM 2.5 (Das et al., 2024; google/timesfm-2.5-200m-pytorch): a decoder-only transformer over patches of
32 steps with a quantile head, used zero-shot.

The context is the last ``context_length`` closes as log prices relative to the close at t (TimesFM normalises
each input); the forecast at step ``horizon`` is the horizon log return, and its quantiles (0.1 .. 0.9, from the
continuous quantile head, crossing fixed) become class probabilities through the label barriers
(:mod:`factory.models.foundation.distribution`).

Weights: ``model_path`` is a hub id (default ``google/timesfm-2.5-200m-pytorch``, 231M parameters, about 925 MB)
or a local folder, loaded with ``timesfm.TimesFM_2p5_200M_torch.from_pretrained(folder, torch_compile=False)``
and compiled for decoding with a ``timesfm.ForecastConfig``. TimesFM keeps its layer sizes in a class attribute
(``TimesFM_2p5_200M_torch_module.config``), not in the saved files: ``save`` writes the definition it was built
with into ``timesfm_definition.json`` beside ``model.safetensors``, and loading a folder that holds one builds
that definition (a smaller model, such as the tests' tiny one, loads again); without it, the 200M definition.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from factory.models.foundation._base import FoundationConfig, FoundationForecaster, pad_batch
from factory.models.registry import register_model

DEFINITION_FILE = "timesfm_definition.json"
_DEFINITION_LOCK = threading.Lock()


class TimesFMConfig(FoundationConfig):
    model_path: str = Field("google/timesfm-2.5-200m-pytorch", min_length=1)
    context_length: int = Field(512, ge=2, le=15360)


def definition_to_dict(definition) -> dict[str, Any]:
    return dataclasses.asdict(definition)


def definition_from_dict(d: dict[str, Any]):
    from timesfm import configs
    from timesfm.timesfm_2p5 import timesfm_2p5_base as base

    st = d["stacked_transformers"]
    return base.TimesFM_2p5_200M_Definition(
        input_patch_len=d["input_patch_len"], output_patch_len=d["output_patch_len"],
        output_quantile_len=d["output_quantile_len"], quantiles=list(d["quantiles"]),
        decode_index=d["decode_index"],
        tokenizer=configs.ResidualBlockConfig(**d["tokenizer"]),
        stacked_transformers=configs.StackedTransformersConfig(
            num_layers=st["num_layers"], transformer=configs.TransformerConfig(**st["transformer"])),
        output_projection_point=configs.ResidualBlockConfig(**d["output_projection_point"]),
        output_projection_quantiles=configs.ResidualBlockConfig(**d["output_projection_quantiles"]),
    )


@contextmanager
def built_with(definition):
    """TimesFM modules built inside this block use ``definition`` (the class attribute is restored after)."""
    from timesfm.timesfm_2p5.timesfm_2p5_torch import TimesFM_2p5_200M_torch_module as Module

    with _DEFINITION_LOCK:
        saved = Module.__dict__["config"]
        Module.config = definition
        try:
            yield
        finally:
            Module.config = saved


@register_model("timesfm", family="foundation")
class TimesFMModel(FoundationForecaster):
    """Zero-shot TimesFM 2.5 quantile forecasts priced through the label barriers."""

    Config = TimesFMConfig
    requirements = ("timesfm", "torch", "safetensors")
    default_id = "google/timesfm-2.5-200m-pytorch"
    weight_files = ("model.safetensors",)

    @classmethod
    def get_test_params(cls) -> dict[str, Any]:
        from factory.models.foundation.tiny import tiny_model_path

        return {"model_path": str(tiny_model_path("timesfm")), "context_length": 32, "batch_size": 64}

    def _load_backbone(self, folder: Path):
        import timesfm
        from timesfm.timesfm_2p5 import timesfm_2p5_base as base

        file = folder / DEFINITION_FILE
        definition = definition_from_dict(json.loads(file.read_text())) if file.is_file() \
            else base.TimesFM_2p5_200M_Definition()
        with built_with(definition):
            model = timesfm.TimesFM_2p5_200M_torch.from_pretrained(str(folder), torch_compile=False)
        model.model.config = definition  # the instance keeps its own definition
        device = self._device()
        if device != "cpu":
            model.model.to(device)
        model.factory_compiled_ = None
        return model

    def _save_backbone(self, backbone, folder: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in backbone.model.state_dict().items()},
                  str(folder / "model.safetensors"))
        (folder / DEFINITION_FILE).write_text(json.dumps(definition_to_dict(backbone.model.config), indent=1))

    def _compiled(self, horizon: int):
        import timesfm

        model = self.backbone_
        p, o = model.model.p, model.model.o
        key = (math.ceil(self.config.context_length / p) * p, math.ceil(horizon / o) * o)
        if model.factory_compiled_ != key:
            model.compile(timesfm.ForecastConfig(
                max_context=key[0], max_horizon=key[1], normalize_inputs=True, use_continuous_quantile_head=True,
                fix_quantile_crossing=True, per_core_batch_size=self.config.batch_size))
            model.factory_compiled_ = key
        return model

    def _forecast_batch(self, contexts: np.ndarray, horizon: int):
        import torch

        model = self._compiled(horizon)
        b = len(contexts)
        padded = pad_batch(contexts, self.config.batch_size)
        with torch.no_grad():
            _, quantiles = model.forecast(horizon, inputs=[row.astype(np.float64) for row in padded])
        # channel 0 is the mean; 1 .. 9 the quantiles at the definition's levels
        levels = list(model.model.config.quantiles)
        return levels, np.asarray(quantiles)[:b, horizon - 1, 1:1 + len(levels)].astype(np.float64)
