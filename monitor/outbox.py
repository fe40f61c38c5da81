"""The outbox worker: sends queued alerts, marks them sent, retries with backoff.

Each due alert is leased in the store before it is sent (so two workers, or a worker that
dies mid-send, can't lose it or send it twice in a row), then sent in its own task: a
channel that hangs holds only its own alerts, cut off by the channel's timeout, never the
others. A success is marked ``sent`` and never sent again; a permanent failure is marked
``failed`` with the reason; anything else is retried on the backoff schedule of
``monitor.deliver.retry``. Every attempt is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping

from monitor.deliver import Notifier
from monitor.deliver.retry import next_delay
from monitor.errors import DeliveryError
from monitor.log import get_logger
from monitor.store import OutboxRow, Store

log = get_logger("monitor.outbox")

LEASE_MARGIN = 30.0  # seconds beyond a channel's own timeout before a lease runs out
IDLE_WAIT = 30.0


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        *,
        clock: Callable[[], float] = time.time,
        batch: int = 50,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.batch = batch
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    def set_notifiers(self, notifiers: Mapping[str, Notifier]) -> None:
        """Channels changed on reload; sends in flight finish on the notifier they started on."""
        self.notifiers = dict(notifiers)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _lease(self) -> float:
        timeouts = [n.channel.timeout for n in self.notifiers.values()]
        timeouts += [n.channel.smtp.timeout for n in self.notifiers.values()]
        return max(timeouts, default=60.0) + LEASE_MARGIN

    def start_due(self) -> int:
        """Lease every due alert and start sending each; returns how many were started."""
        rows = self.store.claim_due(
            now=self.clock(), lease=self._lease(), limit=self.batch, channels=self.notifiers
        )
        for row in rows:
            task = asyncio.create_task(self._send(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows)

    async def drain(self) -> None:
        """Send everything that is due now and wait for it (for `run --once` and tests)."""
        while self.start_due() or self._tasks:
            if self._tasks:
                await asyncio.wait(set(self._tasks))

    async def run(self) -> None:
        """Keep sending until stopped: wake on new alerts, else at the next due time."""
        while not self._stopping:
            started = self.start_due()
            if started == self.batch:
                await asyncio.sleep(0)
                continue
            due = self.store.next_due()
            wait = IDLE_WAIT if due is None else min(IDLE_WAIT, max(0.05, due - self.clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def stop(self, grace: float = 30.0) -> int:
        """Stop taking work and let sends in flight finish within `grace` seconds.

        Returns how many were still running and got cancelled (they stay in the outbox and
        are resent with the same alert id after their lease runs out).
        """
        self._stopping = True
        self.wake()
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)

    async def _send(self, row: OutboxRow) -> None:
        notifier = self.notifiers.get(row.channel)
        clog = log.bind(channel=row.channel, alert=row.id, attempt=row.attempts)
        if notifier is None:
            return
        try:
            result = await notifier.send(row.alert)
        except DeliveryError as e:
            self._failed(row, e)
            return
        except Exception as e:  # a bug in a channel must not stop the worker
            clog.exception("delivery_crashed")
            self._failed(row, DeliveryError(f"unexpected {type(e).__name__}: {e}", row.channel))
            return
        self.store.mark_sent(row.id, now=self.clock(), status_code=result.status)
        clog.info("alert_sent", status=result.status)

    def _failed(self, row: OutboxRow, error: DeliveryError) -> None:
        now = self.clock()
        age = now - row.created
        delay = next_delay(row.attempts, error, first_attempt_age=age)
        if delay is None:
            self.store.mark_failed(row.id, now=now, error=str(error), status_code=error.status)
            log.warning("delivery_failed", channel=row.channel, alert=row.id, error=str(error))
            return
        self.store.mark_retry(
            row.id,
            now=now,
            next_attempt_at=now + delay,
            error=str(error),
            status_code=error.status,
        )
        log.info(
            "delivery_retry",
            channel=row.channel,
            alert=row.id,
            attempt=row.attempts,
            retry_in=round(delay, 1),
            error=str(error),
        )
