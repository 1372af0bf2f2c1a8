"""Bad input reaches the user as one line naming the check, column and rows, with exit code 2 (no traceback)."""

import subprocess
import sys

import pytest

GOOD_HEAD = "timestamp,open,high,low,close,volume\n"
ROWS = [
    "2024-01-08T14:30:00+00:00,4700.00,4701.00,4699.50,4700.50,120",
    "2024-01-08T14:31:00+00:00,4700.50,4702.00,4700.25,4701.75,95",
    "2024-01-08T14:32:00+00:00,4701.75,4702.25,4700.75,4701.00,80",
    "2024-01-08T14:33:00+00:00,4701.00,4701.50,4700.00,4700.25,101",
]


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "factory.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def _write(tmp_path, rows, name="bars.csv"):
    f = tmp_path / name
    f.write_text(GOOD_HEAD + "\n".join(rows) + "\n")
    return f


@pytest.mark.parametrize(
    "mutate, check, column",
    [
        (lambda r: [r[1], r[0], r[2], r[3]], "sorted", "timestamp"),
        (lambda r: [r[0], r[0], r[2], r[3]], "unique", "timestamp"),
        (lambda r: [r[0], r[1].replace("4702.00", "4699.00"), r[2], r[3]], "high_low", None),
        (lambda r: [r[0], r[1], r[2].replace(",80", ",-5"), r[3]], "volume", "volume"),
        (lambda r: [r[0], r[1], r[2], r[3].replace("4700.25,101", "nan,101")], "nan", "close"),
    ],
)
def test_validate_reports_check_column_and_row_with_exit_2(tmp_path, mutate, check, column):
    f = _write(tmp_path, mutate(list(ROWS)))
    res = _run("data", "validate", str(f))
    assert res.returncode == 2, res
    assert "Traceback" not in res.stderr
    assert f"[{check}]" in res.stderr
    if column:
        assert f"'{column}'" in res.stderr


def test_validate_good_file_exits_0(tmp_path):
    res = _run("data", "validate", str(_write(tmp_path, ROWS)), "--min-bars", "0")
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout and "MES calendar" in res.stdout


def test_validate_checks_the_pipelines_minimum_length_by_default(tmp_path):
    from factory.config import resolve_config
    from factory.dataset import pipeline_min_bars

    need = pipeline_min_bars(resolve_config())
    res = _run("data", "validate", str(_write(tmp_path, ROWS)))
    assert res.returncode == 2 and "[min_bars]" in res.stderr and f"at least {need}" in res.stderr
    assert "--min-bars 0" in res.stderr


def test_validate_reads_halts_with_the_contracts_calendar(tmp_path):
    """The product's own synthetic bars stop at the CME daily halt: no gap with the calendar, gaps without it."""
    f = tmp_path / "synth.csv"
    assert _run("data", "synth", "--bars", "3000", "--out", str(f)).returncode == 0
    res = _run("data", "validate", str(f), "--min-bars", "0")
    assert res.returncode == 0 and "[gap]" not in res.stdout and "0 warning(s)" in res.stdout
    res = _run("data", "validate", str(f), "--min-bars", "0", "--no-calendar")
    assert res.returncode == 0 and "[gap]" in res.stdout and "without a calendar" in res.stdout
    res = _run("data", "validate", str(f), "--contract", "XYZ")
    assert res.returncode == 2 and "unknown contract 'XYZ'" in res.stderr


def test_validate_reports_all_problems_at_once(tmp_path):
    rows = [ROWS[0], ROWS[0], ROWS[2].replace(",80", ",-5"), ROWS[3]]
    res = _run("data", "validate", str(_write(tmp_path, rows)))
    assert res.returncode == 2
    assert "[unique]" in res.stderr and "[volume]" in res.stderr


def test_unreadable_and_missing_files_exit_2_without_traceback(tmp_path):
    missing = _run("data", "validate", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01not parquet at all")
    res = _run("data", "validate", str(garbage))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "readable" in res.stderr


def test_naive_timestamps_need_tz(tmp_path):
    rows = [r.replace("+00:00", "") for r in ROWS]
    f = _write(tmp_path, rows)
    res = _run("data", "validate", str(f))
    assert res.returncode == 2 and "[timezone]" in res.stderr
    ok = _run("data", "validate", str(f), "--tz", "America/Chicago", "--min-bars", "0")
    assert ok.returncode == 0, ok.stderr


def test_pipeline_on_bad_file_is_one_line_and_leaves_no_run(tmp_path):
    f = _write(tmp_path, [ROWS[1], ROWS[0], ROWS[2], ROWS[3]])
    env_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    import os

    res = subprocess.run([sys.executable, "-m", "factory.cli", "pipeline", "--data", str(f), "--quiet"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "MLFLOW_TRACKING_URI": env_uri})
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: [sorted]")
    # Validation happens before any run is started: nothing was written to the tracking store.
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
