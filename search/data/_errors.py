"""The error every data problem raises: one line naming the file, the problem and the fix."""

from __future__ import annotations

from spaces import TuneforgeError


class DataError(TuneforgeError):
    """A dataset cannot be loaded or split: missing file, bad column, too few rows...

    ``source`` is the file (or the cache path a download should be at), ``hint``
    the suggested fix; ``str(error)`` renders ``source: message (hint)``.
    """


def rows_text(rows, *, limit: int = 5) -> str:
    """``'3, 8, 9'`` or ``'3, 8, 9, 11, 12, ...'`` for a sequence of row numbers."""
    rows = [int(r) for r in rows]
    text = ", ".join(str(r) for r in rows[:limit])
    return text + (", ..." if len(rows) > limit else "")


def count(n: int, word: str) -> str:
    """``'1 row'``, ``'3 rows'``."""
    return f"{n} {word}{'' if n == 1 else 's'}"
