"""Helpers shared by the serving tests (a uniquely named module: test folders share one import namespace).

``trained_registry`` trains models with the small packaging test settings into a throwaway SQLite tracking
store, registers each as ``mes-<key>`` and promotes it to ``champion`` (stage Production) with every gate off.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from factory.models import list_models

REPO = Path(__file__).resolve().parents[2]
SMALL_CONFIG = REPO / "tests" / "packaging" / "small_train.yaml"
# Every registered key (the reference window and price models included, see tests/conftest.py).
MODEL_KEYS = tuple(list_models())
N_BARS = 12_000
WINDOW = 600  # bars per request: above every small model's min_bars (338)
LOOSE_GATES = """promotion:
  champion: {min_net_sharpe: null, min_trades: null, min_win_rate: null, max_drawdown_usd: null,
             max_pbo: null, min_dsr: null, must_beat_champion: false}
"""


@dataclass
class Registry:
    folder: Path
    env: dict[str, str]
    bars: pd.DataFrame
    versions: dict[str, str] = field(default_factory=dict)

    def window(self, n: int = WINDOW) -> pd.DataFrame:
        return self.bars.iloc[-n:].reset_index(drop=True)


@contextmanager
def trained_registry(folder: Path, keys):
    """Train, register and promote ``keys``; yields a :class:`Registry` (tracking URI set while inside)."""
    import mlflow

    from factory.data.synth import generate_bars
    from factory.jobs.promote import promote
    from factory.jobs.train import run_train

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    bars = generate_bars(N_BARS, seed=9)
    data = folder / "bars.parquet"
    bars.to_parquet(data)
    gates = folder / "loose_gates.yaml"
    gates.write_text(LOOSE_GATES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mp.delenv("FACTORY_INFERENCE_LOG", raising=False)
        mp.chdir(folder)
        mlflow.set_tracking_uri(uri)
        try:
            reg = Registry(folder, {"MLFLOW_TRACKING_URI": uri}, bars)
            for key in keys:
                res = run_train(key, data=str(data), config_file=str(_small_config(key, folder)), progress=False,
                                echo=lambda *a, **k: None)
                promote(res.name, res.version, "champion", config_file=gates)
                reg.versions[key] = res.version
            yield reg
        finally:
            mlflow.set_tracking_uri(None)


def _small_config(key: str, folder: Path) -> Path:
    """The small config, plus the tiny test settings of a pretrained model (its weights are built at test time)."""
    from factory.models.testing import config_with_test_params

    return config_with_test_params(SMALL_CONFIG, key, folder)


def wait_for_files(folder: Path, count: int, timeout: float = 20.0) -> list[Path]:
    """The complete log files of ``folder`` once there are at least ``count`` (bounded wait)."""
    from serving.inference_log import read_inference_log

    deadline = time.monotonic() + timeout
    files = read_inference_log(folder)
    while len(files) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        files = read_inference_log(folder)
    return files


def settled_files(folder: Path, quiet: float = 0.15, timeout: float = 20.0) -> list[Path]:
    """The complete log files once no new one has appeared for ``quiet`` seconds (the writer runs behind)."""
    from serving.inference_log import read_inference_log

    deadline = time.monotonic() + timeout
    files = read_inference_log(folder)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = read_inference_log(folder)
        if now != files:
            files, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return files


def tmp_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).glob(".tmp-*")) if Path(folder).is_dir() else []
