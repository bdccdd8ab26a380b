"""What the nodes of a Ray cluster must reach: the study storage and the MLflow tracking store.

* Storage: PostgreSQL is reached directly. A local journal/SQLite file is served by the driver
  through Optuna's gRPC storage proxy on this node's address (``grpc://HOST:PORT`` in the plan
  the actors get).
* Tracking: a server (``http(s)://``, ``databricks``...) is reached directly. A local file/SQLite
  store is reachable only when every node runs on this machine; otherwise the run is refused
  with what to pass (``--tracking-uri`` of an ``mlflow server`` the nodes reach).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

from spaces.core import TuneforgeError, Url


class ReachError(TuneforgeError):
    """A store of the run cannot be reached from the Ray cluster's nodes."""


def needs_storage_proxy(storage_url: Url) -> bool:
    """True for a storage that lives in a file on this machine (journal, SQLite)."""
    return storage_url.local_path is not None


def check_tracking_reachable(tracking_uri: Url, node_hosts: Iterable[str], driver_host: str) -> None:
    """Refuse a local tracking store when a node runs on another machine (ReachError says what to pass)."""
    if tracking_uri.local_path is None and tracking_uri.scheme:  # a server (a plain path has no scheme)
        return
    others = sorted({h for h in node_hosts if h != driver_host})
    if others:
        raise ReachError(
            f"--tracking-uri {tracking_uri} is a store on this machine, which Ray nodes {', '.join(others)} "
            f"cannot write to",
            hint="start an MLflow server the nodes reach (mlflow server --host 0.0.0.0 --port 5000 "
                 "--backend-store-uri postgresql://... --serves-artifacts) and pass "
                 "--tracking-uri http://THIS_HOST:5000, or set MLFLOW_TRACKING_URI",
        )


def free_port(host: str) -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class StorageProxy:
    """Optuna's gRPC storage proxy for a local study file, served from the driver on ``host``."""

    def __init__(self, storage_url: Url, host: str) -> None:
        from optuna.storages._grpc.server import make_server  # run_grpc_proxy_server, without its endless wait

        from search.storage import get_storage

        self.port = free_port(host)
        self.url = Url.parse(f"grpc://{host}:{self.port}")
        self.server: Any = make_server(get_storage(storage_url), host, self.port)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=1.0)
