"""The `factory` console script. Thin: parse arguments, call the library, turn user errors into one line.

Any :class:`~factory.errors.FactoryError` (bad data, bad config, a leaking split) prints ``error: ...`` on one
line and exits with code 2; no traceback reaches the user for a problem they can fix. Under ``mlflow run`` (which
creates the run before this process starts) the failure is also recorded on that run: an ``error`` tag and an
``error.txt`` artifact (:func:`factory.tracking.record_failure`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from factory.errors import FactoryError

EXIT_USER_ERROR = 2


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from factory.data.io import validate_file
    from factory.data.loading import data_calendar
    from factory.dataset import pipeline_min_bars

    # The checks of a pipeline run: the contract's exchange calendar (halts and weekends are not gaps) and the
    # pipeline's minimum length, unless switched off.
    config = _validate_config(args)
    calendar = None if args.no_calendar else data_calendar(config)
    min_bars = pipeline_min_bars(config) if args.min_bars is None else args.min_bars
    issues = validate_file(args.file, tz=config.data.tz, min_bars=min_bars, gap_factor=config.data.gap_factor,
                           calendar=calendar)
    errors = [i for i in issues if i.severity == "error"]
    for issue in issues:
        print(f"{issue.severity}: {issue.one_line()}", file=sys.stderr if issue.severity == "error" else sys.stdout)
    if errors:
        print(f"{args.file}: {len(errors)} error(s), {len(issues) - len(errors)} warning(s)", file=sys.stderr)
        if any(i.check == "min_bars" for i in errors) and args.min_bars is None:
            print("(the minimum is what the default pipeline needs for its splits; --min-bars 0 skips the check)",
                  file=sys.stderr)
        return EXIT_USER_ERROR
    where = "without a calendar" if calendar is None else f"with the {config.contract} calendar ({calendar.name})"
    print(f"{args.file}: OK ({len(issues)} warning(s); checked {where}, at least {min_bars:,} bars)")
    return 0


def _validate_config(args: argparse.Namespace):
    """The pipeline config on the profile the file's bar interval chooses (its minimum length is the check); a
    file that cannot be read gets the defaults here and its problems reported by the validation itself."""
    import logging

    from factory.config import resolve_config
    from factory.errors import DataValidationError
    from factory.profiles import load_profiled_bars

    if args.min_bars is not None:  # the profile only sizes the minimum length
        return resolve_config(args.contract, args.config, args.tz)
    reader = logging.getLogger("factory.data")
    level = reader.level
    reader.setLevel(logging.ERROR)  # the validation below reports the file's warnings once
    try:
        _, choice = load_profiled_bars(args.file, args.contract, args.config, args.tz, profile=args.profile)
    except DataValidationError:
        return resolve_config(args.contract, args.config, args.tz)
    finally:
        reader.setLevel(level)
    print(choice.line())
    return resolve_config(args.contract, args.config, args.tz, profile=choice)


def _cmd_data_synth(args: argparse.Namespace) -> int:
    from factory.data.synth import synth_to_file

    synth_to_file(args.out, n_bars=args.bars, seed=args.seed, contract=args.contract, edge=args.edge)
    what = {"none": "", "planted": " with a planted edge", "null": " with the planted edge's null twin"}[args.edge]
    print(f"wrote {args.bars} synthetic {args.contract} 1-minute bars{what} (seed {args.seed}) to {args.out}")
    return 0


def _cmd_data_resample(args: argparse.Namespace) -> int:
    from factory.contracts import get_contract
    from factory.data.io import read_bars, read_ticks, write_bars
    from factory.data.resample import dollar_bars, resample_bars, resample_ticks, volume_bars
    from factory.data.sessions import get_calendar

    cal = get_calendar(get_contract(args.contract).session) if args.session else None
    src = read_ticks(args.file, tz=args.tz) if args.ticks else read_bars(args.file, tz=args.tz)
    if args.kind == "time":
        out = resample_ticks(src, args.freq, calendar=cal) if args.ticks else resample_bars(src, args.freq, calendar=cal)
    elif args.kind == "volume":
        out = volume_bars(src, float(args.threshold))
    else:
        out = dollar_bars(src, float(args.threshold))
    write_bars(out, args.out)
    print(f"wrote {len(out)} bars to {args.out}")
    return 0


def _cmd_pipeline(args: argparse.Namespace) -> int:
    from factory.jobs.pipeline import run_pipeline

    run_id, dataset = run_pipeline(data=args.data or None, contract=args.contract, config_file=args.config or None,
                                   tz=args.tz or None, progress=not args.quiet, profile=args.profile)
    s = dataset.summary()
    print(f"run_id: {run_id}")
    print(f"bars: {int(s['n_bars']):,}  features: {int(s['n_features'])}  samples: train {int(s['n_train']):,} / "
          f"val {int(s['n_val']):,} / test {int(s['n_test']):,}")
    b = dataset.barriers
    print(f"barriers: k_up={b['k_up']:.3g} k_down={b['k_down']:.3g} horizon={int(b['horizon'])} bars")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import os

    from factory.jobs.train import run_train

    # Model logging downloads a handful of small files; their progress bars only clutter the log.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    result = run_train(args.model, data=args.data or None, contract=args.contract, config_file=args.config or None,
                       tz=args.tz or None, registered_name=args.registered_name or None, progress=not args.quiet,
                       profile=args.profile)
    m = {k: result.metrics.get(f"test_{k}", float("nan")) for k in (
        "log_loss", "accuracy", "net_sharpe", "n_trades", "win_rate", "max_drawdown_usd")}
    print(f"test: log loss {m['log_loss']:.4f}  accuracy {m['accuracy']:.3f}  net Sharpe {m['net_sharpe']:.2f}  "
          f"trades {m['n_trades']:.0f}  win rate {m['win_rate']:.1%}  max drawdown {m['max_drawdown_usd']:,.2f} USD")
    print(f"run_id: {result.run_id}")
    print(f"model_uri: {result.model_uri}")
    print(f"serve: {result.serve_command}")
    print(f"  (or: {result.mlflow_serve_command})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if args.model_uri:
        # One registered version on a file: a separate job (imported only when asked for).
        from factory.jobs.evaluate_version import run_evaluate_version

        run_evaluate_version(model_uri=args.model_uri, data=args.data or None, contract=args.contract,
                             config_file=args.config or None, tz=args.tz or None)
        return 0
    from factory.jobs.evaluate import run_evaluate

    result = run_evaluate(args.models, data=args.data or None, contract=args.contract,
                          config_file=args.config or None, tz=args.tz or None, workers=args.workers,
                          n_groups=args.groups, n_test_groups=args.test_groups, progress=not args.quiet,
                          controls=args.controls, profile=args.profile, tuning_trials=args.tuning_trials,
                          tuning_window=args.tuning_window)
    cols = ["model", "net_sharpe_mean", "net_sharpe_std", "win_rate", "n_trades", "pbo", "dsr",
            *(["pbo_trials", "n_trials"] if "pbo_trials" in result.table else []), "error"]
    print(result.table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if result.pbo_reason:
        print(f"pbo: {result.pbo_reason}")
    print(f"run_id: {result.run_id}")
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from factory.jobs.promote import promote

    result = promote(args.name, args.version, alias=args.alias, config_file=args.config or None)
    print(result.summary())
    return 0


def _cmd_models_list(args: argparse.Namespace) -> int:
    from factory.models.cli_table import format_model_table

    print(format_model_table())
    return 0


def _cmd_monitor(args: argparse.Namespace) -> int:
    import logging
    import os
    import signal
    import threading

    # Fail fast on an unreachable tracking server (MLflow's own retries last minutes): the daemon keeps its place
    # and retries with its own backoff instead.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from monitoring.config import load_monitor_config
    from monitoring.daemon import DriftMonitor, MonitorError

    config = load_monitor_config(args.config or None, {
        "poll_interval_s": args.poll_interval, "settle_s": args.settle,
        "window": {"rows": args.window_rows, "time": args.window_time},
        "drift": {"share_threshold": args.threshold, "column_threshold": args.column_threshold},
        "jsonl": args.jsonl, "state_dir": args.state_dir, "report_dir": args.report_dir, "reports": args.reports,
        "webhook": {"url": args.webhook},
    })
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("monitoring").setLevel(logging.WARNING if args.quiet else logging.INFO)
    monitor = DriftMonitor(config, args.model_uri, args.log_dir)
    server = None
    if args.status_port is not None:
        from monitoring.status_app import StatusServer

        server = StatusServer(monitor.status, monitor.alerts, args.status_port).start()
        print(f"status: http://127.0.0.1:{server.port}/status", flush=True)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C / SIGTERM finish the window in progress (its alert and position stay consistent), then exit.
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        ok = monitor.run(once=args.once, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.stop()
    if args.once:
        for m in monitor.status.snapshot()["models"]:
            print(f"{m['model_uri']}: version {m['version']}, {m['windows']} window(s), {m['alerts']} new alert(s), "
                  f"{m['skipped_windows']} skipped, {m['pending_rows']} row(s) waiting for a complete window")
        if not ok:
            errors = [m["last_error"] for m in monitor.status.snapshot()["models"] if m["last_error"]]
            raise MonitorError(errors[-1] if errors else "the cycle did not complete")
        if monitor.undelivered:
            print(f"warning: {monitor.undelivered} alert(s) not delivered to the webhook; they stay queued in "
                  f"{monitor.webhook.queue.folder} and are posted at the next start", file=sys.stderr)
            return 3
    return 0


def _add_profile(p: argparse.ArgumentParser) -> None:
    from factory.profiles import AUTO, profile_names

    p.add_argument("--profile", default=None, choices=[*profile_names(), AUTO],
                   help="pipeline profile sized for a bar interval (mlproject/profiles/); default: the config "
                        "file's `profile:`, else auto (nearest to the data's median bar interval)")


def _cmd_serve(args: argparse.Namespace) -> int:
    from serving.front_cli import ServeOptions, serve

    serve(ServeOptions(model_uri=args.model_uri, host=args.host, port=args.port, workers=args.workers,
                       timeout=args.timeout, max_body_mb=args.max_body_mb, max_json_depth=args.max_json_depth))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factory", description="Leakage-safe ML factory for futures OHLCV bars.")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="read, validate, generate and resample bars").add_subparsers(
        dest="data_command", required=True)
    p = data.add_parser("validate", help="report every problem of a bars file at once")
    p.add_argument("file")
    p.add_argument("--tz", default=None, help="time zone of naive timestamps (naive ones are rejected without it)")
    p.add_argument("--contract", default=None, help="contract whose session calendar and settings apply "
                                                     "(default: the pipeline's, MES)")
    p.add_argument("--config", default=None, help="pipeline config file (as for `factory pipeline`)")
    p.add_argument("--no-calendar", action="store_true",
                   help="check gaps against the median bar interval only, not the exchange's halts and weekends")
    p.add_argument("--min-bars", type=int, default=None,
                   help="fewest bars accepted (default: what the pipeline needs for its splits; 0 to skip)")
    _add_profile(p)
    p.set_defaults(func=_cmd_data_validate)

    p = data.add_parser("synth", help="generate synthetic MES-like 1-minute bars (the embedded default data)")
    p.add_argument("--bars", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--contract", default="MES")
    p.add_argument("--out", required=True, help="output .csv or .parquet")
    p.add_argument("--edge", choices=["none", "planted", "null"], default="none",
                   help="planted: visible events followed by a drift that pays MES costs (a known answer, "
                        "judged with examples/known_answer.yaml); null: the same events announcing nothing")
    p.set_defaults(func=_cmd_data_synth)

    p = data.add_parser("resample", help="resample ticks or bars to time, volume or dollar bars")
    p.add_argument("file")
    p.add_argument("--out", required=True)
    p.add_argument("--kind", choices=("time", "volume", "dollar"), default="time")
    p.add_argument("--freq", default="5min", help="pandas frequency for time bars")
    p.add_argument("--threshold", default=None, help="volume or dollar value per bar")
    p.add_argument("--ticks", action="store_true", help="the input holds ticks (timestamp, price, volume)")
    p.add_argument("--tz", default=None)
    p.add_argument("--contract", default="MES")
    p.add_argument("--no-session", dest="session", action="store_false",
                   help="ignore the exchange calendar (by default no bar spans or sits in a halt)")
    p.set_defaults(func=_cmd_data_resample)

    models = sub.add_parser("models", help="registered models").add_subparsers(dest="models_command", required=True)
    p = models.add_parser("list", help="keys, families and input kinds of every registered model")
    p.set_defaults(func=_cmd_models_list)

    p = sub.add_parser("pipeline", help="build the leakage-safe dataset and log it to MLflow")
    p.add_argument("--data", default=None, help="bars file (CSV/Parquet); default: the embedded synthetic sample")
    p.add_argument("--contract", default="MES")
    p.add_argument("--config", default=None, help="YAML file of overrides of mlproject/pipeline.yaml")
    p.add_argument("--tz", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_profile(p)
    p.set_defaults(func=_cmd_pipeline)

    p = sub.add_parser("train", help="train one model, log it as an MLflow pyfunc and register it")
    p.add_argument("--model", required=True, help="registry key (see `factory models list`)")
    p.add_argument("--data", default=None, help="bars file (CSV/Parquet); default: the embedded synthetic sample")
    p.add_argument("--contract", default="MES")
    p.add_argument("--config", default=None,
                   help="YAML with pipeline:, model:, models: and training: sections (or flat pipeline overrides)")
    p.add_argument("--tz", default=None)
    p.add_argument("--registered-name", default=None, help="registry name; default <contract>-<model>, lower case")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_profile(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="CPCV leaderboard of several models on one dataset (or one registered "
                       "version on a file)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--models", default="all", help="'all' or comma-separated registry keys, e.g. lightgbm,tcn")
    which.add_argument("--model-uri", default=None, help="evaluate one registered version, e.g. "
                       "models:/mes-lightgbm@champion")
    p.add_argument("--data", default=None, help="bars file (CSV/Parquet); default: the embedded synthetic sample")
    p.add_argument("--contract", default="MES")
    p.add_argument("--config", default=None, help="YAML with pipeline:, models: and training: sections")
    p.add_argument("--tz", default=None)
    p.add_argument("--workers", type=int, default=None, help="model processes; default min(cores, models)")
    p.add_argument("--groups", type=int, default=None, help="CPCV groups (default 6)")
    p.add_argument("--test-groups", type=int, default=None, help="CPCV test groups per split (default 2)")
    p.add_argument("--controls", choices=["none", "shuffled"], default="none",
                   help="shuffled: add each model fitted on permuted labels as a null trial (<key>:shuffled)")
    p.add_argument("--tuning-trials", type=int, default=None,
                   help="judge the barrier search too: run N Optuna trials on the first --tuning-window of the bars "
                        "and put every model through the CPCV under each distinct candidate (PBO across them as "
                        "pbo_trials; N times the work)")
    p.add_argument("--tuning-window", type=float, default=None,
                   help="share of the bars, from the start, that proposes the barrier candidates and is never "
                        "fitted or tested (default 0.25)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_profile(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("promote", help="move an alias (champion/challenger) to a model version, if it passes the gates")
    p.add_argument("--name", required=True, help="registered model name, e.g. mes-lightgbm")
    p.add_argument("--version", required=True, help="version number to promote")
    p.add_argument("--alias", default="champion", help="champion (stage Production) or challenger (Staging)")
    p.add_argument("--config", default=None, help="YAML with a promotion: section overriding mlproject/promotion.yaml")
    p.set_defaults(func=_cmd_promote)
    p = sub.add_parser("monitor", help="drift daemon: compare served inputs with the model's reference sample")
    p.add_argument("--model-uri", action="append", required=True,
                   help="registry URI to watch, e.g. models:/mes-lightgbm@champion (repeat for several models)")
    p.add_argument("--log-dir", required=True, help="inference log root (the FACTORY_INFERENCE_LOG of the server)")
    p.add_argument("--config", default=None, help="YAML overriding mlproject/monitoring.yaml")
    p.add_argument("--poll-interval", type=float, default=None, help="seconds between cycles")
    p.add_argument("--settle", type=float, default=None, help="seconds a log file must age before it is read")
    window = p.add_mutually_exclusive_group()
    window.add_argument("--window-rows", type=int, default=None, help="window = this many consecutive rows")
    window.add_argument("--window-time", default=None, help="window = rows received in one interval (1h, 1d)")
    p.add_argument("--threshold", type=float, default=None, help="alert when the drifted-column share exceeds this")
    p.add_argument("--column-threshold", type=float, default=None, help="per-column drift score threshold")
    p.add_argument("--jsonl", default=None, help="alerts file (JSON lines)")
    p.add_argument("--webhook", default=None, help="URL that receives each alert as a JSON POST")
    p.add_argument("--state-dir", default=None, help="where the daemon keeps its position")
    p.add_argument("--report-dir", default=None, help="where Evidently HTML reports are written")
    p.add_argument("--reports", choices=("all", "drift", "none"), default=None, help="which windows get a report")
    p.add_argument("--status-port", type=int, default=None, help="serve /health /status /alerts /metrics on "
                   "127.0.0.1:PORT")
    p.add_argument("--once", action="store_true", help="process the complete windows available now, deliver the "
                   "queued webhook alerts (up to webhook.drain_timeout_s), then exit; exit code 3 when some stay "
                   "queued")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    p.set_defaults(func=_cmd_monitor)

    # -h is the host, as in `mlflow models serve`; --help stays.
    p = sub.add_parser("serve", add_help=False, help="serve a model: MLflow's scoring app behind request limits "
                       "and clean 400s (127.0.0.1 by default)")
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("-m", "--model-uri", required=True, help="models:/name@alias, models:/name/version, runs:/...")
    p.add_argument("-h", "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("-p", "--port", type=int, default=5000)
    p.add_argument("-w", "--workers", type=int, default=0, help="uvicorn workers (default: cores, at most 4)")
    p.add_argument("-t", "--timeout", type=int, default=60, help="seconds a request may take (default 60)")
    p.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body (default 32 MB)")
    p.add_argument("--max-json-depth", type=int, default=32, help="deepest JSON nesting accepted (default 32)")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "kind", None) in ("volume", "dollar") and args.threshold is None:
        parser.error("--threshold is required for volume and dollar bars")
    from factory.tracking import record_failure

    try:
        return int(args.func(args) or 0)
    except FactoryError as exc:  # DataValidationError included
        print(f"error: {exc}", file=sys.stderr)
        # Under `mlflow run` the run was created before this process started: it says why it failed.
        record_failure(str(exc))
        return EXIT_USER_ERROR
    except Exception as exc:
        import traceback

        # A bug, not a user error: the traceback stays visible, and the run keeps it too.
        record_failure(f"{type(exc).__name__}: {exc}", detail=traceback.format_exc())
        raise


if __name__ == "__main__":
    sys.exit(main())
