"""Constants shared by the packaging tests (a uniquely named module: every test folder has a conftest)."""

from __future__ import annotations

from pathlib import Path

from factory.models import list_models

SMALL_CONFIG = Path(__file__).with_name("small_train.yaml")
# Every registered key (the reference window and price models included, see tests/conftest.py).
MODEL_KEYS = tuple(list_models())
N_BARS = 12_000
