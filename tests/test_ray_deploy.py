"""The Ray deployments, read as compose and Kubernetes would read them (neither runs here): every
``ray start`` command line is parsed by the installed Ray's CLI, the driver's by tuneforge's, GPUs and
Ray's token authentication are checked. Nothing is started.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_compose import SECRETS, STORAGE, command_of, interpolate, tuneforge_params

# no `import ray` while collecting: tests/test_ray.py sets Ray's token mode before Ray is first imported
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")
RAYCLUSTER = ROOT / "deploy" / "raycluster.yaml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), dict(SECRETS))["services"]


@pytest.fixture(scope="module")
def raycluster() -> dict[str, Any]:
    return yaml.safe_load(RAYCLUSTER.read_text())


def ray_start(args: list[str]) -> dict[str, Any]:
    """Parse ``ray start ARGS`` with the installed Ray's click command, without running it."""
    from ray.scripts.scripts import cli

    return cli.get_command(None, "start").make_context("start", list(args)).params


def test_ray_head_and_workers_are_ray_start_command_lines(services):
    head = command_of(services["ray-head"])
    assert head[:2] == ["ray", "start"]
    params = ray_start(head[2:])
    assert params["head"] and params["port"] == 6379 and params["block"]
    assert (params["dashboard_host"], params["dashboard_port"]) == ("0.0.0.0", 8265)
    assert params["num_gpus"] == 0 and params["num_cpus"] == 0, "no trial runs on the head"
    worker = command_of(services["ray-worker"])
    params = ray_start(worker[2:])
    assert params["address"] == "ray-head:6379" and params["block"] and not params["head"]
    assert services["ray-head"]["profiles"] == services["ray-worker"]["profiles"] == ["ray"]


def test_ray_workers_get_gpus_and_scale(services):
    worker = services["ray-worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert "container_name" not in worker, "a fixed name would stop --scale ray-worker=N"
    assert all("shm_size" in services[name] for name in ("ray-head", "ray-worker")), "the object store is /dev/shm"


def test_the_driver_service_is_a_tuneforge_run_on_the_head(services):
    params = tuneforge_params(command_of(services["ray-run"]))
    assert params["ray"] == "ray-head:6379" and params["storage"] == STORAGE
    assert params["tracking_uri"] == "http://mlflow:5000"
    assert (ROOT / "studies" / "digits_mlp.yaml").is_file() and params["study_file"].name == "digits_mlp.yaml"


def test_token_authentication_is_on_everywhere_and_the_token_is_a_secret_file(services):
    raw = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(raw)
    assert compose["secrets"]["ray_auth_token"]["file"] == "./ray-auth-token"
    assert "ray-auth-token" in (ROOT / ".gitignore").read_text().split()
    for name in ("ray-head", "ray-worker", "ray-run"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_auth_token", name
        assert services[name]["secrets"] == ["ray_auth_token"] and "RAY_AUTH_TOKEN" not in env, name


def test_raycluster_is_a_kuberay_cluster_with_gpu_workers(raycluster):
    assert (raycluster["apiVersion"], raycluster["kind"]) == ("ray.io/v1", "RayCluster")
    import ray

    assert raycluster["spec"]["rayVersion"].split(".")[0] == ray.__version__.split(".")[0]
    head = raycluster["spec"]["headGroupSpec"]
    ray_start(["--head", *[f"--{k}={v}" for k, v in head["rayStartParams"].items()]])  # each key a real option
    (gpu,) = raycluster["spec"]["workerGroupSpecs"]
    ray_start(["--address=head:6379", *[f"--{k}={v}" for k, v in gpu["rayStartParams"].items()]])
    assert gpu["minReplicas"] <= gpu["replicas"] <= gpu["maxReplicas"] and raycluster["spec"]["enableInTreeAutoscaling"]
    (container,) = gpu["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    for spec in (head, gpu):
        (c,) = spec["template"]["spec"]["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert "value" not in env["RAY_AUTH_TOKEN"], "the token comes from a Secret, never the manifest"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "tuneforge-ray-token"


def test_a_wrong_ray_start_option_is_refused_by_the_same_parser():
    with pytest.raises(Exception, match="No such option"):
        ray_start(["--head", "--no-such-option"])
