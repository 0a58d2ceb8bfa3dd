"""emendo.synth.workers: ordered results, bounded look-ahead, and a loud stop when a worker dies."""

from __future__ import annotations

import os

import pytest

from emendo.synth.workers import OrderedWorkers, WorkerDied


def _square_or_die(x: int) -> int:
    if x < 0:
        os._exit(3)  # what a segfaulting engine library looks like from the parent
    return x * x


def test_results_come_in_input_order():
    with OrderedWorkers(2, start_method="fork", ahead=3) as pool:
        assert list(pool.map(_square_or_die, range(20))) == [x * x for x in range(20)]


def test_a_dead_worker_stops_the_run_with_a_clear_error():
    got = []
    with pytest.raises(WorkerDied, match="run the same command again"), \
            OrderedWorkers(2, start_method="fork", ahead=2) as pool:
        for y in pool.map(_square_or_die, [1, 2, -1, 4, 5, 6]):
            got.append(y)
    assert got == [1, 4]  # results before the crash were delivered, in order


def test_look_ahead_is_bounded():
    consumed = []

    def items():
        for x in range(100):
            consumed.append(x)
            yield x

    with OrderedWorkers(1, start_method="fork", ahead=3) as pool:
        it = pool.map(_square_or_die, items())
        assert next(it) == 0
        assert len(consumed) <= 4
        assert list(it)[-1] == 99 * 99


def _slow(x: int) -> int:
    import time

    time.sleep(30 if x else 0)
    return x


def test_an_error_in_the_consumer_stops_the_workers_at_once():
    import time

    t0 = time.monotonic()
    procs = None
    with pytest.raises(KeyError), OrderedWorkers(2, start_method="fork", ahead=3) as pool:
        for y in pool.map(_slow, [0, 1, 2, 3]):
            procs = list(pool._executor._processes.values())  # type: ignore[union-attr]
            assert y == 0
            raise KeyError("stop")
    assert procs
    # the executor's own thread may reap a child at the same moment (multiprocessing then reports it
    # alive for an instant): give the report a moment, far less than the 30 s the items would take
    while any(p.is_alive() for p in procs) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert not any(p.is_alive() for p in procs)
    assert time.monotonic() - t0 < 10
