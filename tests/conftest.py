"""Suite-wide setup.

* The reference window and price-context models join the registry for every test, so the tests that run over
  ``list_models()`` prove the model-input seam on them too.
* Every test runs in its own temporary working folder: MLflow puts a SQLite store's artifacts (and a missing
  store) under ``./mlruns`` of the working folder, and no test may write into the checkout.
* The deep models' progress bars are off (``FACTORY_PROGRESS=0``), and the model hub is never asked
  (``HF_HUB_OFFLINE=1``): the foundation models' tests build tiny random models in temporary folders.
* A test parametrized by a model ``key`` whose libraries are not installed is skipped.
* ``tracking``: a fresh SQLite MLflow store for a test that asks for one.
* A guard fails the session when the checkout gained files while it ran (anything ``git status`` shows that
  was not there before, caches of Python and pytest aside).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import factory.models.reference.toy  # noqa: F401  (registers toy_window and toy_price)

os.environ.setdefault("FACTORY_PROGRESS", "0")  # training progress bars only clutter the test log
os.environ["HF_HUB_OFFLINE"] = "1"  # no test downloads weights
# Extra model modules to register for this run (comma-separated), e.g. a model being written before its
# registration line exists: FACTORY_TEST_IMPORTS=factory.models.attention.patchtst
for _module in filter(None, os.environ.get("FACTORY_TEST_IMPORTS", "").split(",")):
    __import__(_module.strip())

ROOT = Path(__file__).resolve().parents[1]
# What running Python and pytest leaves behind by design.
ALLOWED = ("__pycache__", ".pytest_cache", ".hypothesis", ".egg-info")
_BEFORE = pytest.StashKey[object]()


@pytest.fixture(autouse=True)
def _skip_keys_without_their_libraries(request):
    """A test parametrized by a model ``key`` is skipped when that model's libraries are not installed (the
    foundation models' come with the ``foundation`` extra)."""
    import importlib.util

    key = request.node.callspec.params.get("key") if hasattr(request.node, "callspec") else None
    if not isinstance(key, str):
        return
    from factory.models import get_model_class
    from factory.models.errors import UnknownModelError

    try:
        cls = get_model_class(key)
    except UnknownModelError:
        return
    missing = [name for name in cls.requirements if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"model '{key}' needs {', '.join(missing)} (not installed)")


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    """A fresh SQLite tracking store for one test (``MLFLOW_TRACKING_URI`` and the client both point at it)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def checkout_entries() -> set[str] | None:
    """Untracked and ignored paths of the checkout (folders collapsed), or None outside a git checkout."""
    try:
        res = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=normal"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return {line[3:] for line in res.stdout.splitlines()
            if line[:2] in ("??", "!!") and not any(a in line for a in ALLOWED)}


def pytest_sessionstart(session):
    session.config.stash[_BEFORE] = checkout_entries()


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(_BEFORE, None)
    after = checkout_entries()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"tests wrote into the checkout ({ROOT}): {', '.join(new)}; tests must write to temporary folders"
        if reporter is not None:
            reporter.write_line(message, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
