"""The Ray executor: a run's workers as Ray actors, placed by Ray, watched and replaced by the driver.

``tuneforge run STUDY --ray ADDRESS`` makes the run process the Ray driver (ADDRESS: ``auto``,
``HOST:PORT``, ``ray://HOST:10001``, or ``local`` for a Ray instance on this machine).

* Each worker is a :class:`~search.executors._ray_actor.TrialWorker` actor asking for
  ``num_cpus`` and ``num_gpus = 1/K``; it caps TensorFlow's GPU memory at its share itself.
* The driver loads the data once and puts it in the object store; the actors never read a data file.
  A study with a custom builder ships its folder as the job's ``runtime_env`` working directory.
* The study storage and the tracking store are made reachable (``search.executors._ray_reach``);
  the "count, then start a trial" lock is a lock actor (``StudyLockKeeper``).
* A lost actor (its node died, it was killed) has its running trial failed as lost (one retry
  queued, its MLflow run FAILED via ``on_lost``) and is replaced; Ray places the replacement
  on a node that has room. The actors are owned by the driver: if the driver dies, Ray kills them.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.executors._base import Executor, ExecutorReport
from search.executors._ray_actor import StudyLockKeeper, TrialWorker
from search.executors._ray_plan import ActorSpec, plan_actors
from search.executors._ray_reach import StorageProxy, check_tracking_reachable, needs_storage_proxy
from spaces.core import TuneforgeError, Url

if TYPE_CHECKING:
    from search.workers._plan import RunPlan

SHIP_EXCLUDES = [".tuneforge", ".tuneforge/**", "mlruns", "mlartifacts", "models", ".git", "*.journal", "*.db"]


class RayError(TuneforgeError):
    """The Ray cluster cannot be used (not reachable, Ray not installed)."""


@dataclass
class _Actor:
    spec: ActorSpec
    worker_id: str
    handle: Any
    where: Any  # ObjectRef of where(): ready once the actor is placed and has imported TensorFlow
    work: Any = None  # ObjectRef of work(), once the plan is handed over
    restarts: int = 0
    node: str | None = None


def connect(address: str, *, ship_dir: Path | None = None) -> Any:
    """``ray.init`` for ``--ray ADDRESS``; ``local`` starts a Ray instance on this machine."""
    try:
        import ray
    except ImportError:
        raise RayError("--ray needs Ray, which is not installed",
                       hint="pip install 'tuneforge[ray]' (Ray >= 2.40 with its default components)") from None
    _check_answers(address)
    runtime_env: dict[str, Any] = {}
    if ship_dir is not None:
        runtime_env = {"working_dir": str(ship_dir), "excludes": SHIP_EXCLUDES,
                       "env_vars": {"TUNEFORGE_SHIPPED_DIR": "1"}}
    refused = getattr(ray.exceptions, "AuthenticationError", RuntimeError)  # Ray >= 2.5x: token authentication
    try:
        return ray.init(address=None if address == "local" else address, runtime_env=runtime_env or None,
                        logging_level="WARNING", log_to_driver=bool(os.environ.get("TUNEFORGE_RAY_LOGS")))
    except refused as exc:
        raise RayError(f"--ray {address}: the cluster refused this run: {str(exc).split('. ')[0]}",
                       hint="the cluster uses Ray's token authentication: make its token available here as "
                            "~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN (never on a command line)"
                       ) from None
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"--ray {address}: cannot connect to the Ray cluster: {str(exc).splitlines()[0]}",
                       hint="start one with `ray start --head` (then --ray auto or HOST:6379), "
                            "or use --ray local") from None


def _check_answers(address: str, timeout: float = 5.0) -> None:
    """Fail fast on ``HOST:PORT`` / ``ray://HOST:PORT`` that does not answer (``ray.init`` retries for minutes)."""
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # auto, local: Ray finds the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RayError(f"--ray {address}: nothing answers there ({exc.strerror or exc})",
                       hint="start the head with `ray start --head` and pass the address it prints "
                            "(HOST:6379, or ray://HOST:10001 for the Ray client), or use --ray local") from None


class RayActors(Executor):
    """Owns the worker actors of one ``tuneforge run --ray``."""

    def __init__(self, slots: list[Any], log_dir: Path, *, address: str, workers: int | None = None,
                 use_gpus: bool = True, trials_per_gpu: int = 1, ship_dir: Path | None = None,
                 tracking_uri: Url | None = None, max_restarts: int = 3, interval: float = 0.5) -> None:
        """``slots`` and ``log_dir`` are this machine's (unused: Ray places the actors by the cluster's
        resources, and their logs are Ray's); ``tracking_uri`` is checked at :meth:`boot`, before the study
        is prepared (a refusal writes nothing). :func:`ray_options` makes the keywords from a study."""
        self.address, self.workers, self.use_gpus, self.tracking_uri = address, workers, use_gpus, tracking_uri
        self.trials_per_gpu, self.ship_dir = trials_per_gpu, ship_dir
        self.max_restarts, self.interval = max_restarts, interval
        self.actors: dict[int, _Actor] = {}
        self.report = ExecutorReport()
        self.plan: RunPlan | None = None
        self.node_plan: RunPlan | None = None
        self.dashboard: str | None = None
        self.chief_host = "127.0.0.1"
        self._data: Any = None
        self._lock: Any = None
        self._lock_name = f"tuneforge-lock-{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self._hooks: dict[str, Any] = {}
        self._connected = False

    # --- lifecycle -------------------------------------------------------------------
    def boot(self) -> None:
        """Connect to the cluster and start the actors (they import TensorFlow while the study is prepared)."""
        import ray

        context = connect(self.address, ship_dir=self.ship_dir)
        self._connected = True
        try:
            self.dashboard = _http(getattr(context, "dashboard_url", None))
            self.chief_host = ray.util.get_node_ip_address()
            if self.tracking_uri:
                check_tracking_reachable(self.tracking_uri, _node_hosts(), self.chief_host)
                print_addresses(self.dashboard, self.tracking_uri)
            gpus = int(ray.cluster_resources().get("GPU", 0))
            for spec in plan_actors(cluster_gpus=gpus, trials_per_gpu=self.trials_per_gpu, workers=self.workers,
                                    use_gpus=self.use_gpus):
                self.actors[spec.index] = self._start(spec, restarts=0)
        except BaseException:
            self.abort()
            raise

    def share(self, dataset: Any) -> None:
        """Put the run's data in the object store once; every actor gets it from there."""
        import ray

        self._data = ray.put(dataset)

    @property
    def size(self) -> int:
        return len(self.actors)

    def abort(self) -> None:
        """Stop booted actors that never got a plan, and disconnect."""
        self._kill_all()
        self.close()

    def close(self) -> None:
        """Disconnect from the cluster (``local``: stop the Ray instance this run started)."""
        import ray

        if self._connected:
            ray.shutdown()
            self._connected = False

    def _start(self, spec: ActorSpec, *, restarts: int) -> _Actor:
        import ray

        worker_id = f"ray-{socket.gethostname()}-{os.getpid()}-w{spec.index}" + (f"-r{restarts}" if restarts else "")
        handle = ray.remote(TrialWorker).options(num_cpus=spec.num_cpus, num_gpus=spec.num_gpus, max_restarts=0,
                                                 name=None).remote(spec.env)
        actor = _Actor(spec, worker_id, handle, handle.where.remote(), restarts=restarts)
        if self.node_plan is not None:
            self._hand_plan(actor)
        return actor

    def _hand_plan(self, actor: _Actor) -> None:
        env = {"TUNEFORGE_RAY_LOCK": self._lock_name}
        if self._hooks.get("worker_env"):
            env.update(self._hooks["worker_env"](actor.spec.index))
        actor.work = actor.handle.work.remote(self.node_plan, env, actor.worker_id, actor.spec.index, self._data)

    # --- the run ---------------------------------------------------------------------
    def run(self, plan: RunPlan, *, tick: Callable[[], None] | None = None,
            on_lost: Callable[[list[Any], str], None] | None = None,
            worker_env: Callable[[int], dict[str, str]] | None = None, retry_lost: bool = True,
            on_gone: Callable[[int, str], None] | None = None) -> ExecutorReport:
        """Hand ``plan`` to the actors and watch them until every one has finished; Ctrl-C stops them."""
        if not self._connected:
            self.boot()
        self.plan = plan
        self._hooks = {"on_lost": on_lost, "worker_env": worker_env, "retry_lost": retry_lost, "on_gone": on_gone}
        check_tracking_reachable(plan.tracking_uri, _node_hosts(), self.chief_host)  # nodes may have joined since boot
        proxy = StorageProxy(plan.storage_url, self.chief_host) if needs_storage_proxy(plan.storage_url) else None
        try:
            self._lock = _start_lock_keeper(self._lock_name)
            self.node_plan = replace(plan, storage_url=proxy.url if proxy else plan.storage_url)
            for actor in self.actors.values():
                self._hand_plan(actor)
            while self.actors:
                self._poll()
                if tick is not None:
                    tick()
        except KeyboardInterrupt:
            self.stop("interrupted (Ctrl-C)")
            raise
        finally:
            if proxy is not None:
                proxy.stop()
        self._recover(None, "its worker exited while it was running")  # orphans, if any
        return self.report

    def _poll(self) -> None:
        import ray

        refs = {a.where: a for a in self.actors.values() if a.node is None}
        refs.update({a.work: a for a in self.actors.values() if a.work is not None})
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=self.interval)
        for ref in ready:
            actor = refs[ref]
            if ref == actor.where and actor.node is None:
                self._placed(actor)
            elif ref == actor.work:
                self._finished(actor)
        self._drop_idle_replacements()

    def _placed(self, actor: _Actor) -> None:
        import ray

        try:
            actor.node = ray.get(actor.where)["node"]
        except ray.exceptions.RayActorError as exc:
            self._lost(actor, exc)

    def _finished(self, actor: _Actor) -> None:
        import ray

        from spaces.core import WorkerError

        try:
            ray.get(actor.work)
        except ray.exceptions.RayTaskError as exc:  # the worker loop raised (first: its cause may be an actor error)
            cause = exc.cause
            self.stop("another worker hit an error in the study")
            if isinstance(cause, TuneforgeError):
                raise WorkerError(f"worker {actor.spec.index} stopped: {cause}") from None
            raise WorkerError(f"worker {actor.spec.index} crashed: {type(cause).__name__}: {cause}",
                              hint="the traceback is in the Ray dashboard's logs of the TrialWorker actor") from None
        except ray.exceptions.RayActorError as exc:  # its node died, or it was killed: Ray's ActorDiedError
            self._lost(actor, exc)
            return
        ray.kill(actor.handle)  # done: free its CPU/GPU share for a replacement waiting for room
        del self.actors[actor.spec.index]

    def _lost(self, actor: _Actor, exc: BaseException) -> None:
        where = f" on node {actor.node[:12]}" if actor.node else ""
        reason = f"worker {actor.worker_id}{where} was lost ({str(exc).strip().splitlines()[0][:200]})"
        self.report.deaths.append(reason)
        self._recover({actor.worker_id}, reason)
        if actor.restarts < self.max_restarts and not self._deadline_passed():
            self.actors[actor.spec.index] = self._start(actor.spec, restarts=actor.restarts + 1)
            self.report.restarts += 1
        else:
            del self.actors[actor.spec.index]
            if self._hooks.get("on_gone"):
                self._hooks["on_gone"](actor.spec.index, reason)

    def _drop_idle_replacements(self) -> None:
        """Replacements still waiting for room are not needed once the study has no trial left to run."""
        import ray

        if any(a.node is not None for a in self.actors.values()) or not self._hooks.get("retry_lost"):
            return
        if not self.actors or not (self._deadline_passed() or _study_done(self.plan)):
            return
        for actor in self.actors.values():
            ray.kill(actor.handle)
        self.actors.clear()

    def _recover(self, workers: set[str] | None, reason: str) -> None:
        self._recover_lost(workers, reason, retry=self._hooks.get("retry_lost", True),
                           on_lost=self._hooks.get("on_lost"))

    def stop(self, reason: str) -> None:
        """Kill every actor (Ray gives no graceful stop to a remote process) and recover its trial."""
        self._kill_all()
        if self.plan is not None:
            self._recover(None, reason)

    def _kill_all(self) -> None:
        import ray

        for actor in self.actors.values():
            try:
                ray.kill(actor.handle, no_restart=True)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
        self.actors.clear()
        if self._lock is not None:
            ray.kill(self._lock)
            self._lock = None


def _start_lock_keeper(name: str) -> Any:
    """The study's lock actor, pinned to the driver's node (it dies only with the driver) and restarted
    in place if its process dies (an empty lock is a correct lock)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(StudyLockKeeper).options(name=name, num_cpus=0, max_restarts=-1,
                                               scheduling_strategy=here).remote()


def _node_hosts() -> list[str]:
    import ray

    return [n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")]


def _http(address: str | None) -> str | None:
    """The dashboard's page: Ray gives ``HOST:PORT`` (older releases) or a full address."""
    if not address:
        return None
    return address if "://" in address else f"http://{address}"


def _study_done(plan: RunPlan) -> bool:
    """No retry waiting and the budget counted full: nothing left for a new worker to run."""
    import optuna
    from optuna.trial import TrialState as OState

    from search.storage import counts_toward_budget, get_storage

    study = optuna.load_study(study_name=plan.study_name, storage=get_storage(plan.storage_url))
    trials = study.get_trials(deepcopy=False)
    if any(t.state == OState.WAITING for t in trials):
        return False
    return sum(counts_toward_budget(t) for t in trials) >= plan.budget


def print_addresses(dashboard: str | None, tracking_uri: Url) -> None:
    """One line on stderr: where to watch the run (Ray dashboard beside MLflow; the Url prints redacted)."""
    print(f"Ray dashboard: {dashboard or 'not running (start Ray with its dashboard)'}; MLflow: {tracking_uri}",
          file=sys.stderr, flush=True)


def ray_options(study: Any, address: str, *, workers: int | None, gpus: str | list[int] | None,
                trials_per_gpu: int | None, tracking_uri: Url | None = None) -> dict[str, Any]:
    """:class:`RayActors`' keywords for ``study``; each argument, when given, overrides the study's ``resources``."""
    from search.workers import DeviceError

    resources = study.spec.resources
    select = gpus if gpus is not None else resources.gpus
    if isinstance(select, list):
        raise DeviceError(f"--gpus / resources.gpus takes auto or none with --ray, but got {select}: "
                          "Ray chooses each actor's GPU", hint="use gpus: auto (Ray's GPUs) or none (CPU only)")
    if workers is None and "workers" in study.spec.search.model_fields_set:
        workers = study.spec.search.workers
    custom = not isinstance(study.spec.model, str)  # a builder module: ship the study folder with the job
    return {"address": address, "workers": workers, "use_gpus": select != "none",
            "trials_per_gpu": trials_per_gpu or resources.trials_per_gpu,
            "ship_dir": study.base_dir if custom else None, "tracking_uri": tracking_uri}
