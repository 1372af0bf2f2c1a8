"""Where and how a torch model runs: device, thread count, seeds, mixed precision.

* device ``auto``: CUDA when torch sees a GPU, else the CPU (``cpu`` / ``cuda`` force one);
* threads: torch's intra-op threads for training and inference. ``0`` picks from the machine: one thread per core
  the process may use, minus one for the rest of the work, at least 1 (on a shared 2-core machine two threads
  ran several times slower than one for these small models);
* seeds: Python, NumPy and torch, and torch's deterministic algorithms where it has them, so a seeded fit is
  repeatable on the same machine;
* mixed precision: bfloat16 autocast on CUDA when ``amp`` is on; the CPU always runs float32.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    return max(1, cores() - 1)


def resolve_device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        from factory.models.errors import ModelInputError

        raise ModelInputError("device 'cuda' was asked for but torch sees no GPU; use device: auto or cpu")
    return torch.device(name)


def set_threads(n: int) -> int:
    import torch

    n = default_threads() if n <= 0 else int(n)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def seed_everything(seed: int, device=None) -> None:
    """Seed every generator; on CUDA also ask for deterministic kernels (its atomics otherwise reorder sums).

    CPU kernels are already deterministic for a fixed thread count, and forcing deterministic algorithms there
    takes slower paths (an LSTM step ~40 % slower, ``benchmarks/deep_models.py``), so the flag is off on the CPU.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(getattr(device, "type", None) == "cuda", warn_only=True)


def autocast(device, enabled: bool):
    """bfloat16 autocast on CUDA when enabled; a no-op elsewhere."""
    import torch

    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
