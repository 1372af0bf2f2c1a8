"""Fixtures of the feature tests."""

from __future__ import annotations

import pytest

from factory.features import FeatureConfig
from feature_bars import random_walk_bars


@pytest.fixture(scope="session")
def bars():
    """4,000 one-minute Globex bars: a little over three warm-ups of the default feature set."""
    return random_walk_bars(4000, seed=11)


@pytest.fixture(scope="session")
def cfg64():
    return FeatureConfig(dtype="float64")
