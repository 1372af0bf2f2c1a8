"""Constants shared by the packaging tests (a uniquely named module: every test folder has a conftest)."""

from __future__ import annotations

from pathlib import Path

SMALL_CONFIG = Path(__file__).with_name("small_train.yaml")
MODEL_KEYS = ("lightgbm", "xgboost", "logistic", "voting", "stacking")
N_BARS = 12_000
