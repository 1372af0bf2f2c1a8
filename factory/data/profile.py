"""A compact profile of a bars data set (JSON-serialisable and renderable as HTML)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from factory.errors import Issue

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def profile_bars(bars: pd.DataFrame, warnings: list[Issue] | None = None) -> dict[str, Any]:
    ts = bars["timestamp"]
    deltas = ts.diff().dropna()
    median_delta = deltas.median() if len(deltas) else pd.Timedelta(0)
    columns = {}
    for col in PRICE_COLUMNS:
        v = bars[col].to_numpy(dtype=np.float64)
        columns[col] = {
            "min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()), "std": float(v.std()),
            "p01": float(np.quantile(v, 0.01)), "p99": float(np.quantile(v, 0.99)),
        }
    logret = np.diff(np.log(bars["close"].to_numpy(dtype=np.float64)))
    return {
        "n_bars": int(len(bars)),
        "start": ts.iloc[0].isoformat(),
        "end": ts.iloc[-1].isoformat(),
        "median_interval_seconds": float(median_delta.total_seconds()),
        "n_intervals_above_median": int((deltas > median_delta).sum()),
        "max_interval_seconds": float(deltas.max().total_seconds()) if len(deltas) else 0.0,
        "log_return_std": float(logret.std()) if len(logret) else float("nan"),
        "zero_volume_bars": int((bars["volume"].to_numpy() == 0).sum()),
        "columns": columns,
        "warnings": [w.one_line() for w in (warnings or [])],
    }


def profile_html(profile: dict[str, Any], title: str = "Data profile") -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in profile.items() if k not in ("columns", "warnings")
    )
    stats = ("min", "max", "mean", "std", "p01", "p99")
    head = "".join(f"<th>{s}</th>" for s in stats)
    cols = "".join(
        f"<tr><th>{c}</th>" + "".join(f"<td>{profile['columns'][c][s]:.6g}</td>" for s in stats) + "</tr>"
        for c in profile["columns"]
    )
    warns = "".join(f"<li>{html.escape(w)}</li>" for w in profile["warnings"]) or "<li>none</li>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><table>{rows}</table>"
        f"<h2>Columns</h2><table><tr><th></th>{head}</tr>{cols}</table>"
        f"<h2>Warnings</h2><ul>{warns}</ul></body></html>"
    )
