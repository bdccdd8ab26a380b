"""The device plan, table-driven: 0/1/2/8 GPUs x K = 1/2/4, --gpus none/list/auto, more slots than cores.

Pure: no TensorFlow. GPUs are a simulated list (and a stand-in ``nvidia-smi`` script for
detect_gpus); nothing here needs a GPU.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from search.workers import DeviceError, Gpu, Slot, detect_gpus, parse_gpu_select, plan_cpu_slots, plan_slots
from search.workers._devices import parse_nvidia_smi
from tests._mlflow import study_runs
from tests._studies import write_study
from tests.conftest import ROOT, run_cli

T4 = 16384  # MB, a 16 GB card: headroom 1638 MB, so 14746 MB shared


def cards(n: int, memory: int = T4) -> list[Gpu]:
    return [Gpu(index=i, name="Simulated T4", memory_mb=memory) for i in range(n)]


# (case, gpus, select, K, cores, workers) -> (devices in slot order, threads, memory limit per slot or None)
PLANS = [
    ("0 gpus: one cpu slot, every core", 0, "auto", 1, 2, None, ["cpu"], 2, None),
    ("0 gpus: K is ignored on cpu", 0, "auto", 4, 2, 3, ["cpu"] * 3, 1, None),
    ("0 gpus: 2 workers share 8 cores", 0, "auto", 2, 8, 2, ["cpu"] * 2, 4, None),
    ("1 gpu, K=1", 1, "auto", 1, 2, None, ["gpu:0"], 2, 14446),
    ("1 gpu, K=2", 1, "auto", 2, 2, None, ["gpu:0"] * 2, 1, 7073),
    ("1 gpu, K=4: more slots than cores", 1, "auto", 4, 2, None, ["gpu:0"] * 4, 1, 3386),
    ("2 gpus, K=1", 2, "auto", 1, 2, None, ["gpu:0", "gpu:1"], 1, 14446),
    ("2 gpus, K=2: round robin", 2, "auto", 2, 8, None, ["gpu:0", "gpu:1"] * 2, 2, 7073),
    ("2 gpus, K=4: 8 slots on 2 cores", 2, "auto", 4, 2, None, ["gpu:0", "gpu:1"] * 4, 1, 3386),
    ("8 gpus, K=1", 8, "auto", 1, 16, None, [f"gpu:{i}" for i in range(8)], 2, 14446),
    ("8 gpus, K=2", 8, "auto", 2, 2, None, [f"gpu:{i}" for i in range(8)] * 2, 1, 7073),
    ("8 gpus, K=4", 8, "auto", 4, 64, None, [f"gpu:{i}" for i in range(8)] * 4, 2, 3386),
    ("--gpus none on a 2-gpu machine", 2, "none", 2, 8, 2, ["cpu"] * 2, 4, None),
    ("--gpus none, workers unset", 8, "none", 4, 4, None, ["cpu"], 4, None),
    ("--gpus 1 of 2, K=2", 2, [1], 2, 4, None, ["gpu:1"] * 2, 2, 7073),
    ("--gpus 0,2 of 8", 8, [0, 2], 1, 4, None, ["gpu:0", "gpu:2"], 2, 14446),
    ("--gpus 5,3: order kept", 8, [5, 3], 2, 4, None, ["gpu:5", "gpu:3"] * 2, 1, 7073),
    ("2 workers on 2 gpus x K=2: both gpus, limit still 1/K", 2, "auto", 2, 4, 2, ["gpu:0", "gpu:1"], 2, 7073),
    ("3 workers on 1 gpu, K=1: limit shrinks to 1/3", 1, "auto", 1, 2, 3, ["gpu:0"] * 3, 1, 4615),
]


@pytest.mark.parametrize(("case", "n_gpus", "select", "k", "cores", "workers", "devices", "threads", "memory"),
                         PLANS, ids=[p[0] for p in PLANS])
def test_device_plan(case, n_gpus, select, k, cores, workers, devices, threads, memory):
    slots = plan_slots(gpus=cards(n_gpus), select=select, trials_per_gpu=k, cores=cores, workers=workers)
    assert [s.device for s in slots] == devices
    assert [s.index for s in slots] == list(range(len(devices)))
    assert all(s.threads == threads for s in slots)
    assert all(s.memory_limit_mb == memory for s in slots)
    for s in slots:
        check_env(s)
    if memory is not None:  # "about memory / K", with headroom: between 75 % and 100 % of the share
        share = T4 / max(k, devices.count(devices[0]))
        assert 0.75 * share <= memory < share


def check_env(s: Slot) -> None:
    env = s.env
    assert env["TUNEFORGE_SLOT"] == str(s.index) and env["TUNEFORGE_DEVICE"] == s.device
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == str(s.threads)
    assert env["TF_NUM_INTEROP_THREADS"] == ("1" if s.threads == 1 else "2")
    if s.device == "cpu":
        assert s.gpu is None and env["CUDA_VISIBLE_DEVICES"] == "-1"
        assert "TUNEFORGE_GPU_MEMORY_MB" not in env and "TF_GPU_ALLOCATOR" not in env
    else:
        assert s.device == f"gpu:{s.gpu}" and env["CUDA_VISIBLE_DEVICES"] == str(s.gpu)
        assert env["TF_GPU_ALLOCATOR"] == "cuda_malloc_async" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
        assert env["TUNEFORGE_GPU_MEMORY_MB"] == str(s.memory_limit_mb)


def test_one_gpu_slot_environment_in_full():
    slot = plan_slots(gpus=cards(2), select=[1], trials_per_gpu=2, cores=2)[1]
    assert slot == Slot(index=1, device="gpu:1", threads=1, gpu=1, memory_limit_mb=7073, env={
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1", "TF_GPU_ALLOCATOR": "cuda_malloc_async",
        "TUNEFORGE_GPU_MEMORY_MB": "7073", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "TUNEFORGE_SLOT": "1", "TUNEFORGE_DEVICE": "gpu:1"})


def test_each_card_gets_its_own_memory_limit():
    mixed = [Gpu(0, "Simulated 8 GB", 8192), Gpu(1, "Simulated 24 GB", 24576)]
    slots = plan_slots(gpus=mixed, trials_per_gpu=2, cores=4)
    limits = {s.gpu: s.memory_limit_mb for s in slots}
    assert limits == {0: (8192 - 819) // 2 - 300, 1: (24576 - 2457) // 2 - 300}


def test_small_card_keeps_the_minimum_headroom():
    # 10 % of 2 GB is 204 MB, below the 256 MB floor
    assert plan_slots(gpus=cards(1, 2048), cores=1)[0].memory_limit_mb == 2048 - 256 - 300


def test_plan_cpu_slots_is_the_cpu_plan():
    assert plan_cpu_slots(3, 8) == plan_slots(gpus=cards(4), select="none", cores=8, workers=3)
    assert plan_cpu_slots(0, 2) == []


BAD = [
    ("index not visible", cards(2), [2], 1, r"GPU 2 is not visible on this machine \(--gpus / resources\.gpus\); "
                                            r"visible GPUs: 0, 1"),
    ("list on a machine without gpus", [], [0], 1, r"GPU 0 is not visible.*visible GPUs: none"),
    ("gpu listed twice", cards(2), [0, 0], 1, r"lists a GPU twice"),
    ("unknown word", cards(1), "all", 1, r"must be auto, none or a list"),
    ("too many trials for the card", cards(1, 2048), "auto", 4, r"GPU 0 .* cannot hold 4 trials.*256 MB minimum"),
]


@pytest.mark.parametrize(("case", "gpus", "select", "k", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_clear_errors(case, gpus, select, k, message):
    with pytest.raises(DeviceError, match=message) as info:
        plan_slots(gpus=gpus, select=select, trials_per_gpu=k, cores=2)
    assert info.value.hint  # says how to fix it


def test_bad_numbers_are_refused():
    for kwargs in ({"trials_per_gpu": 0}, {"cores": 0}, {"workers": 0}):
        with pytest.raises(DeviceError, match="must be >= 1"):
            plan_slots(**{"gpus": cards(1), "cores": 2, **kwargs})


@pytest.mark.parametrize(("text", "select"), [("auto", "auto"), ("none", "none"), ("NONE", "none"), ("0", [0]),
                                              ("0,2", [0, 2]), (" 3, 1 ", [3, 1])])
def test_parse_gpu_select(text, select):
    assert parse_gpu_select(text) == select


@pytest.mark.parametrize("text", ["", "all", "gpu0", "0,,1", "-1", "0;1"])
def test_parse_gpu_select_refuses(text):
    with pytest.raises(DeviceError, match=r"--gpus takes auto, none or GPU indices like 0,2"):
        parse_gpu_select(text)


def test_parse_nvidia_smi_output():
    text = "0, NVIDIA A100-SXM4-40GB, 40960\n1, Tesla T4, 15360\n\nNo devices were found\n2, Odd, Name, [N/A]\n"
    assert parse_nvidia_smi(text) == [Gpu(0, "NVIDIA A100-SXM4-40GB", 40960), Gpu(1, "Tesla T4", 15360)]


def fake_nvidia_smi(folder: Path, body: str) -> dict[str, str]:
    """An ``nvidia-smi`` stand-in first on PATH; returns an environment that finds it."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    return env


TWO_CARDS = 'print("0, Simulated T4, 15360"); print("1, Simulated A10, 23028")'


def test_detect_gpus_reads_nvidia_smi(tmp_path):
    env = fake_nvidia_smi(tmp_path / "bin", TWO_CARDS)
    assert detect_gpus(env=env) == [Gpu(0, "Simulated T4", 15360), Gpu(1, "Simulated A10", 23028)]
    assert detect_gpus(env={**env, "CUDA_VISIBLE_DEVICES": "1"}) == [Gpu(1, "Simulated A10", 23028)]
    assert detect_gpus(env={**env, "CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert detect_gpus(env={**env, "CUDA_VISIBLE_DEVICES": ""}) == []


@pytest.mark.parametrize(("case", "body"), [("fails", "sys.exit(9)"), ("hangs", "time.sleep(30)"),
                                            ("prints nothing useful", 'print("NVIDIA-SMI has failed")')])
def test_detect_gpus_is_empty_when_nvidia_smi_misbehaves(tmp_path, case, body):
    assert detect_gpus(env=fake_nvidia_smi(tmp_path / "bin", body), timeout=1.0) == []


def test_detect_gpus_is_empty_without_nvidia_smi(tmp_path):
    (tmp_path / "empty").mkdir()
    assert detect_gpus(env={"PATH": str(tmp_path / "empty")}) == []


def test_the_plan_imports_no_tensorflow():
    code = ("import sys; from search.workers import Gpu, plan_slots; "
            "plan_slots(gpus=[Gpu(0, 'x', 16384)], trials_per_gpu=2, cores=2); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'optuna', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_gpu_slots_on_a_machine_without_gpus_train_on_cpu_and_say_so(tmp_path):
    """`tuneforge run --gpus 0 --trials-per-gpu 2 --workers 1` with a simulated card: the slot falls back to the CPU."""
    path = write_study(tmp_path, "gpu-fallback", search={"trials": 2}, fixed={"epochs": 1, "batch_size": 128},
                       resources={"gpus": "none", "trials_per_gpu": 1})  # the command line overrides both
    spec = yaml.safe_load(path.read_text())
    del spec["search"]["workers"]  # the command line sets it: one process (on a card planned for K=2)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = fake_nvidia_smi(tmp_path / "bin", 'print("0, Simulated T4, 15360")')
    env["TUNEFORGE_HOME"] = str(tmp_path / ".tuneforge")
    env.pop("MLFLOW_TRACKING_URI", None)
    env["CUDA_VISIBLE_DEVICES"] = "0"  # what a user pinning GPU 0 would set (conftest hides every device)

    bad = run_cli("run", str(path), "--gpus", "0,x", cwd=tmp_path, env=env)  # refused before TensorFlow loads
    assert bad.code == 2 and "Traceback" not in bad.stderr
    assert "--gpus takes auto, none or GPU indices like 0,2, but got '0,x'" in bad.stderr

    result = run_cli("run", str(path), "--gpus", "0", "--trials-per-gpu", "2", "--workers", "1", "--no-export",
                     cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr[-3000:]
    logs = tmp_path / ".tuneforge" / "logs" / "gpu-fallback"
    assert sorted(p.name for p in logs.iterdir()) == ["worker-0.log"]
    text = (logs / "worker-0.log").read_text()
    assert "note: slot 0 was planned for gpu:0 but TensorFlow sees no GPU; training on the CPU" in text
    runs = study_runs(f"sqlite:///{tmp_path / '.tuneforge' / 'mlflow.db'}", "gpu-fallback")
    assert sorted(runs.trials) == [0, 1]
    assert all(r.data.tags["device"] == "cpu" and r.data.tags["state"] == "COMPLETE" for r in runs.trials.values())
    assert all(r.data.tags["slot"] == "0" for r in runs.trials.values())
