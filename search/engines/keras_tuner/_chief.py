"""Keras Tuner's chief: the oracle, its saved state under ``.tuneforge/``, and its gRPC service.

``tuneforge run`` is the chief. Workers reach the oracle through Keras Tuner's own
``OracleClient`` (``KERASTUNER_ORACLE_IP/PORT``, ``KERASTUNER_TUNER_ID``). The
oracle's files (``oracle.json``, ``trial_*/trial.json``) live in
``.tuneforge/keras_tuner/<study>/``, never in the working directory; running the
study again reloads them and continues.
"""

from __future__ import annotations

from concurrent import futures
from pathlib import Path
from typing import Any

from search.engines._base import Chief as EngineChief
from search.engines.keras_tuner._oracle import make_oracle
from search.spec import Study
from spaces.core import workdir

HOST = "127.0.0.1"


def kt_directory(study_name: str) -> Path:
    """Where Keras Tuner keeps a study's oracle state: ``.tuneforge/keras_tuner/<study>/``."""
    return workdir() / "keras_tuner" / study_name


class Chief(EngineChief):
    """Owns a study's oracle and serves it to the workers until :meth:`stop`."""

    def __init__(self, study: Study, *, budget: int, seed: int | None, directory: Path | None = None,
                 host: str = HOST) -> None:
        """``host``: the address the workers reach the oracle on (a Ray cluster's nodes: this node's IP)."""
        from search._quiet import import_tensorflow_quietly

        import_tensorflow_quietly()  # keras_tuner imports keras: keep TensorFlow's start-up noise off the screen
        self.study = study
        project = directory or kt_directory(study.name)
        self.oracle = make_oracle(study, budget=budget, seed=seed)
        self.oracle._set_project_dir(str(project.parent), project.name)  # noqa: SLF001 - KT's own API for this
        if (Path(self.oracle._project_dir) / "oracle.json").exists():  # noqa: SLF001
            self.oracle.reload()  # trials running when the last run stopped go back in the retry queue
        self.oracle.max_trials = budget  # not part of the saved state: this run's budget applies
        self.oracle.save()
        self.server: Any = None
        self.host = host
        self.port = 0

    @property
    def project_dir(self) -> Path:
        return Path(self.oracle._project_dir)  # noqa: SLF001

    def start(self) -> None:
        """Serve the oracle on a free local port (Keras Tuner's ``OracleServicer``)."""
        import grpc
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(self.oracle), self.server)
        self.port = self.server.add_insecure_port(f"{self.host}:0")
        self.server.start()

    def worker_env(self, index: int) -> dict[str, str]:
        """The environment that makes worker ``index`` a Keras Tuner worker with a stable tuner id.

        A restarted worker keeps its slot's tuner id, so the oracle hands it the trial
        its predecessor was running: the trial is retried, not lost.
        """
        return {"KERASTUNER_ORACLE_IP": self.host, "KERASTUNER_ORACLE_PORT": str(self.port),
                "KERASTUNER_TUNER_ID": tuner_id(index)}

    def release(self, index: int, reason: str) -> str | None:
        """Send the trial of worker ``index`` (gone for good) back to the oracle's retry queue."""
        from keras_tuner.src.engine import trial as trial_module

        trial = self.oracle.ongoing_trials.get(tuner_id(index))
        if trial is None:
            return None
        trial.status = trial_module.TrialStatus.INVALID
        trial.message = reason
        self.oracle.end_trial(trial)
        return str(trial.trial_id)

    def executor_hooks(self) -> dict[str, Any]:
        """How the executor runs Keras Tuner workers: stable tuner ids; a worker gone for good frees its trial."""
        return {"worker_env": self.worker_env, "on_gone": self.release}

    def stop(self) -> None:
        """Stop serving and save the state; a trial still marked running is retried by the next run
        (Keras Tuner's reload queues it without counting it as a failure)."""
        if self.server is not None:
            self.server.stop(grace=1.0)
            self.server = None
        self.oracle.save()


def tuner_id(index: int) -> str:
    """Keras Tuner's id of worker slot ``index`` (never "chief": that name makes a process serve)."""
    return f"tuner-{index}"
