"""Tiny random Chronos-Bolt and TimesFM 2.5 models for tests and benchmarks, built offline in a temporary folder.

They have the real architectures at small sizes (about 63 thousand parameters for Chronos-Bolt, 1.5 million for
TimesFM), are saved the way the hub's models are, and load through the same ``from_pretrained`` path the product
uses; their forecasts mean nothing.
:func:`tiny_model_path` builds each once per process (the folder is removed at exit).
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
from pathlib import Path

_LOCK = threading.Lock()
_ROOT: Path | None = None
_BUILT: dict[str, Path] = {}


def build_tiny_chronos_bolt(folder: str | Path, seed: int = 0) -> Path:
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    folder = Path(folder)
    cfg = T5Config(d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=2, num_decoder_layers=2,
                   feed_forward_proj="relu", dense_act_fn="relu", is_gated_act=False, dropout_rate=0.0,
                   vocab_size=2, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                   architectures=["ChronosBoltModelForForecasting"], chronos_pipeline_class="ChronosBoltPipeline",
                   chronos_config=dict(context_length=512, prediction_length=16, input_patch_size=16,
                                       input_patch_stride=16, quantiles=[.1, .2, .3, .4, .5, .6, .7, .8, .9],
                                       use_reg_token=True))
    torch.manual_seed(seed)
    ChronosBoltModelForForecasting(cfg).save_pretrained(str(folder))
    return folder


def tiny_timesfm_definition(model_dims: int = 64, layers: int = 2, heads: int = 4):
    from timesfm import configs
    from timesfm.timesfm_2p5 import timesfm_2p5_base as base

    full = base.TimesFM_2p5_200M_Definition()
    t = full.stacked_transformers.transformer
    return base.TimesFM_2p5_200M_Definition(
        tokenizer=configs.ResidualBlockConfig(input_dims=2 * full.input_patch_len, hidden_dims=model_dims,
                                              output_dims=model_dims, use_bias=True, activation="swish"),
        stacked_transformers=configs.StackedTransformersConfig(
            num_layers=layers,
            transformer=configs.TransformerConfig(
                model_dims=model_dims, hidden_dims=model_dims, num_heads=heads, attention_norm=t.attention_norm,
                feedforward_norm=t.feedforward_norm, qk_norm=t.qk_norm, use_bias=t.use_bias,
                use_rotary_position_embeddings=t.use_rotary_position_embeddings, ff_activation=t.ff_activation,
                fuse_qkv=t.fuse_qkv)),
        output_projection_point=configs.ResidualBlockConfig(
            input_dims=model_dims, hidden_dims=model_dims, output_dims=full.output_projection_point.output_dims,
            use_bias=False, activation="swish"),
        output_projection_quantiles=configs.ResidualBlockConfig(
            input_dims=model_dims, hidden_dims=model_dims,
            output_dims=full.output_projection_quantiles.output_dims, use_bias=False, activation="swish"),
    )


def build_tiny_timesfm(folder: str | Path, seed: int = 0) -> Path:
    import torch
    import timesfm

    from factory.models.foundation.timesfm import DEFINITION_FILE, built_with, definition_to_dict

    folder = Path(folder)
    definition = tiny_timesfm_definition()
    torch.manual_seed(seed)
    with built_with(definition):
        model = timesfm.TimesFM_2p5_200M_torch(torch_compile=False)
    model.save_pretrained(str(folder))
    (folder / DEFINITION_FILE).write_text(json.dumps(definition_to_dict(definition), indent=1))
    return folder


BUILDERS = {"chronos_bolt": build_tiny_chronos_bolt, "timesfm": build_tiny_timesfm}


def tiny_model_path(key: str) -> Path:
    """A tiny random model of ``key`` ("chronos_bolt" or "timesfm"), built once per process."""
    global _ROOT
    with _LOCK:
        if key not in _BUILT:
            if _ROOT is None:
                _ROOT = Path(tempfile.mkdtemp(prefix="factory-tiny-models-"))
                atexit.register(shutil.rmtree, _ROOT, True)
            _BUILT[key] = BUILDERS[key](_ROOT / key)
        return _BUILT[key]
