"""The study storage: the trial ledger every engine writes, and tuneforge's own tables beside it.

One parsed :class:`~spaces.core.Url` names it; :func:`get_storage` opens it once per process;
:class:`StudyLock` makes "count the trials, then start one" one step across workers;
heartbeats and :func:`recover_lost_trials` fail (and retry once) the trials of workers that
went away; :func:`ensure_schema` creates tuneforge's control tables safely.
"""

from search.storage._heartbeat import GRACE_PERIOD, HEARTBEAT_INTERVAL, Heartbeat
from search.storage._heartbeat import fail_stale_trials, supports_heartbeats
from search.storage._lock import StudyLock
from search.storage._open import control_url, get_storage
from search.storage._sql import cannot_open, sql_engine
from search.storage._recovery import LOST, LostTrial, counts_toward_budget, enqueue_retry, recover_lost_trials
from search.storage._schema import SCHEMA_VERSION, ensure_schema, schema_lock, studies
from search.storage._study import stored_study
from spaces.core import StorageError, Url, resolve_storage_url

__all__ = ["GRACE_PERIOD", "HEARTBEAT_INTERVAL", "LOST", "SCHEMA_VERSION", "Heartbeat", "LostTrial", "StorageError",
           "StudyLock", "Url", "cannot_open", "control_url", "counts_toward_budget", "enqueue_retry",
           "ensure_schema", "fail_stale_trials", "get_storage", "recover_lost_trials", "resolve_storage_url",
           "schema_lock", "sql_engine", "stored_study", "studies", "supports_heartbeats"]
