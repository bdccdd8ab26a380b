"""Study control: tuneforge's own table of submitted studies (status, priority, plan) in the study storage.

``tuneforge submit`` writes a row, ``tuneforge pause|resume|cancel`` change its
status, ``tuneforge worker`` reads it to choose what to run, ``tuneforge status``
lists it. The table lives in the same database as the Optuna study storage
(PostgreSQL, SQLite; a SQLite file beside a journal storage) and is created and
migrated safely when many workers start at once.
"""

from search.control._commands import change_status
from search.control._order import study_order
from search.control._store import ACTIVE, ControlError, ControlStore, Status, StudyRecord

__all__ = ["ACTIVE", "ControlError", "ControlStore", "Status", "StudyRecord", "change_status", "study_order"]
