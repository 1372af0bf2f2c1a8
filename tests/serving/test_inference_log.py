"""The inference log writer and reader: exact format, atomic files, sync and async modes, concurrency, failures,
misconfiguration."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from serving.inference_log import (
    ENV, FSYNC_ENV, MODE_ENV, OUTPUT_NAMES, InferenceLog, InferenceLogError, InferenceLogWriteError, file_name,
    folder_name, load_inference_rows, log_columns, open_from_env, read_inference_log, received_time,
)

FEATURES = ["ret_log_1", "rsi_14", "hmm_p0", "hmm_p1"]
REPO = Path(__file__).resolve().parents[2]


def _record(n: int = 1, dtype=np.float32, seed: int = 0):
    rng = np.random.default_rng(seed)
    ts = np.datetime64("2024-03-08T14:30") + np.arange(n) * np.timedelta64(1, "m")
    outputs = {k: rng.random(n) for k in OUTPUT_NAMES}
    outputs["signal"] = rng.integers(-1, 2, n).astype(np.int64)
    return ts.astype("datetime64[ns]").astype(np.int64), rng.random((n, len(FEATURES))).astype(dtype), outputs


def _append(log: InferenceLog, n: int = 1, seed: int = 0, received_us: int | None = None) -> str:
    rid = uuid.uuid4().hex
    ts, inputs, outputs = _record(n, seed=seed)
    log.append(received_us if received_us is not None else time.time_ns() // 1000, rid, ts, inputs, outputs)
    return rid


def test_one_file_with_the_exact_columns_and_values(tmp_path):
    log = InferenceLog(tmp_path / "mes-lightgbm", FEATURES, metadata={"model_name": "mes-lightgbm", "run_id": "r1"},
                       background=False)
    ts, inputs, outputs = _record(3)
    received = 1_709_908_200_123_456  # 2024-03-08T14:30:00.123456Z
    log.append(received, "ab" * 16, ts, inputs, outputs)
    files = read_inference_log(tmp_path / "mes-lightgbm")
    assert [f.name for f in files] == ["20240308T143000123456Z-" + "ab" * 16 + ".parquet"]
    assert received_time(files[0]) == dt.datetime(2024, 3, 8, 14, 30, 0, 123456, tzinfo=dt.timezone.utc)
    table = pq.read_table(files[0])
    assert table.column_names == ["request_id", "received_at", "timestamp", *FEATURES,
                                  *(f"pred_{k}" for k in OUTPUT_NAMES)] == log_columns(FEATURES)
    types = {f.name: str(f.type) for f in table.schema}
    assert types["request_id"] == "string" and types["received_at"] == "timestamp[us, tz=UTC]"
    assert types["timestamp"] == "timestamp[ns, tz=UTC]"
    assert all(types[c] == "float" for c in FEATURES)
    assert types["pred_signal"] == "int64" and types["pred_prob_up"] == "double"
    df = table.to_pandas()
    assert len(df) == 3 and (df["request_id"] == "ab" * 16).all()
    assert (df["received_at"] == "2024-03-08T14:30:00.123456Z").all()
    np.testing.assert_array_equal(df["timestamp"].astype("int64").to_numpy(), ts)
    np.testing.assert_array_equal(df[FEATURES].to_numpy(), inputs)
    for k in OUTPUT_NAMES:
        np.testing.assert_array_equal(df[f"pred_{k}"].to_numpy(), outputs[k])
    meta = table.schema.metadata
    assert meta[b"factory.model_name"] == b"mes-lightgbm" and meta[b"factory.run_id"] == b"r1"


def test_float64_inputs_stay_float64(tmp_path):
    log = InferenceLog(tmp_path, FEATURES, background=False)
    ts, inputs, outputs = _record(2, dtype=np.float64)
    log.append(1, uuid.uuid4().hex, ts, inputs, outputs)
    table = pq.read_table(read_inference_log(tmp_path)[0])
    assert str(table.schema.field(FEATURES[0]).type) == "double"
    np.testing.assert_array_equal(table.to_pandas()[FEATURES].to_numpy(), inputs)


def test_sync_append_returns_once_its_file_is_in_place(tmp_path):
    log = InferenceLog(tmp_path, FEATURES)  # sync is the default
    assert log.mode == "sync"
    ids = []
    for i in range(5):
        ids.append(_append(log, n=2, seed=i))
        # No flush, no wait: the file of every append that returned is already there, whole.
        rows = load_inference_rows(read_inference_log(tmp_path))
        assert sorted(set(rows["request_id"])) == sorted(ids) and len(rows) == 2 * len(ids)
    assert not list(tmp_path.glob(".tmp-*"))


def test_async_append_returns_before_its_file_is_written(tmp_path):
    log = InferenceLog(tmp_path, FEATURES, background=True)
    assert log.mode == "async"
    _append(log)
    assert read_inference_log(tmp_path) == []  # queued: the writer waits a few ms before writing
    assert log.flush(timeout=20) and len(read_inference_log(tmp_path)) == 1
    log.close()


def test_background_writer_flushes_every_record(tmp_path):
    log = InferenceLog(tmp_path, FEATURES, background=True)
    ids = {_append(log, seed=i) for i in range(40)}
    assert log.flush(timeout=20)
    rows = load_inference_rows(read_inference_log(tmp_path))
    assert set(rows["request_id"]) == ids and len(rows) == 40
    log.close()
    _append(log)  # after close, appends are written synchronously
    assert len(read_inference_log(tmp_path)) == 41


@pytest.mark.parametrize("background", [False, True], ids=["sync", "async"])
def test_concurrent_appends_never_collide(tmp_path, background):
    log = InferenceLog(tmp_path, FEATURES, background=background)
    same_instant = time.time_ns() // 1000  # even the same receive time gives distinct files
    ids: list[str] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(8):
            rid = _append(log, n=2, seed=t * 100 + i, received_us=same_instant)
            with lock:
                ids.append(rid)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert log.flush(timeout=30)
    files = read_inference_log(tmp_path)
    assert len(files) == 128 == len(set(ids))
    assert {pq.read_table(f).column("request_id")[0].as_py() for f in files} == set(ids)
    assert not list(tmp_path.glob(".tmp-*"))


def _no_space(monkeypatch):
    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)


def test_sync_failure_between_write_and_rename_raises_and_leaves_nothing_visible(tmp_path, monkeypatch, caplog):
    log = InferenceLog(tmp_path, FEATURES)
    _no_space(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="serving.inference_log"):
        with pytest.raises(InferenceLogWriteError, match=r"could not write the file of request [0-9a-f]{32} in "
                                                         r"'.*': \[Errno 28\] No space left on device"):
            _append(log)
    assert "could not write" in caplog.text  # the server's own log says it too
    assert read_inference_log(tmp_path) == [] and not list(tmp_path.iterdir())


def test_async_failure_between_write_and_rename_is_a_warning(tmp_path, monkeypatch, caplog):
    log = InferenceLog(tmp_path, FEATURES, background=True)
    _no_space(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="serving.inference_log"):
        _append(log)  # must not raise
        assert log.flush(timeout=20)
    assert "could not write" in caplog.text and "No space left" in caplog.text
    assert read_inference_log(tmp_path) == [] and not list(tmp_path.iterdir())
    log.close()


def test_reader_ignores_temporary_and_foreign_files(tmp_path):
    log = InferenceLog(tmp_path, FEATURES, background=False)
    t0 = 1_709_908_200_000_000
    first = _append(log, received_us=t0)
    second = _append(log, received_us=t0 + 1_000_000)
    (tmp_path / f".tmp-{file_name(t0 + 500_000, uuid.uuid4().hex)}").write_bytes(b"PAR1 torn")
    (tmp_path / "notes.txt").write_text("not a log file")
    (tmp_path / "20240308T143000000000Z-xyz.parquet").write_bytes(b"bad name")
    files = read_inference_log(tmp_path)
    assert [f.name.split("-")[1].split(".")[0] for f in files] == [first, second]
    assert read_inference_log(tmp_path, after=files[0]) == files[1:]
    assert read_inference_log(tmp_path, after=files[0].name) == files[1:]
    cut = dt.datetime(2024, 3, 8, 14, 30, 0, 500_000)  # naive: UTC
    assert read_inference_log(tmp_path, after=cut) == files[1:]
    assert read_inference_log(tmp_path, before=cut) == files[:1]
    assert read_inference_log(tmp_path / "missing") == []
    assert load_inference_rows([]).empty


def _folder_becomes_a_file(folder: Path) -> None:
    # Works as root too, where a read-only folder would still be writable.
    folder.rmdir()
    folder.write_text("the folder became a file")


def test_a_sync_write_that_fails_later_raises(tmp_path):
    folder = tmp_path / "logs"
    log = InferenceLog(folder, FEATURES)
    _append(log)
    (folder / next(p.name for p in folder.iterdir())).unlink()
    _folder_becomes_a_file(folder)
    with pytest.raises(InferenceLogWriteError, match="could not write the file of request .* Not a directory"):
        _append(log)


def test_an_async_write_that_fails_later_is_a_warning(tmp_path, caplog):
    folder = tmp_path / "logs"
    log = InferenceLog(folder, FEATURES, background=True)
    _folder_becomes_a_file(folder)
    with caplog.at_level(logging.WARNING, logger="serving.inference_log"):
        _append(log)
        assert log.flush(timeout=20)
    assert "could not write" in caplog.text
    log.close()


def test_fsync_flushes_the_file_and_then_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else str(fd))
        return real_fsync(fd)

    log = InferenceLog(tmp_path, FEATURES, fsync=True)
    monkeypatch.setattr(os, "fsync", spy)
    rid = _append(log)
    assert len(synced) == 2
    if os.path.exists("/proc/self/fd"):
        assert Path(synced[0]).name.startswith(".tmp-") and rid in synced[0]  # the file, before its rename
        assert Path(synced[1]) == tmp_path.resolve()  # then the folder, so the rename is on disk too
    synced.clear()
    InferenceLog(tmp_path / "plain", FEATURES).append(1, uuid.uuid4().hex, *_record())
    assert synced == []


def test_the_mode_comes_from_the_environment_and_is_checked(tmp_path):
    root = str(tmp_path / "logs")
    assert open_from_env("m", FEATURES, environ={ENV: root}).mode == "sync"
    assert open_from_env("m", FEATURES, environ={ENV: root, MODE_ENV: "sync"}).mode == "sync"
    assert open_from_env("m", FEATURES, environ={ENV: root, MODE_ENV: " "}).mode == "sync"
    log = open_from_env("m", FEATURES, environ={ENV: root, MODE_ENV: " Async "})
    assert log.mode == "async" and log.background
    log.close()
    assert open_from_env("m", FEATURES, environ={ENV: root, FSYNC_ENV: "1"}).fsync
    assert not open_from_env("m", FEATURES, environ={ENV: root}).fsync
    for bad in ("asynch", "background", "0"):
        for env in ({ENV: root, MODE_ENV: bad}, {MODE_ENV: bad}):  # a typo fails even without the log
            with pytest.raises(InferenceLogError, match=f"{MODE_ENV}='{bad}' is not one of sync, async"):
                open_from_env("m", FEATURES, environ=env)


def test_environment_switches_the_log_on_and_reports_bad_folders(tmp_path):
    assert open_from_env("mes-lightgbm", FEATURES, environ={}) is None
    assert open_from_env("mes-lightgbm", FEATURES, environ={ENV: "  "}) is None
    log = open_from_env("mes/light gbm", FEATURES, environ={ENV: str(tmp_path / "logs")})
    assert log.folder == tmp_path / "logs" / folder_name("mes/light gbm")
    assert log.folder.name.startswith("mes_light_gbm-")
    log.close()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InferenceLogError, match=f"{ENV}=.*is a file, not a folder"):
        open_from_env("m", FEATURES, environ={ENV: str(a_file)})
    with pytest.raises(InferenceLogError, match=f"{ENV}: cannot write inference log files in .*unset it"):
        InferenceLog(a_file / "below" / "m", FEATURES)
    assert folder_name("..").startswith("model-") and folder_name("mes-lightgbm") == "mes-lightgbm"


WRITER = textwrap.dedent("""
    import sys, time, uuid
    import numpy as np
    from serving.inference_log import InferenceLog, OUTPUT_NAMES
    names = [f"f{i}" for i in range(150)]
    log = InferenceLog(sys.argv[1], names, background=True)
    rng = np.random.default_rng(0)
    for i in range(100000):
        out = {k: rng.random(300) for k in OUTPUT_NAMES}
        out["signal"] = np.zeros(300, dtype=np.int64)
        log.append(time.time_ns() // 1000, uuid.uuid4().hex, np.arange(300, dtype=np.int64),
                   rng.random((300, 150)).astype(np.float32), out)
        time.sleep(0.001)
""")


def test_a_killed_writer_leaves_only_complete_files(tmp_path):
    folder = tmp_path / "logs"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(read_inference_log(folder)) < 20 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    files = read_inference_log(folder)
    assert len(files) >= 20
    for f in files:
        assert pq.read_table(f).num_rows == 300  # every visible file is whole
