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
import base64
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from monitor.deliver import Notifier
from monitor.deliver.retry import next_delay
from monitor.errors import DeliveryError, StorageError
from monitor.log import get_logger
from monitor.metrics import Metrics
from monitor.models import Batch, BatchKind, DeliveryResult
from monitor.notices import Notices
from monitor.redact import redact
from monitor.store import NoticeStore, OutboxRow, OutboxStore, StoreThread

log = get_logger("monitor.outbox")

LEASE_MARGIN = 15.0  # seconds beyond a channel's own timeout before a lease runs out
IDLE_WAIT = 30.0


def _timeout(notifier: Notifier) -> float:
    return notifier.channel.timeout


class _Store(OutboxStore, NoticeStore, Protocol):
    """The outbox, and the notices of channels that fail."""


class OutboxWorker:
    def __init__(
        self,
        store: _Store,
        notifiers: Mapping[str, Notifier],
        *,
        clock: Callable[[], float] = time.time,
        notices: Notices | None = None,
        db: StoreThread | None = None,
        owner: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.owner = owner  # the daemon's id, on every alert it leases
        self.notifiers = dict(notifiers)
        self.clock = clock
        self.notices = notices or Notices(store, None, clock)
        self.db = db or StoreThread()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._senders: dict[str, asyncio.Task[None]] = {}
        # failed sends in a row per channel, in this process: the first retry of a streak is
        # logged at warning, the rest at debug, and the first success says it is over
        self._failing: dict[str, int] = {}

    def set_notifiers(self, notifiers: Mapping[str, Notifier]) -> None:
        """Channels changed on reload; a send in flight finishes on the notifier it started on."""
        self.notifiers = dict(notifiers)
        self.wake()

    def wake(self) -> None:
        """Look for due alerts now; safe to call from any thread (notices are queued on the
        store thread)."""
        loop = self._loop
        if loop is None or _in_loop(loop):
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def send_next(self, channel: str) -> bool:
        """Lease and send the next due alert of `channel`; False when none is due."""
        self._loop = asyncio.get_running_loop()
        notifier = self.notifiers.get(channel)
        if notifier is None:
            return False
        rows = await self.db.call(
            self.store.claim_next,
            channel,
            now=self.clock(),
            lease=_timeout(notifier) + LEASE_MARGIN,
            owner=self.owner,
        )
        if not rows:
            return False
        await self._send(notifier, rows)
        return True

    async def drain(self) -> None:
        """Send everything that is due now, channels side by side (`run --once`, tests)."""

        async def channel_drain(name: str) -> int:
            sent = 0
            while not self._stopping and await self.send_next(name):
                sent += 1
            return sent

        # again until quiet: a send can queue a notice for another channel
        while any(await asyncio.gather(*(channel_drain(n) for n in list(self.notifiers)))):
            pass

    async def run(self) -> None:
        """Keep sending until stopped: one sender per channel, woken by new alerts."""
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            for name in self.notifiers:
                task = self._senders.get(name)
                if task is None or task.done():
                    self._senders[name] = asyncio.create_task(self._drain_channel(name))
            try:
                due = await self.db.call(self.store.next_due)
            except StorageError as e:
                log.error("storage_failed", error=str(e))
                due = None
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

    async def _send(self, notifier: Notifier, rows: list[OutboxRow]) -> None:
        first = rows[0]
        ids = [r.id for r in rows]
        batch = make_batch(rows) if first.batch else None
        message_id = batch.id if batch else first.id
        clog = log.bind(channel=first.channel, alert=message_id, attempt=first.attempts)
        try:
            if batch is not None:
                result: DeliveryResult = await notifier.send_batch(batch)
            else:
                result = await notifier.send(first.alert)
        except DeliveryError as e:
            await self.db.call(self._failed, rows, message_id, e)
            return
        except Exception as e:  # a bug in a channel must not stop the worker
            clog.exception("delivery_crashed")
            error = DeliveryError(f"unexpected {type(e).__name__}: {e}", first.channel)
            await self.db.call(self._failed, rows, message_id, error)
            return
        now = self.clock()
        await self.db.call(self.store.mark_sent, ids, now=now, status_code=result.status)
        kind = batch.kind if batch is not None else "alert"
        self.metrics.sent(first.channel, [r.created for r in rows], now=now, kind=kind)
        clog.info("alert_sent", status=result.status, alerts=len(ids))
        if failures := self._failing.pop(first.channel, 0):
            clog.info("channel_recovered", failures=failures)
        await self.db.call(self.notices.channel_ok, first.channel)

    def _failed(self, rows: list[OutboxRow], message_id: str, error: DeliveryError) -> None:
        """Record a failed send (on the store thread): retry later, or give up."""
        now = self.clock()
        first = rows[0]
        ids = [r.id for r in rows]
        oldest = min(r.created for r in rows)
        reason = redact(str(error))  # stored and shown by `monitor deliveries`
        streak = self._failing[first.channel] = self._failing.get(first.channel, 0) + 1
        self.metrics.delivery_errors.labels(first.channel).inc(len(ids))
        self.notices.channel_failed(first.channel, reason)
        delay = next_delay(first.attempts, error, first_attempt_age=now - oldest)
        if delay is None:
            self.store.mark_failed(ids, now=now, error=reason, status_code=error.status)
            self.metrics.alerts_failed.labels(first.channel).inc(len(ids))
            log.warning("delivery_failed", channel=first.channel, alert=message_id, error=reason)
            return
        self.store.mark_retry(
            ids,
            now=now,
            next_attempt_at=now + delay,
            error=reason,
            status_code=error.status,
        )
        (log.warning if streak == 1 else log.debug)(
            "delivery_retry",
            channel=first.channel,
            alert=message_id,
            attempt=first.attempts,
            failures=streak,
            retry_in=round(delay, 1),
            error=reason,
        )


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def batch_id(alert_ids: Iterable[str]) -> str:
    """A batch's idempotency key: the same alerts always make the same id."""
    digest = hashlib.sha256("\n".join(sorted(alert_ids)).encode()).digest()
    return "bat_" + base64.b32encode(digest).decode().lower().rstrip("=")[:32]


def make_batch(rows: list[OutboxRow]) -> Batch:
    """The message for rows queued together (a channel digest or a rule's overflow summary)."""
    key = rows[0].batch or "digest"
    kind: BatchKind = "digest" if key == "digest" else "summary"
    return Batch(
        id=batch_id(r.id for r in rows),
        channel=rows[0].channel,
        kind=kind,
        alerts=tuple(r.alert for r in rows),
        created=datetime.fromtimestamp(max(r.created for r in rows), UTC),  # same on resends
        rule=key.split(":", 1)[1] if kind == "summary" else None,
        since=datetime.fromtimestamp(min(r.created for r in rows), UTC),
    )
