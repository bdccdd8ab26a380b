"""docker-compose.yml, read as compose reads it (no Docker engine here): every command is a command line
the installed tuneforge / mlflow / optuna-dashboard accept, volumes, healthchecks, secrets, GPUs.

Commands are parsed by the real CLIs (click's make_context, the dashboard's argparse), never run.
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"POSTGRES_PASSWORD": "pg-Secret-1", "MLFLOW_ADMIN_USERNAME": "boss", "MLFLOW_ADMIN_PASSWORD": "ml-Secret-2",
           "MLFLOW_SECRET_KEY": "cookie-Secret-3"}
STORAGE = "postgresql://tuneforge@postgres:5432/tuneforge"

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable rules: ${V}, ${V:-default}, ${V-default}, ${V:?error}, ${V?error}, $$."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op") or "", m.group("arg") or ""
        current = env.get(name)
        missing = current is None or (op.startswith(":") and current == "")
        if op.endswith("?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        if op.endswith("-") and missing:
            return arg
        return current or ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict[str, Any]:
    return interpolate(raw, dict(SECRETS))


def command_of(service: dict[str, Any]) -> list[str]:
    entry, command = service.get("entrypoint", []), service.get("command", [])
    assert isinstance(entry, list) and isinstance(command, list), "write commands as lists (no shell parsing)"
    return [str(a) for a in [*entry, *command]]


def test_the_stack_has_its_services(compose):
    assert set(compose["services"]) == {"postgres", "mlflow", "dashboard", "worker", "submit",
                                        "ray-head", "ray-worker", "ray-run"}  # Ray's: tests/test_ray_deploy.py
    assert compose["services"]["submit"]["profiles"] == ["tools"]  # a one-off, not started by `up`


def tuneforge_params(argv: list[str]) -> dict[str, Any]:
    """Parse ``tuneforge SUB ...`` with the installed CLI's click command (typer), without running it."""
    import typer.main

    from search.cli import app

    assert argv[0] == "tuneforge", argv
    group = typer.main.get_command(app)
    root = group.make_context("tuneforge", argv[1:2])
    sub = group.get_command(root, argv[1])
    assert sub is not None, f"the installed tuneforge has no {argv[1]!r} command"
    return sub.make_context(argv[1], argv[2:], parent=root).params


def test_worker_command_is_a_tuneforge_worker_command_line(compose):
    params = tuneforge_params(command_of(compose["services"]["worker"]))
    assert params["storage"] == STORAGE and params["all_studies"] and params["wait"]
    assert params["gpus"] == "auto" and params["trials_per_gpu"] == 1 and params["max_trials_per_process"] == 25
    assert params["tracking_uri"] == "http://mlflow:5000"


def test_worker_settings_come_from_env(raw):
    env = {**SECRETS, "TUNEFORGE_GPUS": "0,2", "TUNEFORGE_TRIALS_PER_GPU": "4"}
    params = tuneforge_params(command_of(interpolate(raw, env)["services"]["worker"]))
    assert params["gpus"] == "0,2" and params["trials_per_gpu"] == 4


def test_submit_command_is_a_tuneforge_submit_command_line(compose):
    service = compose["services"]["submit"]
    params = tuneforge_params(command_of(service))
    assert params["storage"] == STORAGE and params["tracking_uri"] == "http://mlflow:5000"
    # the default study is one of ./studies, mounted where the workers see it too
    assert all("./studies:/studies:ro" in s["volumes"] for s in (service, compose["services"]["worker"]))
    assert (ROOT / "studies" / Path(str(params["study_file"])).name).is_file()


def test_mlflow_command_is_an_mlflow_server_command_line(compose):
    from mlflow.cli import cli

    argv = command_of(compose["services"]["mlflow"])
    assert argv[:2] == ["mlflow", "server"]
    server = cli.get_command(None, "server")
    params = server.make_context("server", argv[2:]).params
    assert params["backend_store_uri"] == "postgresql://tuneforge@postgres:5432/mlflow"
    assert params["app_name"] == "basic-auth"  # authentication on (a click.Choice of the installed apps)
    assert params["serve_artifacts"] and params["artifacts_destination"] == "/mlartifacts"
    assert (params["host"], params["port"]) == ("0.0.0.0", 5000)
    assert "mlflow:5000" in params["allowed_hosts"].split(",")  # workers reach it as http://mlflow:5000


def test_bad_command_lines_are_refused_by_the_same_parsers():
    """The checks above can fail: a wrong option is refused by each parser."""
    from mlflow.cli import cli

    with pytest.raises(Exception, match="No such option"):
        tuneforge_params(["tuneforge", "worker", "--storage", STORAGE, "--no-such-option"])
    with pytest.raises(Exception, match="not one of|Invalid value"):
        cli.get_command(None, "server").make_context("server", ["--app-name", "no-such-app"])


def test_dashboard_command_is_an_optuna_dashboard_command_line(compose, monkeypatch):
    from optuna_dashboard import _cli

    argv = command_of(compose["services"]["dashboard"])
    assert argv[0] == "optuna-dashboard"
    seen = {}

    class Parsed(Exception):
        pass

    def stop_after_parsing(args, toml_config):
        seen.update(vars(args))
        raise Parsed

    monkeypatch.setattr(_cli.DashboardConfig, "build_from_sources", staticmethod(stop_after_parsing))
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(Parsed):  # an unknown option would end in SystemExit(2) before this point
        _cli.main()
    assert seen["storage"] == STORAGE and (seen["host"], seen["port"]) == ("0.0.0.0", 8080)


def test_named_volumes_and_bind_mounts_exist(compose):
    declared = set(compose["volumes"])
    assert declared == {"pgdata", "mlartifacts"}
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} is not in the repository"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "mlartifacts:/mlartifacts" in compose["services"]["mlflow"]["volumes"]
    init = (ROOT / "docker" / "postgres" / "10-databases.sql").read_text()
    assert "CREATE DATABASE mlflow;" in init and "CREATE DATABASE mlflow_auth;" in init


def test_healthchecks_gate_the_start_order(compose):
    services = compose["services"]
    postgres = services["postgres"]["healthcheck"]["test"]
    assert postgres[0] == "CMD-SHELL" and "pg_isready -h 127.0.0.1 -U tuneforge -d tuneforge" in postgres[1]
    assert "http://127.0.0.1:5000/health" in " ".join(services["mlflow"]["healthcheck"]["test"])
    for name in ("mlflow", "dashboard", "worker", "submit"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
    for name in ("worker", "submit"):
        assert services[name]["depends_on"]["mlflow"]["condition"] == "service_healthy", name


def test_compose_refuses_to_start_without_each_secret(raw):
    for name in SECRETS:
        for value in ("", None):
            env = {k: v for k, v in SECRETS.items() if k != name}
            if value is not None:
                env[name] = value
            with pytest.raises(MissingVariable, match=f"{name}: set {name} in .env"):
                interpolate(raw, env)


def strings(value: Any, where: str = ""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{where}[{i}]")
    elif isinstance(value, str):
        yield where, value


def test_no_literal_passwords(raw, compose):
    for where, value in strings(raw):
        assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", value), f"{where}: a password inside a URL: {value}"
        if re.search(r"PASSWORD|SECRET", where.rsplit(".", 1)[-1]):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), f"{where} must be ${{VAR:?message}}, got {value!r}"
    for name, service in compose["services"].items():  # and no secret ends up on a command line (ps, inspect)
        assert not set(SECRETS.values()) & set(command_of(service)), name
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert all(example[k] == "" for k in ("POSTGRES_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_SECRET_KEY"))
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def mlflow_auth_config() -> Any:
    """mlflow.server.auth.config, loaded alone: the auth package itself needs Flask-WTF (mlflow[auth]),
    which the image installs and this environment does not."""
    import importlib.util

    import mlflow

    path = Path(mlflow.__file__).parent / "server" / "auth" / "config.py"
    spec = importlib.util.spec_from_file_location("_mlflow_auth_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_reads_its_admin_login_from_the_environment(compose, monkeypatch):
    """MLflow's own config reader, on our ini and the service's environment: no password in any file."""
    read_auth_config = mlflow_auth_config().read_auth_config

    env = compose["services"]["mlflow"]["environment"]
    ini = ROOT / env["MLFLOW_AUTH_CONFIG_PATH"].removeprefix("/app/")  # the image copies docker/ to /app/docker
    parser = configparser.ConfigParser()
    parser.read(ini)
    assert "admin_password" not in parser["mlflow"]
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(ini))
    for key in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"):
        monkeypatch.setenv(key, env[key])
    config = read_auth_config()
    assert (config.admin_username, config.admin_password) == ("boss", "ml-Secret-2")
    assert config.database_uri == "postgresql://tuneforge@postgres:5432/mlflow_auth"
    assert env["PGPASSWORD"] == "pg-Secret-1" and env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "cookie-Secret-3"
    for name in ("worker", "submit"):  # the workers log in to MLflow and PostgreSQL with the same secrets
        client = compose["services"][name]["environment"]
        assert (client["MLFLOW_TRACKING_USERNAME"], client["MLFLOW_TRACKING_PASSWORD"]) == ("boss", "ml-Secret-2")
        assert client["PGPASSWORD"] == "pg-Secret-1"


def test_worker_reserves_gpus_and_can_scale(compose):
    worker = compose["services"]["worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    # `--scale worker=N` needs replicas that do not clash: no fixed name, no published port
    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("init") is True


def test_dockerfile_copies_what_exists():
    text = (ROOT / "Dockerfile").read_text()
    sources = [s for line in text.splitlines() if line.startswith("COPY ") for s in line.split()[1:-1]]
    assert sources and all((ROOT / s).exists() for s in sources), sources
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert not set(sources) & set(ignored)
    assert 'ARG TENSORFLOW="tensorflow[and-cuda]' in text
    assert 'ARG MLFLOW="mlflow[auth]>=' in text  # --app-name basic-auth imports Flask-WTF


def test_remote_workers_point_the_service_names_at_the_head_machine(compose):
    remote = yaml.safe_load((ROOT / "docker-compose.remote.yml").read_text())
    assert set(remote["services"]) == {"worker"}
    with pytest.raises(MissingVariable, match="TUNEFORGE_HEAD"):
        interpolate(remote, dict(SECRETS))
    worker = interpolate(remote, {**SECRETS, "TUNEFORGE_HEAD": "10.0.0.5"})["services"]["worker"]
    assert worker["extra_hosts"] == ["postgres:10.0.0.5", "mlflow:10.0.0.5"]
    # the names it redirects are the ones the worker's command line uses, on ports the head publishes
    argv = " ".join(command_of(compose["services"]["worker"]))
    assert "@postgres:5432/" in argv and "http://mlflow:5000" in argv
    assert compose["services"]["postgres"]["ports"] == ["127.0.0.1:5432:5432"]
    assert interpolate(yaml.safe_load(COMPOSE.read_text()), {**SECRETS, "POSTGRES_BIND": "0.0.0.0"})[
        "services"]["postgres"]["ports"] == ["0.0.0.0:5432:5432"]
