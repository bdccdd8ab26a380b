"""benchmarks/ratios.py: its quick mode's building blocks give sane numbers (correctness only, no timing bars).

Real parts: TensorFlow matmul, Keras fits on digits, a real ``tuneforge run`` subprocess with its
journal storage and MLflow store, and the bare loop retraining that study's configs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from search.data import load_data

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n_layers": 1, "units": 32, "activation": "relu", "optimizer": "adam", "learning_rate": 1e-2, "patience": 0}


@pytest.fixture(scope="module")
def ratios():
    spec = importlib.util.spec_from_file_location("tuneforge_bench_ratios", ROOT / "benchmarks" / "ratios.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def test_machine_and_matmul_peak(ratios):
    info = ratios.machine()
    assert int(info["cores"]) >= 1 and info["tensorflow"] and info["keras"] and info["cpu"]
    assert len(info["load"].split()) == 3
    assert info["flags"] and info["flags"] == ratios.cpu_flags()
    assert ("avx512f" in info["flags"].split()) != info["flags"].endswith("(no AVX-512)")
    gflops = ratios.matmul_gflops(256, 3)
    assert math.isfinite(gflops) and gflops > 0


def test_trainer_and_plain_fit_learn_the_same_thing(ratios, digits):
    """Both sides of the speed row train the same model and learn about as much (other loops, other shuffles)."""
    rows = ratios.trainer_vs_fit(digits, [64], (0,), 2, config=SMALL)
    (row,) = rows
    assert row.batch == 64 and len(row.trainer) == len(row.plain) == 1
    trainer, plain = row.trainer[0], row.plain[0]
    for sample in (trainer, plain):
        assert sample.samples_per_s > 0 and sample.first_epoch_s > 0
        assert 0.5 < sample.val_accuracy <= 1.0  # 2 epochs on digits learn something
    assert trainer.n_params == plain.n_params == 64 * 32 + 32 + 32 * 10 + 10
    assert trainer.val_accuracy == pytest.approx(plain.val_accuracy, abs=0.05)
    assert row.accuracy_gap_points() == pytest.approx(100 * (trainer.val_accuracy - plain.val_accuracy))
    assert row.ratio() == pytest.approx(trainer.samples_per_s / plain.samples_per_s)
    # plain fit on the trainer's own batches (same initial weights, same rows in the same order): the same result
    (same_batches,) = row.same_batches
    assert same_batches == pytest.approx(trainer.val_accuracy, abs=0.005)
    rate, params = ratios.training_samples_per_s(digits, 64, 2, config=SMALL)
    assert rate > 0 and params == trainer.n_params
    with pytest.raises(ValueError, match="at least 2 epochs"):
        ratios._per_epoch(0.0, [1.0], 10)


def test_tuned_fit_is_fit_with_32_steps_per_call_and_xla_and_learns_as_much(ratios, digits):
    (row,) = ratios.trainer_vs_fit(digits, [64], (1,), 2, config=SMALL, same_batches=False, tuned=(64,))
    assert len(row.trainer) == len(row.plain) == len(row.tuned) == 1
    tuned = row.tuned[0]
    assert tuned.samples_per_s > 0 and tuned.n_params == row.trainer[0].n_params
    assert tuned.val_accuracy == pytest.approx(row.plain[0].val_accuracy, abs=0.05)
    assert row.ratio("tuned") == pytest.approx(row.trainer[0].samples_per_s / tuned.samples_per_s)
    model = ratios._plain_model(digits, {**SMALL, "batch_size": 64, "epochs": 1}, 0, **ratios.TUNED_FIT)
    assert model.steps_per_execution == 32 and model.jit_compile is True


def test_study_and_bare_loops_train_the_same_configs(ratios, tmp_path, capsys):
    study = ratios.digits_study(2, 1, epochs=2)
    assert study["search"]["trials"] == 2 and study["fixed"]["epochs"] == 2
    run = ratios.run_study(study, tmp_path / "study")
    assert run.seconds > 0 and len(run.trials) == 2
    assert {t["number"] for t in run.trials} == {0, 1}
    assert all(t["end"] >= t["start"] for t in run.trials) and run.busy_seconds > 0
    assert all(1 <= t["epochs"] <= 2 for t in run.trials)
    path = run.folder / f"{study['name']}.yaml"
    job = tmp_path / "job.json"
    objectives = {}
    for mode in ("trainer", "fit"):
        job.write_text(json.dumps({"study": str(path), "seed": study["search"]["seed"], "mode": mode,
                                   "configs": [t["config"] for t in run.trials]}))
        ratios._bare_loop_main(str(job))  # in-process here (the benchmark runs it in a fresh process)
        objectives[mode] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for trial, trainer, fit in zip(run.trials, objectives["trainer"], objectives["fit"], strict=True):
        assert 0 < fit <= 1
        if trial["state"] == "COMPLETE":  # same config, data and seed: the study's result again
            assert trainer == pytest.approx(trial["value"], abs=0.01)
            assert fit == pytest.approx(trainer, abs=0.05)  # Keras fit: the same config, its own loop
    job.write_text(json.dumps({"study": str(path), "seed": study["search"]["seed"], "mode": "fit",
                               "configs": [run.trials[0]["config"]], "refit": run.trials[0]["config"]}))
    ratios._bare_loop_main(str(job))  # the short-study row's baseline: the configs, then the export's refit
    first, refit = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert refit == pytest.approx(first, abs=1e-6)  # the same config, data and seed trained once more


def test_grid_study_gives_both_worker_counts_the_same_configs(ratios):
    one, two = ratios.grid_study(3, [16, 32], [3e-3, 1e-2], 1), ratios.grid_study(3, [16, 32], [3e-3, 1e-2], 2)
    assert one["space"] == two["space"] and one["search"]["trials"] == 4
    assert (one["search"]["workers"], two["search"]["workers"]) == (1, 2)
    import spaces
    from search.spec import study_from_dict

    for doc in (one, two):
        study = study_from_dict(doc, source="<bench>")
        assert spaces.grid_size(study.space) == 4


@pytest.fixture(scope="module")
def time_to_target():
    spec = importlib.util.spec_from_file_location("tuneforge_bench_ttt", ROOT / "benchmarks" / "time_to_target.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_time_to_target_figures_come_from_the_finished_trials(time_to_target):
    side = time_to_target.Side(100.0, [(10.0, "PRUNED", None), (20.0, "COMPLETE", 0.91), (30.0, "COMPLETE", 0.97),
                                       (50.0, "COMPLETE", 0.99), (60.0, "FAIL", None)])
    assert side.time_to(0.97) == 30.0 and side.time_to(0.995) is None
    # Keras's float32 accuracy: 760 of 800 rows right is 0.95, stored as 0.949999988079071
    assert time_to_target.Side(9.0, [(5.0, "COMPLETE", float(np.float32(760 / 800)))]).time_to(0.95) == 5.0
    assert time_to_target.Side(9.0, [(5.0, "COMPLETE", float(np.float32(759 / 800)))]).time_to(0.95) is None
    assert side.best_by(25.0) == 0.91 and side.best_by(100.0) == 0.99 and side.best_by(5.0) is None
    assert side.per_hour() == pytest.approx(5 / 100 * 3600)
    early = side.within(40.0)  # equal wall time: only what finished in the first 40 s counts
    assert early.seconds == 40.0 and early.time_to(0.99) is None and early.time_to(0.97) == 30.0
    assert early.per_hour() == pytest.approx(3 / 40 * 3600) and side.within(None) is side
    assert time_to_target.study_for("digits", 3, 50, 1, seconds=60.0)["search"]["timeout"] == "60.0s"


def test_a_side_that_never_reached_the_target_ranks_after_every_time(time_to_target):
    median, ratio = time_to_target.censored_median, time_to_target.seed_ratio
    assert median([6.4, None, 11.3]) == 11.3 and median([None, 14.2, 10.4]) == 14.2
    assert median([None, None, 3.0]) is None and median([2.0, 4.0]) == 3.0
    assert ratio(6.4, None) == 0.0 and ratio(None, 2.0) == float("inf") and ratio(None, None) is None
    assert ratio(6.9, 13.8) == 0.5
    # seeds both sides reached alone would give 0.5 and 1.1 (median 0.8); the seed only tuneforge reached counts
    assert median([r for r in (ratio(6.4, None), ratio(6.9, 13.8), ratio(11.0, 10.0)) if r is not None]) == 0.5


def test_the_hand_written_script_searches_the_same_study_and_logs_every_trial_to_mlflow(time_to_target, tmp_path):
    pytest.importorskip("optuna_integration")
    import mlflow

    assert "first_trial" not in time_to_target.study_for("digits", 3, 2, 1)["search"]  # the study file's default
    assert time_to_target.study_for("digits", 3, 2, 1, "sampled")["search"]["first_trial"] == "sampled"
    study = time_to_target.study_for("digits", 3, 2, 1)
    assert study["search"]["workers"] == 1 and study["search"]["pruner"] == "median" and "export" not in study
    hand = time_to_target.run_hand(study, tmp_path / "hand")
    assert [state for _, state, _ in hand.trials] == ["COMPLETE", "COMPLETE"]
    assert all(0.0 <= value <= 1.0 for _, _, value in hand.trials)  # 1 epoch: maybe no better than chance
    assert 0 < hand.trials[0][0] <= hand.trials[1][0] <= hand.seconds
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'hand' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(study["name"])
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.metrics["val_accuracy"] for r in runs) == sorted(v for _, _, v in hand.trials)
