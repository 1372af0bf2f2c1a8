"""Fixtures of the label tests."""

from __future__ import annotations

import pytest

from factory.contracts import CostModel
from label_synth import random_walk_bars


@pytest.fixture
def half_point_cost() -> CostModel:
    """A round trip of exactly 0.5 price points: 2 sides x 1 tick x $1.25 = $2.50 at $5 per point."""
    return CostModel(tick_size=0.25, tick_value=1.25, commission_per_side=0.0, slippage_ticks=1.0)


@pytest.fixture(scope="session")
def walk():
    return random_walk_bars(3000, seed=5)
