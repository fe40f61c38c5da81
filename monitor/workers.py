"""CPU work off the event loop: a pool of worker processes with a deadline on every task.

Parsing a feed, extracting an article page and matching rules are pure functions of text
that strangers wrote. They run here, in worker processes, never on the event loop:

- Each task has a deadline. A task still running at its deadline has its process killed
  (SIGKILL) and replaced, and the caller gets a `WorkerError` with ``timed_out`` set: a
  pathological page costs its own item, never the feed, the daemon or the watchdog.
- A worker that dies (a crash in a C library, the out-of-memory killer) is replaced the
  same way; only the task it was running fails.
- Waiting for a free worker does not count toward a task's deadline.
- Every worker runs a setup task first (the compiled rules, see `monitor.tasks`) and takes
  work only once it is ready. `reconfigure` starts a new set of workers with a new setup
  (a reload) and switches to them only when all are ready, so a reload never stalls
  matching and a setup that fails leaves the old workers in charge.

Why processes and not threads: a thread cannot be stopped, and a C call (the HTML parser,
a regular expression) holds the interpreter lock for as long as it runs. Workers start
from a fork server (``forkserver``), a clean single-threaded process with the project's
modules imported, so a replacement is ready in milliseconds plus its setup.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, ParamSpec, TypeVar

from monitor.errors import WorkerError
from monitor.log import get_logger

log = get_logger("monitor.workers")

P = ParamSpec("P")
T = TypeVar("T")

Setup = tuple[Callable[..., Any], tuple[Any, ...]]
_ERROR_CHARS = 500  # of a task's exception text carried back to the parent
_RESPAWN_PAUSE = 5.0  # before starting a worker again after its setup failed
SETUP_DEADLINE = 600.0  # for a worker's setup (compiling 100,000 rules takes about 20 s)


def default_size() -> int:
    """One worker per core, at least one and at most four (the daemon is mostly waiting)."""
    return max(1, min(4, os.cpu_count() or 1))


def _serve(conn: Connection) -> None:
    """A worker's life: run each task it is sent, reply with its result or its failure."""
    # Ctrl-C and `systemctl stop` (SIGTERM to the whole control group) are the parent's to
    # handle: it finishes what it can and then stops us. If the parent dies instead, the
    # pipe closes and we return.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            ident, fn, args, kwargs = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or went away
            return
        try:
            reply: tuple[Any, ...] = (ident, True, fn(*args, **kwargs))
        except BaseException as e:  # every failure goes back as this task's failure
            reply = (ident, False, f"{type(e).__name__}: {e}"[:_ERROR_CHARS])
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as e:  # a result that cannot be pickled
            conn.send((ident, False, f"result not sendable: {type(e).__name__}: {e}"))


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    generation: int
    future: asyncio.Future[Any] | None = None
    ident: int = 0
    closed: bool = field(default=False)


class CpuPool:
    """`size` worker processes; `run` a function in one of them with a deadline."""

    def __init__(self, size: int | None = None, setup: Setup | None = None) -> None:
        self.size = size or default_size()
        self._setup = setup
        self._generation = 0
        self._workers: set[_Worker] = set()
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._closing = False
        self._respawns: set[asyncio.Task[None]] = set()
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["monitor.tasks"])

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start the workers and wait until each has run the setup; raises WorkerError if
        the setup fails (nothing is left running then)."""
        await self._start_generation(self._setup)

    async def reconfigure(self, setup: Setup) -> None:
        """Switch to workers set up with `setup` once all of them are ready. If the setup
        fails, the running workers stay in charge and WorkerError is raised."""
        await self._start_generation(setup)
        for worker in list(self._workers):
            if worker.generation != self._generation and worker.future is None:
                self._retire(worker)

    async def _start_generation(self, setup: Setup | None) -> None:
        generation = self._generation + 1
        started = [self._spawn(generation) for _ in range(self.size)]
        try:
            if setup is not None:
                await asyncio.gather(
                    *(self._call(w, setup[0], setup[1], {}, SETUP_DEADLINE) for w in started)
                )
        except BaseException:
            for worker in started:
                self._retire(worker)
            raise
        self._generation, self._setup = generation, setup
        for worker in started:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        """Stop every worker (tasks still running fail with WorkerError)."""
        self._closing = True
        for task in self._respawns:
            task.cancel()
        workers = list(self._workers)
        for worker in workers:
            self._retire(worker)
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(None, w.process.join, 5.0) for w in workers),
            return_exceptions=True,
        )

    @property
    def workers(self) -> int:
        """Worker processes alive now (of every generation)."""
        return len(self._workers)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    # ------------------------------------------------------------------ tasks

    async def run(
        self, deadline: float, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(*args, **kwargs)` in a worker; its result, or WorkerError when it raised, ran
        past `deadline` seconds (its worker is killed) or its worker died."""
        while True:
            if self._closing:
                raise WorkerError("the worker pool is closed")
            worker = await self._idle.get()
            if worker.closed:
                continue
            if worker.generation != self._generation:
                self._retire(worker)
                continue
            break
        try:
            result: T = await self._call(worker, fn, args, kwargs, deadline)
        finally:
            if not worker.closed:
                if worker.generation == self._generation and not self._closing:
                    self._idle.put_nowait(worker)
                else:
                    self._retire(worker)
        return result

    async def _call(
        self,
        worker: _Worker,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None = None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        worker.ident = next(self._ids)
        worker.future = future
        name = getattr(fn, "__qualname__", repr(fn))
        try:
            worker.conn.send((worker.ident, fn, args, kwargs))
        except (OSError, ValueError) as e:
            worker.future = None
            self._lost(worker, f"cannot reach worker: {type(e).__name__}: {e}")
            raise WorkerError(f"{name}: the worker process is gone") from e
        try:
            async with asyncio.timeout(deadline):
                return await future
        except TimeoutError as e:
            self._lost(worker, f"{name} ran past its {deadline:g}s deadline")
            raise WorkerError(
                f"{name} ran past its {deadline:g}s deadline; its worker was stopped",
                timed_out=True,
            ) from e
        except asyncio.CancelledError:
            self._lost(worker, f"{name} was cancelled")
            raise
        finally:
            worker.future = None

    # ------------------------------------------------------------------ workers

    def _spawn(self, generation: int) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_serve, args=(child,), name="monitor-worker", daemon=True
        )
        process.start()
        child.close()
        worker = _Worker(process, parent, generation)
        self._workers.add(worker)
        asyncio.get_running_loop().add_reader(parent.fileno(), self._readable, worker)
        return worker

    def _readable(self, worker: _Worker) -> None:
        try:
            ident, ok, value = worker.conn.recv()
        except (EOFError, OSError):
            code = worker.process.exitcode
            self._lost(worker, f"worker exited (code {code})" if code else "worker exited")
            return
        future = worker.future
        if future is None or future.done() or ident != worker.ident:
            return  # the answer to a task whose caller gave up
        if ok:
            future.set_result(value)
        else:
            future.set_exception(WorkerError(value))

    def _lost(self, worker: _Worker, why: str) -> None:
        """A worker that can no longer be trusted: kill it, fail its task, start another."""
        if worker.closed:
            return
        current = worker.generation == self._generation
        self._retire(worker)
        future = worker.future
        if future is not None and not future.done():
            future.set_exception(WorkerError(why))
        if current and not self._closing:
            log.warning("worker_replaced", pid=worker.process.pid, reason=why)
            task = asyncio.ensure_future(self._replace(worker.generation))
            self._respawns.add(task)
            task.add_done_callback(self._respawns.discard)

    async def _replace(self, generation: int) -> None:
        while not self._closing and generation == self._generation:
            worker = self._spawn(generation)
            try:
                if self._setup is not None:
                    await self._call(worker, self._setup[0], self._setup[1], {}, SETUP_DEADLINE)
            except WorkerError as e:
                self._retire(worker)
                log.error("worker_setup_failed", error=str(e), retry_in=_RESPAWN_PAUSE)
                await asyncio.sleep(_RESPAWN_PAUSE)
                continue
            if generation == self._generation and not self._closing:
                self._idle.put_nowait(worker)
            else:
                self._retire(worker)
            return

    def _retire(self, worker: _Worker) -> None:
        if worker.closed:
            return
        worker.closed = True
        self._workers.discard(worker)
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
