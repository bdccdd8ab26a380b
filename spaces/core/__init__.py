"""The neutral core at the bottom of the import graph: errors, trial states, the work directory, URLs.

``spaces``, ``search`` and ``tracking`` all import it; it imports nothing of theirs.
"""

from spaces.core._errors import (
    SourceError,
    SpecError,
    StorageError,
    TrackingUriError,
    TuneforgeError,
    WorkerError,
    did_you_mean,
    format_path,
)
from spaces.core._observer import TrialEnd, TrialInfo, TrialObserver
from spaces.core._states import TrialState
from spaces.core._url import Url, resolve_storage_url, resolve_tracking_uri
from spaces.core._workdir import workdir

__all__ = ["SourceError", "SpecError", "StorageError", "TrialEnd", "TrialInfo", "TrialObserver", "TrialState",
           "TrackingUriError", "TuneforgeError", "Url", "WorkerError", "did_you_mean", "format_path", "resolve_storage_url",
           "resolve_tracking_uri", "workdir"]
