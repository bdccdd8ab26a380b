"""Which study a worker in ``--all`` mode serves next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from search.control._store import StudyRecord


def study_order(records: Sequence[StudyRecord], *, running: Mapping[str, int],
                trials: Mapping[str, int]) -> list[StudyRecord]:
    """Studies in the order a worker should try them.

    Higher ``priority`` first: a study gets every worker until it has no trial left to
    hand out. Studies of equal priority share the workers: the one with the fewest
    trials running now goes first, then the one with the fewest trials so far, then
    the oldest submission, so N workers spread evenly over equal studies.
    """
    return sorted(records, key=lambda r: (-r.priority, running.get(r.name, 0), trials.get(r.name, 0),
                                          r.submitted_at, r.name))
