"""`mlflow run . -e evaluate -P models=all` / `factory evaluate --models lightgbm,tcn`: the CPCV leaderboard.

Steps (configuration and data fail before MLflow is touched):

1. resolve each model's settings (:func:`factory.train_config.load_train_config`; an unknown key lists the
   known ones) and the shared pipeline settings, with barrier tuning off (see
   :mod:`factory.evaluation.leaderboard`);
2. build the dataset once (``load_bars`` + ``build_dataset``);
3. :func:`factory.evaluation.leaderboard.evaluate_models`: every model on the same CPCV splits, through one
   executor (processes when ``workers`` > 1); with ``tuning_trials``, once per candidate of the barrier search,
   each candidate with its own dataset (:mod:`factory.evaluation.trials`);
4. one parent run ``evaluate-<contract>`` with the leaderboard (CSV, Markdown, HTML) and plots, one nested child
   run per model (metrics, per-regime table, per-path Sharpe, calibration and confusion plots; a failed model's
   child run holds its error and ends FAILED);
5. PBO and DSR written on the registered versions trained on the same data
   (:func:`factory.packaging.registry.write_overfitting_tags`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class EvaluateResult:
    run_id: str
    table: pd.DataFrame
    child_run_ids: dict[str, str]
    tagged_versions: dict[str, str]  # key -> registered version that received pbo / dsr
    pbo_reason: str


def parse_models(models: str | list[str] | None) -> list[str]:
    """``"all"`` (every registered key), or a comma-separated list; unknown keys fail listing the known ones."""
    from factory.errors import ConfigError
    from factory.models import get_model_class, list_models

    if models is None or (isinstance(models, str) and models.strip().lower() in ("", "all")):
        return list_models()
    items = models.split(",") if isinstance(models, str) else list(models)
    keys = list(dict.fromkeys(k.strip() for k in items if k.strip()))
    if not keys:
        raise ConfigError("no model keys given: pass 'all' or a comma-separated list such as lightgbm,tcn")
    for k in keys:
        get_model_class(k)  # raises UnknownModelError naming the known keys
    return keys


def run_evaluate(models: str | list[str] | None = "all", data: str | None = None, contract: str | None = None,
                 config_file: str | None = None, tz: str | None = None, workers: int | None = None,
                 n_groups: int | None = None, n_test_groups: int | None = None, progress: bool = True,
                 executor=None, echo=print, controls: str | None = None,
                 profile: str | None = None, tuning_trials: int | None = None,
                 tuning_window: float | None = None) -> EvaluateResult:
    """Build the leaderboard and log it; see the module docstring.

    ``controls="shuffled"`` adds, for every model, a row ``<key>:shuffled``: the same model fitted on permuted
    labels (:data:`factory.evaluation.leaderboard.CONTROL_SUFFIX`). Controls count as trials in PBO and DSR
    and are never written on registered versions. ``profile``: the pipeline profile; None or ``auto`` chooses
    it from the bars (:mod:`factory.profiles`). ``tuning_trials``: judge the barrier search too: its candidates
    from the first ``tuning_window`` share of the bars, each through the same CPCV (:mod:`factory.evaluation.trials`).
    """
    from factory.dataset import build_dataset
    from factory.evaluation import leaderboard as lbm
    from factory.evaluation.executor import make_executor
    from factory.errors import ConfigError, FactoryError
    from factory.profiles import load_profiled_bars
    from factory.train_config import load_model_settings, load_train_config

    keys = parse_models(models)
    controls = (controls or "none").strip().lower()
    if controls not in ("none", "shuffled"):
        raise ConfigError(f"controls must be 'none' or 'shuffled', got {controls!r}")
    if tuning_trials is not None and int(tuning_trials) < 0:
        raise ConfigError(f"tuning_trials must be 0 (off) or a number of Optuna trials, got {tuning_trials}")
    from factory.evaluation import trials as trm

    window = trm.DEFAULT_WINDOW if tuning_window is None else float(tuning_window)
    trm.tuning_end_of(100, window)  # a bad window fails before any work

    failed = {}
    for k in keys:
        try:
            load_model_settings(k, config_file)
        except FactoryError as exc:  # one model's bad settings make its error row, not the others' failure
            failed[k] = exc
    if len(failed) == len(keys):
        raise next(iter(failed.values()))
    # The profile depends on the bars' interval, so the bars are read first (with the reading settings only).
    loaded, choice = load_profiled_bars(data, contract, config_file, tz, profile=profile)
    echo(choice.line())
    configs = {}
    for k in keys:
        if k not in failed:
            configs[k] = load_train_config(k, config_file, contract, tz, profile=choice)
    first = next(iter(configs.values()))
    pipeline = first.pipeline
    labels = pipeline.labels.model_copy(update={"tuning": pipeline.labels.tuning.model_copy(update={"enabled": False})})
    pipeline = pipeline.model_copy(update={"labels": labels})
    # With the barrier search judged, each candidate builds its own dataset (its labels).
    dataset = None if tuning_trials else build_dataset(loaded.bars, pipeline, progress=progress)
    groups = n_groups or lbm.DEFAULT_GROUPS
    tests = n_test_groups or lbm.DEFAULT_TEST_GROUPS
    settings = {k: tc.model.model_dump(mode="json") for k, tc in configs.items()}
    shown = f"{len(keys)} model(s)" + (" and their shuffled-label controls" if controls == "shuffled" else "")
    if controls == "shuffled":
        settings.update({k + lbm.CONTROL_SUFFIX: v for k, v in list(settings.items())})
        keys = [*keys, *(k + lbm.CONTROL_SUFFIX for k in keys if k in configs)]
    if dataset is not None:
        echo(f"dataset: {len(dataset.bars):,} bars, {len(dataset.sample_rows):,} samples; CPCV {groups} groups, "
             f"{tests} test groups; {shown}")
    else:
        echo(f"dataset: {len(loaded.bars):,} bars; CPCV {groups} groups, {tests} test groups; {shown}; every "
             f"candidate of the barrier search ({int(tuning_trials)} Optuna trials on the first {window:.0%} of the "
             "bars)")
    executor = executor or make_executor(workers, len(settings))
    if not tuning_trials:
        board = lbm.evaluate_models(dataset, settings, first.training, executor=executor, n_groups=groups,
                                    n_test_groups=tests, progress=progress, failed=failed)
        return _log(board, dataset, loaded, pipeline.contract, keys, echo, choice)
    trial_board, dataset = _evaluate_trials(loaded.bars, pipeline, first, settings, int(tuning_trials), window,
                                            executor, groups, tests, progress, failed, echo)
    return _log(trial_board.board, dataset, loaded, pipeline.contract, keys, echo, choice, trial_board)


def _evaluate_trials(bars, pipeline, first, settings, n_trials: int, window: float, executor, groups: int,
                     tests: int, progress: bool, failed: dict, echo):
    """Every candidate of the barrier search through the same CPCV; see :mod:`factory.evaluation.trials`."""
    from factory.dataset import build_dataset
    from factory.evaluation import leaderboard as lbm
    from factory.evaluation import trials as trm

    bars = bars.reset_index(drop=True)
    lc = pipeline.labels
    candidates, tuning_end = trm.propose(bars, lc, pipeline.contract, n_trials, window)
    chosen = trm.chosen_index(candidates)
    echo(f"barrier search: {len(candidates)} distinct candidate(s) from {n_trials} Optuna trial(s) on bars "
         f"[0, {tuning_end:,}); CPCV on samples from bar {tuning_end:,}")
    boards, chosen_dataset = [], None
    for i, t in enumerate(candidates):
        ds = build_dataset(bars, pipeline.model_copy(update={"labels": t.apply(lc)}), progress=False)
        echo(f"candidate {i + 1}/{len(candidates)}: k_up {t.k_up:g}, k_down {t.k_down:g}, horizon {t.horizon}, "
             f"tuning score {t.score:.4f}" + ("  (train's choice)" if i == chosen else ""))
        boards.append(lbm.evaluate_models(ds, settings, first.training, executor=executor, n_groups=groups,
                                          n_test_groups=tests, progress=progress, failed=failed,
                                          first_row=tuning_end))
        chosen_dataset = ds if i == chosen else chosen_dataset
    return trm.combine(candidates, boards, tuning_end), chosen_dataset


def _log(board, dataset, loaded, contract: str, keys: list[str], echo, choice=None, trials=None) -> EvaluateResult:
    import mlflow

    from factory.jobs.evaluate_log import log_artifacts, log_child, log_trials
    from factory.packaging.registry import write_overfitting_tags
    from factory.profiles import profile_params, profile_tags
    from factory.tracking import clean_params, job_run, log_bars_input

    table = board.table
    ok = table[table["error"] == ""]
    with job_run(contract, "evaluate", f"evaluate-{contract}") as parent:
        run_id = parent.info.run_id
        # Every model of the leaderboard is fitted and scored on CPCV splits of these bars.
        log_bars_input(dataset.bars, loaded.source, loaded.sha256, contract, context="training")
        mlflow.set_tags({"factory.entry_point": "evaluate", "factory.contract": contract,
                         "factory.data_sha256": loaded.sha256, "factory.models": ",".join(keys),
                         **(profile_tags(choice) if choice else {})})
        if board.pbo_reason:
            mlflow.set_tag("pbo_undefined", board.pbo_reason)
        logged = mlflow.get_run(run_id).data.params
        params = {"data.source": loaded.source, "data.sha256": loaded.sha256, "cpcv.n_groups": board.plan.n_groups,
                  "cpcv.n_test_groups": board.plan.n_test_groups, "cpcv.n_paths": board.plan.n_paths,
                  "split.purge_bars": dataset.config.split.purge_bars,
                  "split.embargo_bars": dataset.config.split.embargo_bars,
                  "labels.tuning": "off" if trials is None else "trials",
                  **(profile_params(choice) if choice else {})}
        if trials is not None:
            c = trials.trials[trials.chosen]
            params.update({"tuning.trials": len(trials.trials), "tuning.window_bars": trials.tuning_end,
                           "labels.k_up": c.k_up, "labels.k_down": c.k_down, "labels.horizon": c.horizon})
        mlflow.log_params({k: v for k, v in clean_params(params).items() if k not in logged})
        summary = {"n_models": float(len(keys)), "n_failed": float(len(board.errors)),
                   "n_paths": float(board.plan.n_paths)}
        if np.isfinite(board.pbo):
            summary["pbo"] = float(board.pbo)
        mlflow.log_metrics(summary)
        children = {k: log_child(board, k, run_id) for k in table["model"]}
        with tempfile.TemporaryDirectory() as tmp:
            log_artifacts(board, Path(tmp))
            if trials is not None:
                log_trials(trials, Path(tmp))
            mlflow.log_artifacts(tmp)
    from factory.evaluation.leaderboard import model_key

    # Controls are trials of the judge, not versions anyone trained: their numbers stay in the leaderboard.
    scores = {r.model: {"pbo": r.pbo, "dsr": r.dsr, **({"pbo_trials": r.pbo_trials} if trials is not None else {})}
              for r in ok.itertuples() if not model_key(r.model)[1]}
    written = write_overfitting_tags(contract, scores, loaded.sha256, run_id, len(ok))
    for key, version in written.items():
        echo(f"tagged {key} version {version} with pbo / dsr")
    return EvaluateResult(run_id, table, children, written, board.pbo_reason)
