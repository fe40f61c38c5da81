"""The outbox worker: sends queued alerts, marks them sent, retries with backoff.

Each channel has its own sender that takes one due alert at a time: it leases the alert in
the store (committed before anything is sent), sends it, and records the outcome. So

- a channel that hangs holds only its own queue, cut off by the channel's timeout, never
  the other channels;
- alerts reach a channel in the order they were queued;
- a crash can leave at most one alert per channel sent-but-not-marked; it is resent after
  a restart with the same alert id, which receivers use to drop the copy.

A success is marked ``sent`` and never sent again; a permanent failure is marked ``failed``
with the reason; anything else is retried on the schedule of ``monitor.deliver.retry``.
Every attempt is recorded.
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
from monitor.models import DeliveryResult
from monitor.store import OutboxRow, Store

log = get_logger("monitor.outbox")

LEASE_MARGIN = 15.0  # seconds beyond a channel's own timeout before a lease runs out
IDLE_WAIT = 30.0


def _timeout(notifier: Notifier) -> float:
    channel = notifier.channel
    return channel.smtp.timeout if channel.type == "email" else channel.timeout


class OutboxWorker:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._senders: dict[str, asyncio.Task[None]] = {}

    def set_notifiers(self, notifiers: Mapping[str, Notifier]) -> None:
        """Channels changed on reload; a send in flight finishes on the notifier it started on."""
        self.notifiers = dict(notifiers)
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def send_next(self, channel: str) -> bool:
        """Lease and send the next due alert of `channel`; False when none is due."""
        notifier = self.notifiers.get(channel)
        if notifier is None:
            return False
        rows = self.store.claim_due(
            now=self.clock(),
            lease=_timeout(notifier) + LEASE_MARGIN,
            limit=1,
            channels=[channel],
        )
        if not rows:
            return False
        await self._send(notifier, rows[0])
        return True

    async def drain(self) -> None:
        """Send everything that is due now, channels side by side (`run --once`, tests)."""

        async def channel_drain(name: str) -> None:
            while not self._stopping and await self.send_next(name):
                pass

        await asyncio.gather(*(channel_drain(name) for name in list(self.notifiers)))

    async def run(self) -> None:
        """Keep sending until stopped: one sender per channel, woken by new alerts."""
        while not self._stopping:
            for name in self.notifiers:
                task = self._senders.get(name)
                if task is None or task.done():
                    self._senders[name] = asyncio.create_task(self._drain_channel(name))
            due = self.store.next_due()
            wait = IDLE_WAIT if due is None else min(IDLE_WAIT, max(0.05, due - self.clock()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def _drain_channel(self, name: str) -> None:
        try:
            while not self._stopping and await self.send_next(name):
                pass
        except Exception:  # the store failing is logged; the next wake-up tries again
            log.exception("sender_crashed", channel=name)

    async def stop(self, grace: float = 30.0) -> int:
        """Stop taking work and let sends in flight finish within `grace` seconds.

        Returns how many were cut off; their alerts stay in the outbox and are resent with
        the same id at the next start.
        """
        self._stopping = True
        self.wake()
        running = {t for t in self._senders.values() if not t.done()}
        if not running:
            return 0
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        return len(pending)

    async def _send(self, notifier: Notifier, row: OutboxRow) -> None:
        clog = log.bind(channel=row.channel, alert=row.id, attempt=row.attempts)
        try:
            result: DeliveryResult = await notifier.send(row.alert)
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
        delay = next_delay(row.attempts, error, first_attempt_age=now - row.created)
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
