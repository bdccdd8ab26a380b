"""``tuneforge ui`` as a user runs it: both servers up on free ports, their URLs, Ctrl-C, a busy port."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
START_SECONDS = 240  # MLflow's server imports for a while on a busy 2-core machine


def local_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["TUNEFORGE_HOME"] = str(folder / ".tuneforge")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    with _OPENER.open(url, timeout=timeout) as response:
        return response.status, response.read()


@dataclass
class UiProcess:
    """A running ``tuneforge ui`` and the lines it printed so far."""

    proc: subprocess.Popen
    port: int
    dashboard_port: int
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue = field(default_factory=queue.Queue)

    def read_until(self, pattern: str, timeout: float = START_SECONDS) -> re.Match:
        """The first printed line matching ``pattern``; fails if ui exits or is silent too long."""
        end = time.monotonic() + timeout
        for line in self.lines:
            if m := re.search(pattern, line):
                return m
        while time.monotonic() < end:
            try:
                line = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None and self._queue.empty():
                    break
                continue
            if line is None:
                break
            self.lines.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"tuneforge ui printed no line matching {pattern!r}; stdout: {self.lines}; "
                             f"exit: {self.proc.poll()}; stderr: {self.stderr()[-3000:]}")

    def server_pids(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=timeout)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr else ""


def start_ui(folder: Path, *args: str, port: int | None = None, dashboard_port: int | None = None) -> UiProcess:
    """``tuneforge ui ARGS`` on free ports, in ``folder`` with ``TUNEFORGE_HOME`` there."""
    port = port or free_port()
    dashboard_port = dashboard_port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "ui", *args, "--port", str(port), "--dashboard-port", str(dashboard_port)],
        cwd=folder, env=local_env(folder), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    ui = UiProcess(proc, port, dashboard_port)

    def pump() -> None:
        for line in proc.stdout:
            ui._queue.put(line.rstrip("\n"))
        ui._queue.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return ui


def assert_all_gone(processes: list[psutil.Process], timeout: float = 15) -> None:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"left running: {[(p.pid, p.cmdline()) for p in alive]}"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def servers_on(port: int) -> list[psutil.Process]:
    """Processes started with ``--port PORT`` (a server tuneforge ui would have started)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any(a == "--port" and b == str(port) for a, b in zip(cmd, cmd[1:])):
            found.append(proc)
    return found


def make_store(folder: Path, name: str = "demo", trials: int = 3) -> dict[str, object]:
    """A local store like ``tuneforge run`` leaves: experiment, parent and trial runs, an artifact, the Optuna study."""
    import optuna
    from mlflow import MlflowClient
    from optuna.storages.journal import JournalFileBackend

    home = folder / ".tuneforge"
    home.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    exp_id = client.create_experiment(name, artifact_location=(home / "mlartifacts").as_uri())
    parent = client.create_run(exp_id, run_name=name, tags={"tuneforge.role": "study"}).info.run_id
    runs = []
    note = folder / "model_summary.txt"
    note.write_text("Dense(16) -> Dense(10)\n")
    for number in range(trials):
        run = client.create_run(exp_id, run_name=f"trial-{number:04d}",
                                tags={"mlflow.parentRunId": parent, "tuneforge.role": "trial",
                                      "trial_number": str(number)}).info.run_id
        client.log_metric(run, "val_accuracy", 0.5 + number / 10, step=0)
        client.log_artifact(run, str(note))
        client.set_terminated(run)
        runs.append(run)
    client.set_terminated(parent)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(home / "optuna.journal")))
    optuna.create_study(study_name="other", storage=storage)  # so the study's dashboard id is not just 0
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=trials)
    return {"experiment_id": exp_id, "runs": runs, "study_id": study._study_id}


def test_ui_serves_mlflow_and_the_dashboard_and_ctrl_c_stops_both(tmp_path):
    store = make_store(tmp_path)
    ui = start_ui(tmp_path, "demo")
    mlflow_url = ui.read_until(r"^MLflow UI: +(\S+)$").group(1)
    dashboard_url = ui.read_until(r"^Optuna dashboard: +(\S+)$").group(1)
    assert mlflow_url == (f"http://127.0.0.1:{ui.port}/#/experiments/{store['experiment_id']}"
                          "?workflowType=machine_learning")
    assert dashboard_url == f"http://127.0.0.1:{ui.dashboard_port}/dashboard/studies/{store['study_id']}"
    ui.read_until(r"Ctrl-C stops both servers")

    base = f"http://127.0.0.1:{ui.port}"
    assert http_get(base + "/health") == (200, b"OK")
    status, page = http_get(base + "/")
    assert status == 200 and b"<html" in page.lower()
    # the server reads the experiment's file:// artifact root itself (what the run page lists)
    status, body = http_get(f"{base}/ajax-api/2.0/mlflow/artifacts/list?run_id={store['runs'][0]}")
    assert status == 200 and [f["path"] for f in json.loads(body)["files"]] == ["model_summary.txt"]
    status, body = http_get(f"{base}/get-artifact?path=model_summary.txt&run_uuid={store['runs'][0]}")
    assert status == 200 and body == b"Dense(16) -> Dense(10)\n"

    dash = f"http://127.0.0.1:{ui.dashboard_port}"
    status, page = http_get(dash + "/")  # redirects to /dashboard
    assert status == 200 and b"<html" in page.lower()
    studies = json.loads(http_get(dash + "/api/studies")[1])["study_summaries"]
    assert {s["study_name"] for s in studies} == {"demo", "other"}

    servers = ui.server_pids()
    commands = [" ".join(p.cmdline()) for p in servers]
    assert any("mlflow" in c and "server" in c for c in commands), commands
    assert any("optuna-dashboard" in c or "optuna_dashboard" in c for c in commands), commands
    assert all(os.getpgid(p.pid) != os.getpgid(ui.proc.pid) for p in servers), "servers share ui's process group"
    # ui only supervises: TensorFlow (~900 MB resident) must not be loaded in it
    assert not [m.path for m in psutil.Process(ui.proc.pid).memory_maps() if "tensorflow" in m.path]

    assert ui.stop(signal.SIGINT) == 130
    assert_all_gone(servers)
    assert "Traceback" not in ui.stderr()
    assert port_is_free(ui.port) and port_is_free(ui.dashboard_port)


def test_ui_without_study_or_dashboard_and_sigterm(tmp_path):
    make_store(tmp_path)
    ui = start_ui(tmp_path, "--no-dashboard")
    assert ui.read_until(r"^MLflow UI: +(\S+)$").group(1) == f"http://127.0.0.1:{ui.port}/"
    ui.read_until(r"Ctrl-C stops the server")
    assert not any(line.startswith("Optuna dashboard") for line in ui.lines)
    assert http_get(f"http://127.0.0.1:{ui.port}/health")[0] == 200
    servers = ui.server_pids()
    assert servers and not any("optuna" in " ".join(p.cmdline()) for p in servers)
    assert ui.stop(signal.SIGTERM) == 128 + signal.SIGTERM
    assert_all_gone(servers)
    assert "Traceback" not in ui.stderr()


@pytest.mark.parametrize("which", ["--port", "--dashboard-port"])
def test_a_busy_port_is_one_line_and_exit_2(tmp_path, which):
    make_store(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        other = free_port()
        ports = ["--port", str(port), "--dashboard-port", str(other)] if which == "--port" else \
                ["--port", str(other), "--dashboard-port", str(port)]
        started = time.monotonic()
        result = run_cli("ui", "demo", *ports, cwd=tmp_path, env=local_env(tmp_path), timeout=120)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0] and which in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert time.monotonic() - started < 60  # refused before starting anything


def test_a_study_without_an_experiment_stops_the_servers_and_exits_2(tmp_path):
    make_store(tmp_path)
    port = free_port()
    result = run_cli("ui", "never-run", "--no-dashboard", "--port", str(port), cwd=tmp_path,
                     env=local_env(tmp_path), timeout=300)
    assert result.code == 2, result.stderr
    assert "no MLflow experiment 'never-run'" in result.stderr and "Traceback" not in result.stderr
    assert port_is_free(port)
    assert not servers_on(port)


def test_no_local_store_is_a_clear_error(tmp_path):
    result = run_cli("ui", cwd=tmp_path, env=local_env(tmp_path), timeout=120)
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no MLflow store at {tmp_path / '.tuneforge' / 'mlflow.db'} "
        "(run a study here first, set TUNEFORGE_HOME, or pass --tracking-uri)"]
    assert not (tmp_path / ".tuneforge").exists()


def test_same_port_twice_is_refused(tmp_path):
    make_store(tmp_path)
    result = run_cli("ui", "--port", "5999", "--dashboard-port", "5999", cwd=tmp_path, env=local_env(tmp_path))
    assert result.code == 2 and "--port and --dashboard-port are both 5999" in result.stderr


def test_server_commands(tmp_path, monkeypatch):
    from tracking import _ui

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / ".tuneforge"))
    journal = tmp_path / ".tuneforge" / "optuna.journal"
    cmd = _ui.dashboard_command(f"journal:{journal}", "127.0.0.1", 8081)
    assert cmd[-10:] == [str(journal), "--storage-class", "JournalFileStorage", "--host", "127.0.0.1",
                         "--port", "8081", "--server", "wsgiref", "--quiet"]
    assert _ui.dashboard_command("postgresql://u@h/db", "127.0.0.1", 8081)[-8] == "postgresql://u@h/db"
    tracking = f"sqlite:///{tmp_path / '.tuneforge' / 'mlflow.db'}"
    cmd = _ui.mlflow_command(tracking, "127.0.0.1", 5001)
    assert cmd[cmd.index("server"):] == ["server", "--backend-store-uri", tracking,
                                         "--default-artifact-root", (tmp_path / ".tuneforge" / "mlartifacts").as_uri(),
                                         "--no-serve-artifacts", "--host", "127.0.0.1", "--port", "5001",
                                         "--workers", "1"]
    assert "--default-artifact-root" not in _ui.mlflow_command("postgresql://u@h/db", "127.0.0.1", 5001)
    assert _ui.url_host("0.0.0.0") == "127.0.0.1" and _ui.url_host("::1") == "[::1]"


