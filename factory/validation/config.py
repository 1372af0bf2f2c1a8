"""Settings of the chronological split with purge and embargo."""

from __future__ import annotations

from pydantic import Field, model_validator

from factory._config_base import StrictConfig


class SplitConfig(StrictConfig):
    """Fractions of the bar range for train / val (the rest is test) and the purge / embargo gaps in bars.

    ``n_splits`` is used by the cross-validators built with ``from_config``.
    """

    train_frac: float = Field(0.7, gt=0, lt=1)
    val_frac: float = Field(0.15, gt=0, lt=1)
    # Samples whose label end t1 comes within `purge_bars` of their segment's end (or of a test block) are dropped.
    purge_bars: int = Field(60, ge=0)
    # Bars skipped after each segment before the next one starts; must cover feature warm-up and model look-back.
    embargo_bars: int = Field(2000, ge=0)
    n_splits: int = Field(5, ge=2)

    @model_validator(mode="after")
    def _fractions(self):
        if self.train_frac + self.val_frac >= 1:
            raise ValueError("train_frac + val_frac must be < 1 (the rest is the test split)")
        return self
