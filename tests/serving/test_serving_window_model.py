"""The model-input seam end to end through a real `mlflow models serve`: the reference window model reads
windows of model inputs, yet is trained, registered, served and logged like a tabular model, and a request of
exactly ``min_bars`` bars gets the answer the full history gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from serving_setup import trained_registry, wait_for_files

from serving.client import bars_payload, predictions_frame
from serving.local_server import LocalScoringServer

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]


def test_window_model_served_from_production(tmp_path):
    import mlflow

    name = "mes-toy_window"
    with trained_registry(tmp_path, ["toy_window"]) as reg:
        offline = mlflow.pyfunc.load_model(f"models:/{name}/{reg.versions['toy_window']}")
        bundle = offline.unwrap_python_model().bundle
        assert bundle.model.input_kind == "window" and bundle.lookback == bundle.input_lookback + 7
        meta = offline.metadata.metadata
        assert meta["min_bars"] == bundle.min_bars and meta["input_kind"] == "window" and meta["window_length"] == 8
        full = bundle.predict(reg.bars)
        env = {**reg.env, "FACTORY_INFERENCE_LOG": str(tmp_path / "logs")}
        with LocalScoringServer(f"models:/{name}/Production", env=env, cwd=tmp_path) as server:
            for t in (len(reg.bars) - 1, len(reg.bars) - 777):
                request = reg.bars.iloc[t - bundle.min_bars + 1: t + 1]
                code, body = server.post(bars_payload(request, last_only=True))
                assert code == 200, body
                got = predictions_frame(body)
                expect = full.iloc[[t - bundle.lookback]].reset_index(drop=True)
                cols = ["prob_down", "prob_flat", "prob_up", "expected_return", "ret_q05", "ret_q50", "ret_q95"]
                np.testing.assert_allclose(got[cols].to_numpy(float), expect[cols].to_numpy(float), atol=1e-9)
                assert int(got["signal"].iloc[0]) == int(expect["signal"].iloc[0])
            window = reg.window()
            code, body = server.post(bars_payload(window, last_only=False))
            assert code == 200
            pd.testing.assert_frame_equal(predictions_frame(body), offline.predict(window), check_exact=False,
                                          rtol=0, atol=1e-12, check_dtype=False)
            code, body = server.post(bars_payload(window.iloc[-(bundle.min_bars - 1):], last_only=True))
            assert code == 400 and "[min_bars]" in body["message"]
            files = wait_for_files(tmp_path / "logs" / name, 3)
            assert len(files) == 3
