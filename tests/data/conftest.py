"""Fixtures of the data tests."""

from __future__ import annotations

import pandas as pd
import pytest
from data_helpers import make_bars


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars()
