"""OHLCV ML factory: a leakage-safe pipeline from raw futures bars to MLflow models.

Importing ``factory`` is cheap: heavy frameworks (MLflow, hmmlearn, Optuna, matplotlib) are imported
lazily inside the functions that need them.
"""

__version__ = "0.1.0"
