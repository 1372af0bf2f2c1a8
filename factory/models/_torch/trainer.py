"""The one trainer of every deep window model: weighted cross-entropy, AdamW, clipping, early stopping.

``fit_classifier(module, train, y, w, val, cfg, ...)``:

* loss: cross-entropy of the three classes, each sample weighted by its uniqueness weight times its class's
  balance factor (every class gets the same total weight; :func:`factory.models._inputs.balance_factors`);
* optimiser: AdamW (``lr``, ``weight_decay``), gradients clipped to norm ``grad_clip``;
* an epoch draws ``max_train_windows`` training windows at random (all when fewer), in batches gathered by index
  from the window view, so no ``(n, L, F)`` training tensor ever exists;
* early stopping: the weighted validation cross-entropy (on at most ``max_val_windows`` windows spread evenly
  over the purged validation split, the same every epoch) after each epoch; training stops after ``patience``
  epochs without improvement and the best epoch's weights are restored;
* seeds fixed (Python, NumPy, torch), threads set from the machine (:mod:`~factory.models._torch.runtime`);
* a progress bar per epoch with the running losses (tqdm on stderr, so it shows under ``mlflow run`` too);
* the per-epoch losses and times come back as ``history`` (the model keeps it as ``history_``; the train job
  logs it to MLflow as step metrics: the library itself never talks to MLflow).
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field

import numpy as np

from factory.models._inputs import balance_factors, combined_weights
from factory.models._torch import runtime

PROGRESS_ENV = "FACTORY_PROGRESS"  # "0" silences the bars (the test suite does)


@dataclass
class FitResult:
    best_epoch: int
    best_val_loss: float
    history: list[dict] = field(default_factory=list)


def _as_tensor(batch: np.ndarray, device, dtype=np.float32):
    import torch

    return torch.from_numpy(np.ascontiguousarray(batch, dtype=dtype)).to(device, non_blocking=True)


def _spread(n: int, k: int | None) -> np.ndarray:
    """At most k indices spread evenly over range(n) (all of them when k is None or >= n)."""
    if k is None or n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def _weights(y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    out = combined_weights(y, w, balance_factors(y, w))
    return np.ones(len(y)) if out is None else out


def predict_logits(module, view, idx: np.ndarray, batch_size: int, device, amp: bool) -> np.ndarray:
    """Logits of the windows ``idx`` of ``view``, batch by batch (bounded memory), as float64, in the module's
    own precision (inputs cast to it; autocast only for a float32 module on CUDA)."""
    import torch

    module.eval()
    dtype = next(module.parameters()).dtype
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    out = np.empty((len(idx), 3))
    with torch.inference_mode(), runtime.autocast(device, amp and dtype == torch.float32):
        for start in range(0, len(idx), batch_size):
            part = idx[start:start + batch_size]
            logits = module(_as_tensor(view.batch(part), device, np_dtype))
            out[start:start + len(part)] = logits.double().cpu().numpy()
    return out


def _weighted_ce(logits: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(w * logp[np.arange(len(y)), y]).sum() / w.sum())


def _progress(total: int, desc: str):
    from factory.progress import progress_bar

    off = os.environ.get(PROGRESS_ENV, "1").strip() in ("0", "false", "no")
    return progress_bar(total, desc, unit="epoch", disable=off)


def fit_classifier(module, train, y: np.ndarray, w: np.ndarray | None, val, cfg, *, device, name: str = "model"
                   ) -> FitResult:
    """Train ``module`` (windows ``(B, L, C)`` -> logits ``(B, 3)``) in place; see the module docstring.

    ``train`` / ``val``: window views with ``batch(idx)``; ``y``: class indices 0..2; ``val``: ``(view, y, w)``
    or None (then the last epoch is kept).
    """
    import torch

    rng = np.random.default_rng(cfg.seed)
    sw = _weights(y, w)
    y_t = torch.as_tensor(y, dtype=torch.long)
    sw_t = torch.as_tensor(sw, dtype=torch.float32)
    if val is not None:
        v_view, v_y, v_w = val
        v_idx = _spread(len(v_view), cfg.max_val_windows)
        v_y = np.asarray(v_y)[v_idx]
        v_sw = _weights(v_y, None if v_w is None else np.asarray(v_w)[v_idx])
    optimiser = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    best = FitResult(best_epoch=-1, best_val_loss=float("inf"))
    best_state = None
    stale = 0
    with _progress(cfg.epochs, f"{name} training") as bar:
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            module.train()
            order = rng.permutation(len(train))[: cfg.max_train_windows]
            total, weight = 0.0, 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                xb = _as_tensor(train.batch(idx), device)
                yb, wb = y_t[idx].to(device), sw_t[idx].to(device)
                optimiser.zero_grad(set_to_none=True)
                with runtime.autocast(device, cfg.amp):
                    logits = module(xb)
                loss = (loss_fn(logits.float(), yb) * wb).sum() / wb.sum()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
                optimiser.step()
                total += float(loss.detach()) * float(wb.sum())
                weight += float(wb.sum())
                bar.set_postfix(train_loss=f"{total / weight:.4f}", refresh=False)
            metrics = {"train_loss": total / max(weight, 1e-12)}
            if val is not None:
                logits = predict_logits(module, v_view, v_idx, cfg.predict_batch_size, device, cfg.amp)
                metrics["val_loss"] = _weighted_ce(logits, v_y, v_sw)
            metrics["seconds"] = time.perf_counter() - t0
            best.history.append({"epoch": epoch, **metrics})
            bar.set_postfix({k: f"{v:.4f}" for k, v in metrics.items() if k != "seconds"})
            bar.update()
            score = metrics.get("val_loss", -epoch)
            if score < best.best_val_loss:
                best.best_val_loss, best.best_epoch = score, epoch
                best_state = copy.deepcopy(module.state_dict())
                stale = 0
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
    if best_state is not None:
        module.load_state_dict(best_state)
    if val is None:
        best.best_val_loss = float("nan")
    return best
