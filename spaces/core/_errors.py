"""The one exception family every user-facing error belongs to.

Each error names the offending field, states the rule, shows what it got and,
where it can, suggests the fix. The CLI turns any :class:`TuneforgeError` into
exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

PathPart = str | int


def format_path(path: Sequence[PathPart]) -> str:
    """Render ``("space", "units", "low")`` as ``space.units.low`` and list items as ``[i]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` suffix, or an empty string when nothing is close."""
    close = difflib.get_close_matches(str(word), sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


class TuneforgeError(Exception):
    """Base of every error a user can cause; carries where it happened.

    ``path`` is the field inside the study file (``("space", "units", "low")``);
    ``source`` the file and ``line`` the line in it, filled in by the loader when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Sequence[PathPart] = (),
        source: str | None = None,
        line: int | None = None,
        hint: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        self.source = source
        self.line = line
        self.hint = hint

    def located(self, *, source: str | None = None, line: int | None = None,
                prefix: Sequence[PathPart] = ()) -> TuneforgeError:
        """Fill in the file, line and a path prefix if they are not known yet; returns self."""
        if prefix:
            self.path = tuple(prefix) + self.path
        if self.source is None and source is not None:
            self.source = source
        if self.line is None and line is not None:
            self.line = line
        return self

    def __str__(self) -> str:
        where = ""
        if self.source:
            where = f"{self.source}:{self.line}: " if self.line else f"{self.source}: "
        field = f"{format_path(self.path)}: " if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{field}{self.message}{hint}"


class SpecError(TuneforgeError, ValueError):
    """A study or space specification breaks a rule (bad value, unknown key, cycle...)."""


class SourceError(TuneforgeError, OSError):
    """A file cannot be read: missing, a directory, too large, not UTF-8, not parseable."""


class StorageError(TuneforgeError):
    """The study storage (or the tracking store) cannot be opened or used."""


class WorkerError(TuneforgeError):
    """A worker stopped on an error every worker would hit (the study or the storage is broken)."""


class TrackingUriError(TuneforgeError):
    """The MLflow tracking URI names no store MLflow knows."""
