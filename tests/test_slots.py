"""CPU slot planning: N workers split the cores instead of oversubscribing them."""

import pytest

from search.workers import plan_cpu_slots


@pytest.mark.parametrize(("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (4, 2, 1), (2, 8, 4), (3, 8, 2)])
def test_cores_are_split_between_workers(workers, cores, threads):
    slots = plan_cpu_slots(workers, cores)
    assert [s.index for s in slots] == list(range(workers))
    assert all(s.threads == threads for s in slots)
    assert all(s.env["TF_NUM_INTRAOP_THREADS"] == str(threads) for s in slots)
    assert all(s.env["OMP_NUM_THREADS"] == str(threads) for s in slots)
    assert all(s.env["CUDA_VISIBLE_DEVICES"] == "-1" and s.device == "cpu" for s in slots)
    assert sum(s.threads for s in slots) <= max(cores, workers)
