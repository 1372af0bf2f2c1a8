"""What the two pretrained forecasters share: settings, finding the weights, batched inference, persistence.

A subclass says how to load a backbone from a local folder (:meth:`FoundationForecaster._load_backbone`), how to
save it into a folder (:meth:`_save_backbone`) and how to forecast a batch of contexts
(:meth:`_forecast_batch`: the horizon log return's quantiles). ``fit`` trains nothing: it loads the backbone (the
factory calibrates the derived probabilities on the validation split, as for every model). The weights are saved
inside the model folder (and so inside the pyfunc's artifacts): a served model never needs the hub.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from factory.models.base import EvalSet, FactoryModel, ModelConfig, Spans
from factory.models.errors import ModelFileError, ModelInputError

WEIGHTS_DIR = "weights"
PROGRESS_ENV = "FACTORY_PROGRESS"  # the deep models' switch: "0" silences the bars


class WeightsNotFoundError(ModelFileError):
    """Pretrained weights that are neither a local folder nor reachable on (or cached from) the model hub."""


class FoundationConfig(ModelConfig):
    model_path: str = Field(..., min_length=1)  # a Hugging Face hub id or a local folder
    context_length: int = Field(512, ge=2)  # closes per context (the model's lookback + 1)
    batch_size: int = Field(64, ge=1)  # contexts per forward pass (bounds memory)
    device: Literal["cpu", "cuda", "auto"] = "cpu"


def resolve_weights(key: str, model_path: str, required: tuple[str, ...], default_id: str) -> Path:
    """The local folder holding ``model_path``'s weights: the folder itself, or the hub snapshot (the local
    Hugging Face cache first; the hub unless ``HF_HUB_OFFLINE`` is set). Raises :class:`WeightsNotFoundError`
    naming where it looked and how to provide the weights."""
    path = Path(model_path).expanduser()
    how = (f"Provide them either as a hub id with network access to the Hugging Face hub (e.g. model_path: "
           f"{default_id}; downloaded once into the local cache), or as a local folder holding a saved model "
           f"(e.g. fetched elsewhere with `hf download {default_id} --local-dir DIR`; then model_path: DIR).")
    if path.is_dir():
        missing = [f for f in required if not (path / f).is_file()]
        if not missing:
            return path
        raise WeightsNotFoundError(f"model '{key}': the folder {path.resolve()} does not hold "
                                   f"{', '.join(missing)}, so it is not a saved model. {how}")
    looks_like_id = model_path.count("/") == 1 and not model_path.startswith((".", "/", "~")) and ":" not in model_path
    if not looks_like_id:
        raise WeightsNotFoundError(f"model '{key}': model_path {model_path!r} is not a folder (looked at "
                                   f"{path.resolve()}) and not a hub id of the form owner/name. {how}")
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    reasons = []
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError as exc:  # pragma: no cover - comes with the foundation extra
        raise WeightsNotFoundError(f"model '{key}': huggingface_hub is not installed ({exc}); install the "
                                   "'foundation' extra. " + how) from None
    for local_only in ((True,) if offline else (True, False)):
        try:
            folder = Path(snapshot_download(model_path, local_files_only=local_only))
        except Exception as exc:  # noqa: BLE001 - any failure means "not found here"; the reasons are reported
            reasons.append(f"{'the local cache ' + str(constants.HF_HUB_CACHE) if local_only else 'the hub'}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        if all((folder / f).is_file() for f in required):
            return folder
        reasons.append(f"{folder} lacks {', '.join(f for f in required if not (folder / f).is_file())}")
    if offline:
        reasons.append("the hub was not asked (HF_HUB_OFFLINE is set)")
    raise WeightsNotFoundError(f"model '{key}': no weights for {model_path!r}: not a local folder (looked at "
                               f"{path.resolve()}), and not found in {'; '.join(reasons)}. {how}")


def progress_bar(total: int, desc: str):
    from factory.progress import progress_bar

    off = os.environ.get(PROGRESS_ENV, "1").strip().lower() in ("0", "false", "no")
    return progress_bar(total, desc, unit="window", disable=off)


class FoundationForecaster(FactoryModel):
    """A pretrained forecaster behind the model contract (see the module docstring)."""

    input_kind: ClassVar[str] = "price_window"
    reads_barriers: ClassVar[bool] = True
    zero_shot: ClassVar[bool] = True
    Config: ClassVar[type[FoundationConfig]] = FoundationConfig
    default_id: ClassVar[str] = ""
    weight_files: ClassVar[tuple[str, ...]] = ()

    @property
    def window_length(self) -> int:
        return self.config.context_length

    # ------------------------------------------------------------------ weights
    def preflight(self) -> None:
        """Raise :class:`WeightsNotFoundError` now if the weights cannot be found (before any run starts)."""
        self._resolve()

    def _resolve(self) -> Path:
        return resolve_weights(self.key, self.config.model_path, self.weight_files, self.default_id)

    def _device(self) -> str:
        if self.config.device != "auto":
            return self.config.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _ensure_backbone(self, folder: Path | None = None) -> None:
        if getattr(self, "backbone_", None) is None:
            folder = self._resolve() if folder is None else folder
            try:
                self.backbone_ = self._load_backbone(Path(folder))
            except (ImportError, ModelFileError):
                raise
            except Exception as exc:  # noqa: BLE001 - a broken folder is the user's to fix: say which one
                raise ModelFileError(f"model '{self.key}': could not load the weights in {folder} "
                                     f"({type(exc).__name__}: {exc})") from exc

    # ------------------------------------------------------------------ contract hooks
    def _fit(self, X, y: np.ndarray, w: np.ndarray | None, eval_set: EvalSet | None, spans: Spans | None) -> None:
        self.backbone_ = None
        self._ensure_backbone()

    def forecast_quantiles(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(levels (Q,), values (n, Q))``: the forecast quantiles of the horizon log return of every sample."""
        horizon = X.horizon
        if horizon is None:
            X.barriers_at(np.arange(0))  # raises the explanatory error
        self._ensure_backbone()
        n, bs = len(X), self.config.batch_size
        parts, levels = [], None
        with progress_bar(n, f"{self.key} forecasts") as bar:
            for start in range(0, n, bs):
                idx = np.arange(start, min(start + bs, n))
                ctx = X.batch(idx)
                levels, q = self._forecast_batch(ctx, int(horizon))
                parts.append(q)
                bar.update(len(idx))
        return np.asarray(levels, dtype=np.float64), np.concatenate(parts).astype(np.float64)

    def _predict_proba(self, X) -> np.ndarray:
        return self._proba_from(X, *self.forecast_quantiles(X))

    def _proba_from(self, X, levels: np.ndarray, values: np.ndarray) -> np.ndarray:
        from factory.models.foundation.distribution import barrier_probabilities

        up, down = X.barriers_at()
        try:
            return barrier_probabilities(levels, values, up, down)
        except ValueError as exc:
            raise ModelInputError(f"model '{self.key}': {exc}") from None

    def predict_proba_and_returns(self, X, levels) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and the return forecast from one pass of the backbone: the mean and the quantiles at
        ``levels`` of the forecast's own distribution (:mod:`factory.models.foundation.distribution`)."""
        from factory.models._inputs import finalise_proba
        from factory.models.foundation import distribution

        self._require_fitted("predict_proba_and_returns")
        Xa = self._features_for_predict(X)
        q_levels, values = self.forecast_quantiles(Xa)
        proba = finalise_proba(self._proba_from(Xa, q_levels, values), len(Xa), type(self).__name__)
        returns = np.column_stack([distribution.expected_value(q_levels, values),
                                   distribution.quantile(q_levels, values, levels)])
        return proba, returns

    def _save(self, folder: Path) -> dict[str, Any]:
        self._ensure_backbone()
        target = folder / WEIGHTS_DIR
        target.mkdir(parents=True, exist_ok=True)
        self._save_backbone(self.backbone_, target)
        return {"weights": WEIGHTS_DIR}

    def _load(self, folder: Path, state: dict[str, Any]) -> None:
        self.backbone_ = None
        weights = folder / state.get("weights", WEIGHTS_DIR)
        if not weights.is_dir():
            raise ModelFileError(f"{folder} holds no '{weights.name}' folder with the model's weights")
        self._ensure_backbone(weights)

    # ------------------------------------------------------------------ subclass hooks
    def _load_backbone(self, folder: Path):
        raise NotImplementedError

    def _save_backbone(self, backbone, folder: Path) -> None:
        raise NotImplementedError

    def _forecast_batch(self, contexts: np.ndarray, horizon: int) -> tuple[list[float], np.ndarray]:
        """``(levels, (b, Q) quantiles of the log return at step `horizon`)`` for ``(b, C)`` relative log prices."""
        raise NotImplementedError


def pad_batch(contexts: np.ndarray, size: int) -> np.ndarray:
    """``contexts`` padded to ``size`` rows (copies of the last): every forward pass has one shape, so a
    sample's forecast does not depend on how many others share its batch."""
    b = len(contexts)
    if b >= size:
        return contexts
    return np.concatenate([contexts, np.repeat(contexts[-1:], size - b, axis=0)])
