"""The study's best config becomes a served model: retrained, tested once, exported, logged.

The best config is retrained with the trial's seed on the trial's split; training
is deterministic on CPU, so this is the trial's model (the card records both the
trial's objective and the retrained one). Only this model ever sees the test split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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

    result = train_config(best.config, dataset, model_kind=study.spec.model, metric=study.metric,
                          direction=study.direction, seed=train_seed, keep_model=True,
                          search_path=study.base_dir)
    if result.model is None:
        raise TuneforgeError(f"retraining the best trial #{best.number} failed: {result.error}")
    split = dataset.splits[0]
    validation = evaluate(result.model, split.x_val, split.y_val)
    test = evaluate(result.model, dataset.x_test, dataset.y_test) if len(dataset.x_test) else {}
    info = dataset.info
    card = {
        "study": study.name,
        "trial": best.number,
        "config": best.config,
        "objective": {"metric": study.metric, "direction": study.direction, "trial_value": best.value,
                      "retrained_value": result.objective},
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
