"""The two web UIs of a study as child processes: MLflow's UI and Optuna's dashboard.

Each server runs in its own session (so its own process group): a Ctrl-C in the
terminal reaches only ``tuneforge ui``, which then stops each group as a whole
(SIGTERM, a grace period, SIGKILL), so no server process (uvicorn under `mlflow server`) is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spaces.core import StorageError, TuneforgeError, Url, resolve_storage_url, resolve_tracking_uri
from tracking._store import default_artifact_root

STOP_GRACE_SECONDS = 10.0

# localhost never goes through a proxy, whatever http_proxy says
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PortInUseError(TuneforgeError):
    """The port a server should listen on is taken."""


def stored_spec(storage_url: str | Url, study_name: str) -> dict[str, Any] | None:
    """The study file (as a dict) that ``tuneforge run`` stored with study ``study_name``, or None."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = resolve_storage_url(storage_url)
    storage: Any = url.secret()
    if url.is_journal:
        from optuna.storages.journal import JournalFileBackend

        path = url.local_path
        if not path.is_file():
            return None
        storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None
    except Exception as exc:  # noqa: BLE001 - bad URL, unreachable server, missing driver
        raise StorageError(f"cannot open study storage {str(url)!r}: {type(exc).__name__}: "
                           f"{url.scrub(str(exc).splitlines()[0]) if str(exc) else ''}",
                             hint="check the URL, that the server runs and accepts connections") from None
    spec = study.user_attrs.get("spec")
    return json.loads(spec) if isinstance(spec, str) else None


def url_host(host: str) -> str:
    """The host to put in a URL for a server bound to ``host`` (a wildcard means this machine)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def check_port_free(host: str, port: int, what: str, option: str) -> None:
    """Bind ``host:port`` as the server would (SO_REUSEADDR, like uvicorn) and release it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                reason = "already in use" if exc.errno == errno.EADDRINUSE else "not allowed"
                raise PortInUseError(f"port {port} on {host} is {reason} (wanted for {what})",
                                     hint=f"pick another with {option} N") from None
            raise TuneforgeError(f"cannot listen on {host}:{port} for {what}: {exc.strerror}",
                                 hint="check --host") from None


def _script(name: str) -> str | None:
    """The console script ``name`` installed beside this interpreter, if any."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else None


def mlflow_command(tracking_uri: str | Url, host: str, port: int) -> list[str]:
    """``mlflow server`` on the study's store.

    tuneforge creates its experiments with an explicit ``file://`` artifact location, and the
    server reads such locations itself (list and download go through ``get-artifact``), so the
    artifact proxy (``--serve-artifacts``, only for ``mlflow-artifacts:/`` roots) is off. New
    experiments made from the UI on a local store land in the same ``mlartifacts`` folder.
    One worker: a local UI for one person on a shared 2-core machine.
    """
    mlflow = _script("mlflow")
    cmd = [mlflow] if mlflow else [sys.executable, "-m", "mlflow"]
    cmd += ["server", "--backend-store-uri", resolve_tracking_uri(tracking_uri).secret()]
    root = default_artifact_root(tracking_uri)
    if root:
        cmd += ["--default-artifact-root", root]
    cmd += ["--no-serve-artifacts", "--host", host, "--port", str(port), "--workers", "1"]
    return cmd


def dashboard_command(storage_url: str | Url, host: str, port: int) -> list[str]:
    """``optuna-dashboard`` on the study storage.

    It takes a journal file as a bare path (it refuses tuneforge's ``journal:`` prefix), so the
    prefix is dropped and the storage class is named instead of guessed from the file.
    """
    script = _script("optuna-dashboard")
    cmd = [script] if script else [sys.executable, "-c", "from optuna_dashboard._cli import main; main()"]
    url = resolve_storage_url(storage_url)
    if url.is_journal:
        cmd += [str(url.local_path), "--storage-class", "JournalFileStorage"]
    else:
        cmd += [url.secret()]  # optuna-dashboard takes its storage only as an argument (README: Known limits)
    # one threaded process: stops at once on SIGTERM (gunicorn would add a master and a worker)
    return cmd + ["--host", host, "--port", str(port), "--server", "wsgiref", "--quiet"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if ``tuneforge ui`` itself is killed (kill -9 included)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


@dataclass
class Server:
    """One web server child process and where its output goes."""

    name: str
    command: list[str]
    url: str  # the address it answers on
    probe: str  # a path that answers 200 once it is up
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env}, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def answers(self) -> bool:
        """Whether ``probe`` answers HTTP 200 now."""
        try:
            with _OPENER.open(self.url + self.probe, timeout=3) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def get_json(self, path: str) -> Any:
        with _OPENER.open(self.url + path, timeout=15) as response:
            return json.loads(response.read())

    def last_lines(self, n: int = 3) -> str:
        try:
            lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def signal_group(self, signum: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    def group_alive(self) -> bool:
        """Whether any process of the server's group is left (its workers outlive a dead leader)."""
        if self.proc is None:
            return False
        self.proc.poll()  # reap the leader if it exited
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def stop_servers(servers: list[Server], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every server's process group, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for server in servers:
        server.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(s.group_alive() for s in servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    for server in servers:
        if server.group_alive():
            server.signal_group(signal.SIGKILL)
    for server in servers:
        if server.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while any(s.group_alive() for s in servers) and time.monotonic() < deadline:
        time.sleep(0.05)


def mlflow_server(tracking_uri: str | Url, host: str, port: int, log_dir: Path) -> Server:
    env = {
        # MLflow >= 3.5 also starts a job runner (GenAI evaluation jobs) next to the server: not used here
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    }
    return Server("the MLflow UI", mlflow_command(tracking_uri, host, port), f"http://{url_host(host)}:{port}",
                  "/health", log_dir / "mlflow.log", env)


def dashboard_server(storage_url: str, host: str, port: int, log_dir: Path) -> Server:
    return Server("the Optuna dashboard", dashboard_command(storage_url, host, port),
                  f"http://{url_host(host)}:{port}", "/api/meta", log_dir / "optuna-dashboard.log")


def experiment_id(server: Server, name: str) -> str | None:
    """The id of MLflow experiment ``name`` through the running server, or None if there is none."""
    query = urllib.parse.urlencode({"experiment_name": name})
    try:
        data = server.get_json(f"/api/2.0/mlflow/experiments/get-by-name?{query}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return str(data["experiment"]["experiment_id"])


def dashboard_study_id(server: Server, name: str) -> int | None:
    """The dashboard's id of Optuna study ``name``, or None if the storage has no such study."""
    for study in server.get_json("/api/studies").get("study_summaries", []):
        if study.get("study_name") == name:
            return int(study["study_id"])
    return None
