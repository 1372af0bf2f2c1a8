"""Settings of the backtest (the ``backtest:`` section of the pipeline config); see :mod:`factory.evaluation.backtest`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factory._config_base import StrictConfig


class BacktestConfig(StrictConfig):
    """How signals are traded; the same for every model (see :mod:`factory.evaluation.backtest`)."""

    # "next_open": a signal at bar t's close fills at bar t+1's open (the labels' entry); "close": at t's close.
    fill: Literal["next_open", "close"] = "next_open"
    # "barriers": the labels' take-profit / stop barriers and vertical barrier; "horizon": the vertical one only.
    exits: Literal["barriers", "horizon"] = "barriers"
    # "fixed": max_contracts per trade; "confidence": 1 .. max_contracts by the signalled class's probability.
    sizing: Literal["fixed", "confidence"] = "fixed"
    max_contracts: int = Field(1, ge=1)
