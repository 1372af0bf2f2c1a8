"""Shared fixtures of the drift-daemon tests: a fresh SQLite registry per test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """``(MlflowClient, folder)`` on a SQLite store in ``folder`` (also the working folder)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri), tmp_path
    mlflow.set_tracking_uri(None)
