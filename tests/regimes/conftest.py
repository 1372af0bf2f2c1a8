"""Fixtures of the regime tests."""

from __future__ import annotations

import pytest

from regime_synth import regime_bars


@pytest.fixture(scope="session")
def switching():
    return regime_bars(6000, seed=1)
