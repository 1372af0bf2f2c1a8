"""Shared fixtures for the integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def tracking_uri(tracking):
    """A fresh sqlite tracking store for one test (the suite's ``tracking`` fixture, under the name these tests use)."""
    return tracking
