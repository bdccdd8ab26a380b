"""The study's best config becomes a served model: retrained, tested once, exported, logged.

``export.refit: train+validation`` (the default, like ``GridSearchCV(refit=True)``)
retrains the best config with the trial's seed on every non-test row (the training
and validation rows, standardized with their own statistics) for the epochs the
trial needed (its best epoch), without early stopping: nothing is held out any more.
``export.refit: train`` retrains it on the trial's own split; training is deterministic
on CPU, so that is the trial's model. The card records which rows trained the model
and keeps the trial's own reproducible score. Only this model ever sees the test split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from search.engines import TrialRecord
from search.spec import Study
from spaces import TuneforgeError
from tracking import mlflow_log
from tracking.export import export_model
from tracking.registry import register_best


@dataclass
class BestModel:
    """Where the best model went and how it scored."""

    trial: TrialRecord
    directory: Path
    validation: dict[str, float]
    test: dict[str, float]
    registered_version: str | None = None


SELECTION_RULE = ("the best objective value among COMPLETE trials; ties broken by the lower validation "
                  "loss at the trial's best epoch, then by the earlier trial")
REFIT_NOTES = {
    "train+validation": "retrained on the training and validation rows (every non-test row), like "
                        "GridSearchCV(refit=True), for the trial's best epoch count, without early stopping; "
                        "trial_value is the trial's own reproducible score (its seed, on its split)",
    "train": "retrained on the trial's own training rows with its seed: the trial's model, reproduced",
}


def refit_plan(best: TrialRecord, dataset: Any, refit: str) -> tuple[dict[str, Any], Any, int]:
    """The config, the dataset and the number of rows the exported model trains on."""
    if refit == "train":
        return dict(best.config), dataset, len(dataset.splits[0].x_train)
    from search.data import Split

    config = dict(best.config)
    epoch = best.attrs.get("best_epoch")
    if isinstance(epoch, int):
        config["epochs"] = epoch + 1  # the epochs its trial needed; nothing left to stop early on
    config["patience"] = 0
    first = dataset.splits[0]
    mean, variance = dataset.pool_stats if dataset.pool_stats is not None else (None, None)
    pooled = Split(dataset.x_pool, dataset.y_pool, first.x_val, first.y_val, mean, variance)
    return config, replace(dataset, splits=(pooled,)), len(dataset.x_pool)


def export_dir_for(study: Study, override: str | None = None) -> Path:
    """``--export-dir``, else the study's ``export.dir``, else ``models/<name>`` (relative to the cwd)."""
    return Path(override or study.spec.export.dir or f"models/{study.name}").resolve()


def export_best(study: Study, best: TrialRecord, dataset: Any, *, train_seed: int, directory: Path,
                tracking: tuple[Any, str] | None = None) -> BestModel:
    """Retrain ``best``, evaluate it on validation and test, export it, log it to the parent run."""
    from tracking._target import check_export_target

    check_export_target(directory)  # before the retraining: a folder that is not ours is refused at once
    from search._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # only now: the run's own process needs TensorFlow for the export alone
    from search.training import evaluate, train_config

    refit = study.spec.export.refit
    config, data, rows = refit_plan(best, dataset, refit)
    result = train_config(config, data, model_kind=study.spec.model, metric=study.metric,
                          direction=study.direction, seed=train_seed, keep_model=True,
                          search_path=study.base_dir)
    if result.model is None:
        raise TuneforgeError(f"retraining the best trial #{best.number} failed: {result.error}")
    split = dataset.splits[0]
    # validation rows trained a train+validation refit: its scores there are no estimate of anything
    validation = evaluate(result.model, split.x_val, split.y_val) if refit == "train" else {}
    test = evaluate(result.model, dataset.x_test, dataset.y_test) if len(dataset.x_test) else {}
    info = dataset.info
    card = {
        "study": study.name,
        "trial": best.number,
        "config": best.config,
        "objective": {"metric": study.metric, "direction": study.direction, "trial_value": best.value,
                      "trial_val_loss": best.attrs.get("val_loss"),
                      "retrained_value": result.objective if refit == "train" else None},
        "selection": SELECTION_RULE,
        "refit": {"rows": refit, "n_rows": rows, "epochs": int(config.get("epochs", 0)) or None,
                  "note": REFIT_NOTES[refit]},
        "metrics": {"validation": validation, "test": test},
        "task": info.task,
        "input_shape": list(info.input_shape),
        "n_outputs": info.n_outputs,
        "class_names": list(info.class_names) if info.class_names else None,
        "inputs": "raw features (images scaled to [0, 1] and flattened; tables as-is, standardized inside "
                  "the model)",
        "dataset": {"name": info.name, "sha256": info.sha256, "source": info.source},
        "seeds": {"train": train_seed, "data": study.spec.data.seed},
        "n_params": result.n_params,
    }
    directory = export_model(result.model, directory, card=card)
    version = None
    if tracking is not None:
        client, run_id = tracking
        metrics = {f"best_val_{k}": v for k, v in validation.items()}
        metrics.update({f"test_{k}": v for k, v in test.items()})
        metrics["best_objective"] = float(best.value) if best.value is not None else float("nan")
        mlflow_log.log_metrics(client, run_id, metrics)
        client.set_tag(run_id, "best_trial", str(best.number))
        client.set_tag(run_id, "export_dir", str(directory))
        client.set_tag(run_id, "best_config", json.dumps(best.config)[:5000])
        client.log_artifact(run_id, str(directory / "model_card.json"))
        x_example = dataset.x_test if len(dataset.x_test) else split.x_val
        version = register_best(client, run_id, result.model, name=study.name, trial=best.number,
                                x_example=x_example,
                                tags={"objective": f"{study.metric}={best.value}", "metric": study.metric,
                                      "dataset_sha256": info.sha256, **{f"test_{k}": v for k, v in test.items()}})
        client.set_tag(run_id, "registered_version", version)
    return BestModel(best, directory, validation, test, version)
