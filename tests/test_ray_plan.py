"""The Ray device plan and reachability rules: pure functions, simulated GPU lists, no Ray needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from search.executors._ray_plan import actor_gpu_env, plan_actors
from search.executors._ray_reach import ReachError
from search.executors._ray_reach import check_tracking_reachable, needs_storage_proxy
from spaces.core import Url
from search.workers import DeviceError, Gpu
from tests.conftest import ROOT

A100 = Gpu(0, "NVIDIA A100-SXM4-40GB", 40960)
T4 = Gpu(3, "Tesla T4", 15360)


@pytest.mark.parametrize(("k", "memory"), [(1, 40960), (2, 40960), (4, 40960), (3, 15360)])
def test_k_trials_per_gpu_ask_for_1_over_k_and_cap_memory_near_memory_over_k(k, memory):
    gpu = Gpu(0, "sim", memory)
    specs = plan_actors(cluster_gpus=2, trials_per_gpu=k)
    assert len(specs) == 2 * k, "one actor per GPU share by default"
    assert all(s.num_gpus == pytest.approx(1 / k) and s.num_cpus == 1 for s in specs)
    assert {s.env["TUNEFORGE_DEVICE"] for s in specs} == {"gpu"} and "CUDA_VISIBLE_DEVICES" not in specs[0].env
    cap = int(actor_gpu_env([gpu], k)["TUNEFORGE_GPU_MEMORY_MB"])
    assert memory / k * 0.8 <= cap < memory / k, f"cap {cap} MB should be about {memory / k:.0f} MB"
    assert cap * k <= memory * 0.9, "K capped actors leave the card's headroom free"


def test_the_cap_follows_the_gpu_ray_gave_the_actor():
    env = actor_gpu_env([T4], 2)
    assert env["TUNEFORGE_DEVICE"] == "gpu:3" and int(env["TUNEFORGE_GPU_MEMORY_MB"]) < T4.memory_mb // 2
    assert int(actor_gpu_env([A100], 2)["TUNEFORGE_GPU_MEMORY_MB"]) > int(env["TUNEFORGE_GPU_MEMORY_MB"])


def test_an_actor_without_a_visible_gpu_gets_no_cap():
    assert actor_gpu_env([], 2) == {}


def test_too_many_trials_per_gpu_is_refused():
    with pytest.raises(DeviceError, match="cannot hold 64 trials"):
        actor_gpu_env([Gpu(0, "small", 4096)], 64)


def test_explicit_workers_and_cpu_clusters():
    specs = plan_actors(cluster_gpus=1, trials_per_gpu=4, workers=3, cpus_per_actor=2)
    assert [s.num_gpus for s in specs] == [0.25] * 3 and all(s.num_cpus == 2 for s in specs)
    assert specs[0].env["TF_NUM_INTRAOP_THREADS"] == "2"
    cpu = plan_actors(cluster_gpus=0, workers=2)
    assert [s.num_gpus for s in cpu] == [0.0, 0.0] and cpu[1].env["CUDA_VISIBLE_DEVICES"] == "-1"
    assert plan_actors(cluster_gpus=8, use_gpus=False)[0].num_gpus == 0.0, "--gpus none keeps actors off GPUs"
    assert len(plan_actors(cluster_gpus=0)) == 1
    with pytest.raises(DeviceError, match="trials_per_gpu"):
        plan_actors(cluster_gpus=1, trials_per_gpu=0)


def test_local_stores_are_served_or_refused():
    assert needs_storage_proxy(Url.parse("journal:/x/optuna.journal")) and needs_storage_proxy(Url.parse("sqlite:///x.db"))
    assert not needs_storage_proxy(Url.parse("postgresql://u@db/studies"))
    check_tracking_reachable(Url.parse("sqlite:///x/mlflow.db"), ["10.0.0.1"], "10.0.0.1")  # one machine: fine
    check_tracking_reachable(Url.parse("http://mlflow:5000"), ["10.0.0.1", "10.0.0.2"], "10.0.0.1")
    with pytest.raises(ReachError, match=r"10\.0\.0\.2 cannot write to") as info:
        check_tracking_reachable(Url.parse("sqlite:///x/mlflow.db"), ["10.0.0.1", "10.0.0.2"], "10.0.0.1")
    assert "--tracking-uri http://" in info.value.hint


def test_without_ray_nothing_imports_ray():
    code = ("import sys, search.cli, search.driver, search.executors\n"
            "assert 'ray' not in sys.modules and 'tensorflow' not in sys.modules, sorted(sys.modules)[:5]\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_an_unreachable_ray_address_is_one_clear_line(tmp_path, cli):
    from tests._studies import write_study

    path = write_study(tmp_path, "no-ray")
    result = cli("run", str(path), "--ray", "127.0.0.1:9", cwd=tmp_path,
                 env={"TUNEFORGE_HOME": str(tmp_path / ".tuneforge")})
    assert result.code == 2, result.stderr[-2000:]
    assert "--ray 127.0.0.1:9: nothing answers there" in result.stderr and "Traceback" not in result.stderr


def test_gpu_indices_are_refused_with_ray(tmp_path, cli):
    from tests._studies import write_study

    path = write_study(tmp_path, "ray-gpus")
    result = cli("run", str(path), "--ray", "127.0.0.1:9", "--gpus", "0,1", cwd=tmp_path,
                 env={"TUNEFORGE_HOME": str(tmp_path / ".tuneforge")})
    assert result.code == 2 and "takes auto or none with --ray" in result.stderr
