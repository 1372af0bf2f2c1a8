"""Every packaged model key served by `mlflow models serve` from the Production stage: parity with the offline
pyfunc, identical answers in every input format, 400s for bad requests, and its inference log.

Slow (each key trains and starts its own scoring server); run with ``-m slow``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from serving_setup import MODEL_KEYS, tmp_leftovers, trained_registry, wait_for_files

from serving.client import INPUT_FORMATS, bars_payload, predictions_frame
from serving.inference_log import OUTPUT_NAMES, read_inference_log
from serving.input_checks import check_bars_input
from serving.local_server import LocalScoringServer

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

BAD = [  # (mutation of the request window, text the 400 message must contain)
    (lambda b: b.assign(close=b["close"].where(b.index != 7)), "[nan] column 'close'"),
    (lambda b: b.iloc[::-1], "[sorted]"),
    (lambda b: b.iloc[-50:], "[min_bars]"),
    (lambda b: b.assign(volume=-1.0), "[volume]"),
    (lambda b: b.assign(high=b["low"] - 1), "[high_low]"),
]


def _iso(bars: pd.DataFrame) -> pd.DataFrame:
    out = bars.reset_index(drop=True).copy()
    out["timestamp"] = [t.isoformat() for t in out["timestamp"]]
    return out


@pytest.mark.parametrize("key", MODEL_KEYS)
def test_key_served_from_production(key, tmp_path):
    import mlflow

    name = f"mes-{key}"
    with trained_registry(tmp_path, [key]) as reg:
        offline = mlflow.pyfunc.load_model(f"models:/{name}/{reg.versions[key]}")
        bundle = offline.unwrap_python_model().bundle
        log_dir = tmp_path / "logs" / name
        env = {**reg.env, "FACTORY_INFERENCE_LOG": str(tmp_path / "logs")}
        with LocalScoringServer(f"models:/{name}/Production", env=env, cwd=tmp_path) as server:
            bars = reg.window()
            for last_only in (True, False):
                answers = [server.post(bars_payload(bars, fmt, last_only=last_only)) for fmt in INPUT_FORMATS]
                assert all(code == 200 for code, _ in answers), answers[0]
                assert all(body == answers[0][1] for _, body in answers)
                got = predictions_frame(answers[0][1])
                expect = offline.predict(_iso(bars), params={"last_only": last_only})
                pd.testing.assert_frame_equal(got, expect, check_exact=True, check_dtype=False)
            for mutate, needle in BAD:
                code, body = server.post(bars_payload(mutate(bars)))
                assert code == 400 and needle in body["message"], (code, body)
            code, body = server.post(bars_payload(bars))
            assert code == 200 and server.alive
            files = wait_for_files(log_dir, 7)  # 2 x 3 formats + the last request; bad ones log nothing
            assert len(files) == 7
            table = pq.read_table(files[-1])
            features = offline.metadata.metadata["feature_names"]
            assert table.column_names == ["request_id", "received_at", "timestamp", *features,
                                          *(f"pred_{k}" for k in OUTPUT_NAMES)]
            logged = table.to_pandas()
            _, inputs = bundle.predict_with_inputs(check_bars_input(_iso(bars), bundle.min_bars), last_only=True)
            np.testing.assert_array_equal(logged[features].to_numpy(), inputs.to_numpy())
            out = predictions_frame(body)
            for k in OUTPUT_NAMES:
                np.testing.assert_array_equal(logged[f"pred_{k}"].to_numpy(), out[k].to_numpy())
        assert len(read_inference_log(log_dir)) == 7 and not tmp_leftovers(log_dir)
