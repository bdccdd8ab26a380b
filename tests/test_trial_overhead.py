"""Work moved off a trial's critical path still happens, in order: the worker's background lane,
and per-trial artifacts logged before the run ends (failures as ``artifacts_error``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from spaces.core import resolve_storage_url
from search.driver import dataset_for, prepare_run
from search.spec import load_study
from spaces.core import TrialState
from tracking._background import Background
from search.workers._worker import work
from tests._mlflow import study_runs
from tests._studies import write_study
from spaces.core import resolve_tracking_uri
from tracking.plots import _trial

pytestmark = pytest.mark.slow


def test_background_lane_keeps_order_bounds_the_queue_and_reraises_once():
    lane = Background(max_pending=2)
    done: list[int] = []
    gate = threading.Event()

    def job(i: int):
        def run():
            if i == 0:
                gate.wait(5)
            done.append(i)
        return run

    lane.submit(job(0))
    lane.submit(job(1))  # two outstanding: allowed
    assert done == []
    gate.set()
    lane.submit(job(2))  # waits for job 0 first
    assert done[:1] == [0]
    lane.drain()
    assert done == [0, 1, 2]

    def broken():
        raise ConnectionError("tracking store went away")

    lane.submit(broken)
    with pytest.raises(ConnectionError, match="went away"):
        lane.drain()
    lane.submit(job(3))  # raised once, not forever; later jobs still run
    lane.drain()
    assert done == [0, 1, 2, 3]


def test_trial_artifacts_are_logged_in_the_background_before_each_run_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    threads: dict[str, str] = {}
    real_write = _trial.write_trial_artifacts

    def spying_write(out_dir, **kwargs):  # where the plots are drawn; trial 1's plotting fails
        threads[kwargs["title"]] = threading.current_thread().name
        if kwargs["title"].endswith("trial 1"):
            raise RuntimeError("no space left for plots")
        return real_write(out_dir, **kwargs)

    monkeypatch.setattr(_trial, "write_trial_artifacts", spying_write)
    path = write_study(tmp_path, "overhead", fixed={"epochs": 2}, search={"trials": 2, "algorithm": "random"})
    study = load_study(path)
    plan = prepare_run(study, storage_url=resolve_storage_url(None), tracking_uri=resolve_tracking_uri(None),
                       trials=None, timeout=None, seed=None, workers=1, data_sha256=dataset_for(study).info.sha256)
    assert work(plan, "test-worker", 0) == 2  # returns only once the lane is drained

    assert set(threads.values()) == {"tuneforge-background_0"}, threads  # off the training thread
    runs = study_runs(resolve_tracking_uri(None), "overhead")
    assert set(runs.trials) == {0, 1}
    for number, run in runs.trials.items():
        assert run.info.status == "FINISHED" and run.data.tags["state"] == TrialState.COMPLETE.value
        assert "objective" in run.data.metrics
        names = {a.path for a in runs.client.list_artifacts(run.info.run_id)}
        if number == 1:
            assert run.data.tags["artifacts_error"] == "RuntimeError: no space left for plots"
            assert names == set()
            continue
        assert "artifacts_error" not in run.data.tags
        assert {"learning_curve.png", "confusion_matrix.png", "model_summary.txt", "config.json"} <= names
        folder = Path(unquote(urlparse(run.info.artifact_uri).path))
        last_write = max(p.stat().st_mtime for p in folder.iterdir())
        assert last_write <= run.info.end_time / 1000 + 0.01  # logged before the run was ended


def test_a_worker_waits_for_its_plan_on_stdin_and_exits_quietly_without_one():
    """Workers start before the plan exists (their TensorFlow import overlaps the study's preparation)."""
    import io
    import os
    import subprocess
    import sys

    from search.driver import RunPlan
    from search.workers._worker import read_plan

    plan = RunPlan("s", "journal:/x.journal", "sqlite:///x.db", "1", "abc", 3, None, 7, 7, 2)
    message = plan.message({"TUNEFORGE_TEST_ENV": "from-the-plan"})
    try:
        assert read_plan(io.StringIO(message)) == plan
        assert os.environ["TUNEFORGE_TEST_ENV"] == "from-the-plan"  # Keras Tuner's oracle address comes this way
    finally:
        os.environ.pop("TUNEFORGE_TEST_ENV", None)
    assert read_plan(io.StringIO("")) is None
    proc = subprocess.run([sys.executable, "-m", "search.workers", "w-test", "0"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "error" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_worker_freezes_its_import_time_objects_so_each_trials_collection_skips_them():
    """Keras's clear_session() runs a full gc.collect() per model: frozen imports make it cheap."""
    import subprocess
    import sys

    code = ("import gc; from search.workers._worker import preload; preload(); "
            "from search.data import load_data; from search.training import train_config; "
            "ds = load_data('digits', validation=0.2, test=0.2); "
            "r = train_config({'n_layers': 1, 'units': 16, 'epochs': 2, 'batch_size': 64, 'patience': 0}, ds); "
            "print(gc.get_freeze_count(), len(gc.get_objects()), r.state.name)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    frozen, tracked, state = proc.stdout.split()[-3:]
    assert state == "COMPLETE"
    assert int(frozen) > 100_000 and int(tracked) < int(frozen) // 10  # what a collection still walks
