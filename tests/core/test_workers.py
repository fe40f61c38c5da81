"""The worker pool runs tasks in other processes, kills a task at its deadline, survives a
worker's death, and switches set-ups only when the new workers are ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from monitor.errors import WorkerError
from monitor.workers import CpuPool
from tests.support import worktasks

T = TypeVar("T")


def with_pool(size: int, body: Callable[[CpuPool], Awaitable[T]], setup: str = "first") -> T:
    async def main() -> T:
        pool = CpuPool(size, (worktasks.configure, (setup,)))
        await pool.start()
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def test_task_runs_in_another_process_after_its_setup() -> None:
    async def body(pool: CpuPool) -> tuple[int, str | None, int]:
        return (
            await pool.run(5, worktasks.add, 2, 3),
            await pool.run(5, worktasks.setting),
            await pool.run(5, worktasks.pid),
        )

    total, setting, pid = with_pool(1, body)
    assert (total, setting) == (5, "first")
    assert pid != __import__("os").getpid()


def test_exception_in_a_task_fails_that_task_only() -> None:
    async def body(pool: CpuPool) -> tuple[str, int, int, int]:
        before = await pool.run(5, worktasks.pid)
        with pytest.raises(WorkerError) as caught:
            await pool.run(5, worktasks.raise_lookup)
        return str(caught.value), before, await pool.run(5, worktasks.pid), pool.workers

    error, before, after, workers = with_pool(1, body)
    assert error == "LookupError: unknown encoding: rot13"
    assert before == after and workers == 1  # the worker was fine: it is kept


def test_runaway_task_is_killed_at_its_deadline_and_its_worker_replaced() -> None:
    async def body(pool: CpuPool) -> tuple[float, bool, int, int, int]:
        first = await pool.run(5, worktasks.pid)
        started = time.perf_counter()
        with pytest.raises(WorkerError) as caught:
            await pool.run(0.5, worktasks.spin_forever)
        took = time.perf_counter() - started
        after = await pool.run(30, worktasks.pid)
        return took, caught.value.timed_out, first, after, await pool.run(5, worktasks.add, 1, 1)

    took, timed_out, first, after, total = with_pool(1, body)
    assert timed_out
    assert 0.5 <= took < 5
    assert after != first and total == 2  # a fresh worker, set up again, does the next task


def test_worker_that_dies_fails_its_task_and_is_replaced() -> None:
    async def body(pool: CpuPool) -> tuple[str, str | None]:
        with pytest.raises(WorkerError) as caught:
            await pool.run(5, worktasks.crash)
        return str(caught.value), await pool.run(30, worktasks.setting)

    error, setting = with_pool(1, body)
    assert "worker exited" in error
    assert setting == "first"  # the replacement ran the set-up before taking work


def test_waiting_for_a_free_worker_does_not_count_toward_the_deadline() -> None:
    async def body(pool: CpuPool) -> list[float]:
        # one worker, three tasks of 0.4 s each with a 1 s deadline: the last one waits
        # 0.8 s for the worker, and still finishes in time
        return list(await asyncio.gather(*(pool.run(1.0, worktasks.sleep_for, 0.4) for _ in "abc")))

    assert with_pool(1, body) == [0.4, 0.4, 0.4]


def test_reconfigure_switches_when_ready_and_a_failed_setup_keeps_the_old_one() -> None:
    async def body(pool: CpuPool) -> tuple[str | None, str, str | None, str | None]:
        await pool.reconfigure((worktasks.configure, ("second",)))
        switched = await pool.run(5, worktasks.setting)
        with pytest.raises(WorkerError) as caught:
            await pool.reconfigure((worktasks.refuse_setup, ("third",)))
        kept = await pool.run(5, worktasks.setting)
        with pytest.raises(WorkerError):  # a replacement after a kill gets the kept setup too
            await pool.run(0.3, worktasks.spin_forever)
        return switched, str(caught.value), kept, await pool.run(30, worktasks.setting)

    switched, error, kept, replaced = with_pool(2, body)
    assert switched == "second"
    assert error == "ValueError: cannot set up with 'third'"
    assert kept == "second" and replaced == "second"


def test_close_stops_every_worker() -> None:
    async def main() -> tuple[list[int], list[bool]]:
        pool = CpuPool(2, (worktasks.configure, ("x",)))
        await pool.start()
        pids = pool.pids()
        await pool.close()
        return pids, [_alive(p) for p in pids]

    pids, alive = asyncio.run(main())
    assert len(pids) == 2 and not any(alive)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
