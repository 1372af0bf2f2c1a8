"""TorchWindowModel: the base of every deep window model (settings, fit, batched predict, safetensors).

A subclass gives its architecture's settings (a ``Config`` extending :class:`TorchConfig`) and
``build_module(n_channels)``, an ``nn.Module`` mapping windows ``(batch, window, channels)`` of model inputs to
three logits. Everything else is shared: the trainer (:mod:`~factory.models._torch.trainer`), per-window
instance normalisation (``revin``: each channel centred and scaled by its own window, nothing computed across
windows), batched inference with bounded memory, and persistence: the weights as ``model.safetensors`` (no pickle),
the settings and the channel count in ``model.json``; loading rebuilds the module from the settings and loads the
weights strictly.

Training runs in float32 (bfloat16 autocast on CUDA); inference runs the same weights in float64
(``predict_precision``). Float32 kernels round differently with the number of windows in a batch (their
blocking changes), which moved a served one-window answer by ~1e-7 against the same window scored inside a long
evaluation; in float64 the difference is ~1e-15, so what is served is what the backtest scored. The float32
weights convert to float64 exactly, and are saved as trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from factory.models.base import EvalSet, FactoryModel, ModelConfig, Spans

WEIGHTS_FILE = "model.safetensors"


class TorchConfig(ModelConfig):
    """Settings every deep window model has (the trainer's and the runtime's)."""

    window: int = Field(32, ge=2)  # rows of model inputs one sample reads (its lookback is window - 1)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    patience: int = Field(3, ge=1)
    # Windows drawn per epoch (a fresh random subset each epoch) and validation windows scored per epoch.
    max_train_windows: int | None = Field(20_000, ge=1)
    max_val_windows: int | None = Field(8_000, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    revin: bool = False
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(0, ge=0)  # 0: from the machine (runtime.default_threads)
    amp: bool = True  # bfloat16 autocast on CUDA; the CPU always runs float32
    predict_batch_size: int = Field(1024, ge=1)
    # float64: served and backtested outputs agree to ~1e-15 whatever the batch (see the module docstring)
    predict_precision: Literal["float64", "float32"] = "float64"


class TorchWindowModel(FactoryModel):
    """Base of the deep window models; subclasses implement :meth:`build_module`."""

    input_kind: ClassVar[str] = "window"
    requirements: ClassVar[tuple[str, ...]] = ("torch", "safetensors")
    Config: ClassVar[type[TorchConfig]] = TorchConfig
    _predict_threads: int | None = None

    # ------------------------------------------------------------------ settings
    @property
    def window_length(self) -> int:
        return int(self.config.window)

    @classmethod
    def tiny_params(cls) -> dict[str, Any]:
        """Trainer settings small enough for the test suite (the architecture's own come from subclasses)."""
        return {"window": 8, "epochs": 8, "batch_size": 64, "max_train_windows": 600, "max_val_windows": 256,
                "patience": 3, "lr": 1e-2, "threads": 1, "dropout": 0.0}

    def build_module(self, n_channels: int):
        """The architecture: an ``nn.Module`` from ``(batch, window, n_channels)`` to ``(batch, 3)`` logits."""
        raise NotImplementedError

    def set_predict_threads(self, n: int) -> list[str]:
        self._predict_threads = int(n)
        return [self.key]

    # ------------------------------------------------------------------ fit / predict
    def _network(self, n_channels: int):
        from factory.models._torch.layers import WithInstanceNorm

        net = self.build_module(n_channels)
        return WithInstanceNorm(net) if self.config.revin else net

    def _fit(self, X, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None) -> None:
        from factory.models._torch import runtime
        from factory.models._torch.trainer import fit_classifier

        c = self.config
        device = runtime.resolve_device(c.device)
        runtime.seed_everything(c.seed, device)
        runtime.set_threads(c.threads)
        n_channels = int(X.shape[2])
        module = self._network(n_channels).to(device)
        result = fit_classifier(module, X, y, w, eval_set, c, device=device, name=self.key)
        self.module_ = module.to("cpu").eval()
        self.n_channels_ = n_channels
        self.best_epoch_ = int(result.best_epoch)
        self.history_ = result.history

    def _predict_proba(self, X) -> np.ndarray:
        from factory.models._torch import runtime
        from factory.models._torch.trainer import predict_logits

        c = self.config
        runtime.set_threads(self._predict_threads if self._predict_threads else c.threads)
        module = self._inference_module()
        device = next(module.parameters()).device
        logits = predict_logits(module, X, np.arange(len(X)), c.predict_batch_size, device, c.amp)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def _inference_module(self):
        """The fitted module in the inference precision (a float64 copy, made once)."""
        if self.config.predict_precision == "float32":
            return self.module_
        cached = getattr(self, "_module64", None)
        if cached is None or cached[0] is not self.module_:
            import copy

            cached = (self.module_, copy.deepcopy(self.module_).double().eval())
            self._module64 = cached
        return cached[1]

    @property
    def n_parameters(self) -> int:
        self._require_fitted("n_parameters")
        return int(sum(p.numel() for p in self.module_.parameters()))

    # ------------------------------------------------------------------ persistence
    def _save(self, folder: Path) -> dict[str, Any]:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.module_.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE))
        return {"weights": WEIGHTS_FILE, "n_channels": self.n_channels_, "best_epoch": self.best_epoch_,
                "history": self.history_}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        from safetensors.torch import load_file

        module = self._network(int(state["n_channels"]))
        module.load_state_dict(load_file(str(folder / state.get("weights", WEIGHTS_FILE))), strict=True)
        self.module_ = module.eval()
        self.n_channels_ = int(state["n_channels"])
        self.best_epoch_ = int(state["best_epoch"])
        self.history_ = list(state.get("history", []))
