"""The drift daemon: watch registry models, compare their served inputs with their reference sample, raise alerts.

One cycle, for each watched URI (``models:/mes-lightgbm@champion``):

1. resolve the URI to a version; a new version (a promotion) switches the reference sample;
2. read the inference-log rows after the saved cursor (``<log_dir>/<registered name>/``) and cut complete windows;
3. for each window, in order: Evidently drift check -> HTML report -> metrics on the monitoring run -> when the
   drift share is above the threshold (calibrated per version and window size, :mod:`monitoring.calibration`), an
   alert appended durably to the JSONL file and, with a webhook, to its
   queue on disk -> ``drift_status`` tag on the version -> the new cursor saved atomically. Only then does the
   next window start.

A worker thread posts the queued alerts to the webhook (:mod:`monitoring.webhook`), so a slow or dead receiver
never holds up the windows; ``run(once=True)`` gives it up to ``webhook.drain_timeout_s`` to empty the queue
before returning and leaves the count of alerts still queued in :attr:`DriftMonitor.undelivered`.

Because the cursor moves only after a window's alert is on disk, and alert ids are a hash of model, version and
window, a daemon killed at any point and restarted re-processes at most one window and finds its alert already
written: no alert is lost and none is repeated. When MLflow cannot be reached the cycle stops where it is (the
cursor does not move) and the daemon retries with exponential backoff.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from factory.errors import FactoryError
from monitoring import crashpoints
from monitoring.alerts import JsonlAlerts, iso, make_alert
from monitoring.calibration import ShareThreshold, share_threshold
from monitoring.config import MonitorConfig
from monitoring.drift import check_drift
from monitoring.log_reader import LogReader
from monitoring.reference import ModelReference, ReferenceError, load_reference, resolve
from monitoring.state import ModelState, StateStore
from monitoring.status import MonitorStatus
from monitoring.tracking import MonitoringTracker, TrackingUnavailable
from monitoring.webhook import WebhookSink
from monitoring.windows import Window, row_windows, time_windows

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^models:/(?P<name>[^/@]+)")


class MonitorError(FactoryError):
    """A cycle could not complete (``--once`` reports it and exits non-zero)."""


def registered_name(model_uri: str) -> str:
    """The registered model name a watched URI refers to (``models:/<name>@alias`` or a bare name)."""
    m = _NAME.match(model_uri.strip())
    return m.group("name") if m else model_uri.strip()


@dataclass
class _Watch:
    """One watched URI and what the daemon holds for it between cycles."""

    model_uri: str
    reference: ModelReference | None = None
    state: ModelState | None = None
    reader: LogReader | None = None
    threshold: ShareThreshold | None = None
    described_runs: set[str] = field(default_factory=set)


class DriftMonitor:
    """Runs cycles over ``model_uris``; see the module docstring. ``client``: an ``MlflowClient`` (default one).

    :meth:`run` starts and stops the webhook worker; :meth:`cycle` alone only queues the alerts."""

    def __init__(self, config: MonitorConfig, model_uris: list[str], log_dir: str | Path, client=None,
                 status: MonitorStatus | None = None, webhook_session=None) -> None:
        if not model_uris:
            raise MonitorError("no model to watch: give at least one --model-uri")
        for uri in model_uris:
            if ":/" in uri and not uri.startswith("models:/"):
                raise MonitorError(f"'{uri}' is not a registry URI; the daemon watches registered models "
                                   "(models:/<name>@champion, models:/<name>/Production, models:/<name>/<version>)")
        if client is None:
            from mlflow import MlflowClient

            client = MlflowClient()
        self.config = config
        self.log_dir = Path(log_dir)
        self.client = client
        self.status = status or MonitorStatus()
        self.alerts = JsonlAlerts(config.jsonl)
        self.states = StateStore(config.state_dir)
        self.tracker = MonitoringTracker(client, config.experiment)
        self.watches = [_Watch(uri) for uri in dict.fromkeys(model_uris)]
        self._stop = threading.Event()
        for w in self.watches:
            self.status.update(w.model_uri, name=registered_name(w.model_uri))
        self.webhook = None
        self.undelivered = 0
        if config.webhook.url:
            self.webhook = WebhookSink(config.webhook, config.state_dir, self.alerts,
                                       {registered_name(u) for u in model_uris}, session=webhook_session,
                                       on_change=lambda s: self.status.set_webhook(s.pending, s.failures, s.dropped))
            self.status.set_webhook(self.webhook.pending, 0, 0)

    # ------------------------------------------------------------------------------------------------ loop
    def run(self, once: bool = False, stop: threading.Event | None = None, max_cycles: int | None = None) -> bool:
        """Cycle until ``stop`` is set (or once); returns whether the last cycle completed."""
        stop = stop or threading.Event()
        self._stop = stop
        if self.webhook is None:
            return self._loop(once, stop, max_cycles)
        self.webhook.start()
        try:
            ok = self._loop(once, stop, max_cycles)
            if once:
                self.undelivered = self.webhook.drain(self.config.webhook.drain_timeout_s, stop)
                if self.undelivered:
                    logger.warning("%d alert(s) not delivered to the webhook within %.0f s; they stay queued in %s "
                                   "for the next start", self.undelivered, self.config.webhook.drain_timeout_s,
                                   self.webhook.queue.folder)
            return ok
        finally:
            self.webhook.stop()

    def _loop(self, once: bool, stop: threading.Event, max_cycles: int | None) -> bool:
        backoff = self.config.tracking_backoff_s
        cycles = 0
        while True:
            ok = self.cycle()
            cycles += 1
            if once or stop.is_set() or (max_cycles is not None and cycles >= max_cycles):
                return ok
            if ok:
                backoff = self.config.tracking_backoff_s
                wait = self.config.poll_interval_s
            else:
                wait = backoff
                backoff = min(backoff * 2, self.config.tracking_max_backoff_s)
                logger.warning("retrying in %.0f s", wait)
            if stop.wait(wait):
                return ok

    def cycle(self) -> bool:
        """One pass over every watched model; True when each completed (errors are logged and counted)."""
        ok = True
        for watch in self.watches:
            try:
                self._cycle_model(watch)
            except (FactoryError, OSError) as exc:
                # Tracking unreachable, alias not set yet, disk full: the position was not advanced past anything
                # unfinished, and the next cycle resumes from it.
                ok = False
                self.status.error(watch.model_uri, str(exc))
                logger.warning("%s: %s", watch.model_uri, exc)
            self.status.update(watch.model_uri, last_cycle_at=datetime.now(timezone.utc).isoformat())
        self.status.tick()
        return ok

    # ------------------------------------------------------------------------------------------------ one model
    def _cycle_model(self, watch: _Watch) -> None:
        from serving.inference_log import folder_name

        try:
            resolved = resolve(watch.model_uri, self.client)
        except FactoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - network trouble arrives as many exception types
            raise TrackingUnavailable(f"cannot resolve {watch.model_uri}: {str(exc).splitlines()[0]}") from exc
        crashpoints.reached("resolved")
        ref = watch.reference
        if ref is None or ref.name != resolved.name or ref.version != resolved.version:
            ref = self._load_reference(resolved)
            if watch.reference is not None:
                logger.info("%s now resolves to version %s: comparing with its reference sample",
                            watch.model_uri, ref.version)
            watch.reference = ref
            watch.threshold = share_threshold(ref, self.config)
        self.status.update(watch.model_uri, name=ref.name, version=ref.version)
        folder = folder_name(ref.name)
        if watch.state is None or watch.state.folder != folder:
            watch.state = self.states.load(folder)
            watch.reader = LogReader(self.log_dir / folder, self.config.settle_s)
        state = watch.state
        chunks = watch.reader.pending(state.cursor)
        windows = self._windows(chunks)
        crashpoints.reached("window_read")
        self.status.update(watch.model_uri,
                           pending_rows=sum(len(c.frame) for c in chunks) - sum(w.n_rows for w in windows))
        for window in windows:
            if self._stop.is_set():
                break  # asked to stop: the windows left wait for the next start
            self._process(watch, ref, state, window)

    def _load_reference(self, resolved) -> ModelReference:
        try:
            return load_reference(resolved.name, resolved.version, resolved.run_id)
        except ReferenceError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise TrackingUnavailable(f"cannot download the reference sample of {resolved.uri}: "
                                      f"{str(exc).splitlines()[0]}") from exc

    def _windows(self, chunks) -> list[Window]:
        w = self.config.window
        if w.rows:
            return row_windows(chunks, w.rows)
        return time_windows(chunks, w.duration, settle_s=self.config.settle_s)

    def _process(self, watch: _Watch, ref: ModelReference, state: ModelState, window: Window) -> None:
        cfg = self.config
        index = state.window_index
        summary = {"window_index": index, "window_start": iso(window.start_time), "window_end": iso(window.end_time),
                   "n_rows": window.n_rows, "model_version": ref.version, "drift_share": None, "drift": None,
                   "report_html": None, "alert_id": None, "skipped": None}
        if cfg.window.time and window.n_rows < cfg.window.min_rows:
            summary["skipped"] = f"{window.n_rows} rows < window.min_rows {cfg.window.min_rows}"
            self._advance(watch, state, window, summary)
            self.status.add(watch.model_uri, "skipped_windows")
            logger.info("%s window %d skipped: %s", ref.name, index, summary["skipped"])
            return
        try:
            result = check_drift(ref.sample, window.frame, ref.feature_names, cfg.drift, watch.threshold.threshold)
        except Exception as exc:  # noqa: BLE001 - the same rows would fail again: record and move on
            summary["skipped"] = f"drift check failed: {exc}"
            self.status.error(watch.model_uri, f"window {index}: {summary['skipped']}")
            logger.error("%s window %d: %s", ref.name, index, summary["skipped"])
            self._advance(watch, state, window, summary)
            return
        crashpoints.reached("checked")
        report = None
        if cfg.reports == "all" or (cfg.reports == "drift" and result.drift):
            name = f"window-{index:06d}-v{ref.version}.html"
            report = str(result.save_html(Path(cfg.report_dir) / state.folder / name))
        crashpoints.reached("report_saved")
        run_id = self.tracker.run_id(ref.name, ref.version, watch.model_uri)
        if run_id not in watch.described_runs:
            self.tracker.describe(run_id, {"method": cfg.drift.method, "column_threshold": cfg.drift.column_threshold,
                                           "share_threshold": cfg.drift.share_threshold,
                                           "window": cfg.window.describe(), "log_dir": str(self.log_dir),
                                           **watch.threshold.describe()})
            watch.described_runs.add(run_id)
        self.tracker.log_window(run_id, index, window.n_rows, result)
        if result.drift and report:
            self.tracker.log_report(run_id, report)
        crashpoints.reached("metrics_logged")
        summary.update(drift_share=result.drift_share, drift=result.drift, report_html=report,
                       threshold=result.share_threshold,
                       n_drifted_columns=len(result.drifted_columns), n_columns=result.n_columns)
        if result.drift:
            alert = make_alert(model_uri=watch.model_uri, name=ref.name, version=ref.version, window_index=index,
                               window_key=window.key, window_start=window.start_time, window_end=window.end_time,
                               n_rows=window.n_rows, result=result, report_html=report,
                               threshold_fields=watch.threshold.alert_fields())
            if self.alerts.append(alert):
                self.status.add(watch.model_uri, "alerts")
            crashpoints.reached("alert_written")
            summary["alert_id"] = alert["alert_id"]
            if self.webhook is not None:
                self.webhook.enqueue(alert)  # durable before the cursor moves; the worker posts it
                crashpoints.reached("webhook_queued")
        self.tracker.set_status(ref.name, ref.version, result.drift, result.drift_share, summary["window_end"])
        crashpoints.reached("tagged")
        self._advance(watch, state, window, summary)
        self.status.add(watch.model_uri, "windows")
        logger.info("%s v%s window %d (%s .. %s, %d rows): drift share %.3f over %d columns%s", ref.name,
                    ref.version, index, summary["window_start"], summary["window_end"], window.n_rows,
                    result.drift_share, result.n_columns, f" -> ALERT {summary['alert_id']}" if result.drift else "")

    def _advance(self, watch: _Watch, state: ModelState, window: Window, summary: dict) -> None:
        state.cursor = window.end
        state.window_index += 1
        state.version = summary["model_version"]
        state.last_window = summary
        self.states.save(state)
        crashpoints.reached("state_saved")
        self.status.update(watch.model_uri, last_window=dict(summary))
