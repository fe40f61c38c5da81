"""The outbox worker against real receivers on 127.0.0.1, with an injectable clock.

Time is compressed: the worker's clock is a counter the test moves, so an hour-long outage
takes no wall time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from standardwebhooks import Webhook

from monitor.deliver import alert_id, build_notifier
from monitor.models import Alert, AlertRule, ChannelConfig, EmailChannel, Snippet, WebhookChannel
from monitor.outbox import OutboxWorker
from monitor.store import Store, open_store
from tests.support.receivers import Reply, WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make_alert(n: int, channel: str) -> Alert:
    text = f"Story {n}: Iran and al-Qaida"
    return Alert(
        id=alert_id(f"art_{n}", channel),
        channel=channel,
        article_id=f"art_{n}",
        title=f"Story {n}",
        url=f"https://example.org/{n}",
        source="Desk",
        published=None,
        rules=(AlertRule("iran-al-qaida", snippets=(Snippet("body", text, ((10, 14),)),)),),
        created=datetime.fromtimestamp(T0, UTC),
    )


def webhook(name: str, url: str, timeout: float = 5.0) -> ChannelConfig:
    return WebhookChannel(name=name, url=url, secret=SECRET, timeout=timeout)


def queue(store: Store, channel: str, count: int, clock: Clock) -> list[str]:
    alerts = [make_alert(n, channel) for n in range(count)]
    for a in alerts:
        assert store.enqueue(a, now=clock())
    return [a.id for a in alerts]


async def worker_for(store: Store, clock: Clock, *channels: ChannelConfig) -> OutboxWorker:
    return OutboxWorker(store, {c.name: build_notifier(c) for c in channels}, clock=clock)


async def close(worker: OutboxWorker) -> None:
    for n in worker.notifiers.values():
        await n.aclose()


def test_outage_of_a_hundred_alerts_loses_nothing_and_sends_nothing_twice(
    db_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    store = open_store(db_url)
    with WebhookReceiver() as hook:
        ids = queue(store, "hook", 100, clock)
        hook.down()

        async def main() -> None:
            worker = await worker_for(store, clock, webhook("hook", hook.url))
            try:
                for minutes in (0, 1, 5, 30):  # down for half an hour, retrying
                    clock.now = T0 + minutes * 60
                    await worker.drain()
                assert store.counts()["outbox_pending"] == 100
                hook.up()
                clock.now = T0 + 95 * 60  # past every alert's next retry
                await worker.drain()
            finally:
                await close(worker)

        asyncio.run(main())
        received = [r.headers["webhook-id"] for r in hook.requests]
        verifier = Webhook(SECRET)
        for r in hook.requests:
            verifier.verify(r.body, r.headers)
    assert sorted(received) == sorted(ids)  # 0 lost, 0 duplicates
    assert len(set(received)) == 100
    assert store.counts().get("outbox_sent") == 100
    attempts = store.attempts(ids[0])
    assert [a.outcome for a in attempts][-1] == "sent"
    assert len(attempts) >= 4 and all(a.outcome == "retry" for a in attempts[:-1])


def test_retry_after_is_honoured(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    store = open_store(db_url)
    with WebhookReceiver([Reply(429, headers={"Retry-After": "5"})]) as hook:
        (aid,) = queue(store, "hook", 1, clock)

        async def main() -> None:
            worker = await worker_for(store, clock, webhook("hook", hook.url))
            try:
                await worker.drain()
                assert len(hook.requests) == 1
                for t in (1.0, 4.0, 4.99):
                    clock.now = T0 + t
                    await worker.drain()
                    assert len(hook.requests) == 1, f"retried {t}s after a Retry-After: 5"
                clock.now = T0 + 5.6  # 5 s, plus at most 10 % jitter
                await worker.drain()
            finally:
                await close(worker)

        asyncio.run(main())
        assert len(hook.requests) == 2
    (first, second) = store.attempts(aid)
    assert (first.outcome, first.status_code) == ("retry", 429)
    assert second.outcome == "sent"


def test_permanent_failure_is_not_retried(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    store = open_store(db_url)
    with WebhookReceiver([Reply(400, body=b"bad payload")]) as hook:
        (aid,) = queue(store, "hook", 1, clock)

        async def main() -> None:
            worker = await worker_for(store, clock, webhook("hook", hook.url))
            try:
                for hours in (0, 1, 25):
                    clock.now = T0 + hours * 3600
                    await worker.drain()
            finally:
                await close(worker)

        asyncio.run(main())
        assert len(hook.requests) == 1
    (row,) = store.outbox("failed")
    assert row.id == aid and "400" in (row.last_error or "")


def test_a_hanging_receiver_does_not_delay_other_channels(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    store = open_store(db_url)
    with WebhookReceiver([Reply(200, hang=30)]) as slow, WebhookReceiver() as fast:
        (slow_id,) = queue(store, "slow", 1, clock)
        fast_ids = [a.id for a in (make_alert(n, "fast") for n in range(100, 106))]
        for n in range(100, 106):
            store.enqueue(make_alert(n, "fast"), now=clock())

        async def main() -> list[str]:
            worker = await worker_for(
                store, clock, webhook("slow", slow.url, timeout=3), webhook("fast", fast.url)
            )
            try:
                drain = asyncio.create_task(worker.drain())
                while len(fast.requests) < 6 and not drain.done():
                    await asyncio.sleep(0.01)
                # every fast alert is through while the slow send is still hanging
                states = [r.status for r in store.outbox(limit=10) if r.id == slow_id]
                await drain
                return states
            finally:
                await close(worker)

        states = asyncio.run(main())
        assert sorted(r.headers["webhook-id"] for r in fast.requests) == sorted(fast_ids)
    assert states == ["pending"]
    (attempt,) = store.attempts(slow_id)
    assert attempt.outcome == "retry" and "no response within 3 s" in (attempt.error or "")


def email(name: str, port: int) -> ChannelConfig:
    from monitor.models import SmtpConfig

    return EmailChannel(
        name=name,
        to=("desk@example.org",),
        sender="monitor@example.org",
        smtp=SmtpConfig(host="127.0.0.1", port=port, timeout=10),
    )


def test_smtp_451_three_times_then_250_delivers_exactly_one_message(
    db_url: str, tmp_path: Path
) -> None:
    from tests.support.receivers import SmtpServer

    clock = Clock()
    store = open_store(db_url)
    with SmtpServer(replies=["451 4.3.0 try again later"] * 3) as smtp:
        (aid,) = queue(store, "desk", 1, clock)

        async def main() -> None:
            worker = await worker_for(store, clock, email("desk", smtp.port))
            try:
                for minutes in (0, 1, 5, 30, 60):
                    clock.now = T0 + minutes * 60
                    await worker.drain()
            finally:
                await close(worker)

        asyncio.run(main())
        assert smtp.attempts == 4
        assert len(smtp.messages) == 1
    outcomes = [(a.outcome, a.status_code) for a in store.attempts(aid)]
    assert outcomes == [("retry", 451)] * 3 + [("sent", 250)]


def test_smtp_550_is_failed_at_once_with_the_reason(db_url: str, tmp_path: Path) -> None:
    from tests.support.receivers import SmtpServer

    clock = Clock()
    store = open_store(db_url)
    with SmtpServer(replies=["550 5.1.1 mailbox unavailable"]) as smtp:
        (aid,) = queue(store, "desk", 1, clock)

        async def main() -> None:
            worker = await worker_for(store, clock, email("desk", smtp.port))
            try:
                for hours in (0, 1, 30):
                    clock.now = T0 + hours * 3600
                    await worker.drain()
            finally:
                await close(worker)

        asyncio.run(main())
        assert smtp.attempts == 1 and smtp.messages == []
    (row,) = store.outbox("failed")
    assert row.id == aid and "mailbox unavailable" in (row.last_error or "")
