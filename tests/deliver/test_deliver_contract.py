"""One contract every Notifier keeps, run against each channel type with a real receiver.

- build_notifier(channel) gives a notifier whose `.channel` is that channel;
- send(alert) returns a DeliveryResult, and can be repeated (a file channel does not
  write its last line again);
- an alert that went through the outbox (to_dict -> JSON -> from_dict) sends the same way;
- send(notice) and send_batch(batch) (digest and summary) do too, each as ONE message;
- a failed send or send_batch raises DeliveryError whose subject is the channel name;
- aclose() releases the notifier.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from monitor.deliver import Notifier, build_notifier
from monitor.errors import DeliveryError
from monitor.models import (
    Alert,
    AppriseChannel,
    Batch,
    BatchKind,
    ChannelConfig,
    DeliveryResult,
    EmailChannel,
    FileChannel,
    SmtpConfig,
    WebhookChannel,
)
from tests.support import run
from tests.support.receivers import HOST, Reply, SmtpServer, WebhookReceiver


@dataclass(frozen=True)
class Setup:
    """A working channel, one whose receiver fails, and how to count what arrived."""

    good: ChannelConfig
    bad: ChannelConfig
    received: Callable[[], int]


def _email(port: int, name: str) -> ChannelConfig:
    smtp = SmtpConfig(host="127.0.0.1", port=port, timeout=5)
    return EmailChannel(name=name, to=("a@example.org",), sender="m@example.org", smtp=smtp)


@contextmanager
def email_setup(tmp_path: Path) -> Iterator[Setup]:
    with SmtpServer() as good, SmtpServer(replies=["554 5.0.0 no"] * 10) as bad:
        yield Setup(_email(good.port, "mail"), _email(bad.port, "mail"), lambda: len(good.messages))


@contextmanager
def webhook_setup(tmp_path: Path) -> Iterator[Setup]:
    with WebhookReceiver() as good, WebhookReceiver([Reply(500)] * 10) as bad:
        yield Setup(
            WebhookChannel(name="hook", url=good.url),
            WebhookChannel(name="hook", url=bad.url),
            lambda: len(good.requests),
        )


@contextmanager
def apprise_setup(tmp_path: Path) -> Iterator[Setup]:
    with WebhookReceiver() as good, WebhookReceiver([Reply(500)] * 10) as bad:
        yield Setup(
            AppriseChannel(name="chat", urls=(f"json://{HOST}:{good.port}/",)),
            AppriseChannel(name="chat", urls=(f"json://{HOST}:{bad.port}/",)),
            lambda: len(good.requests),
        )


@contextmanager
def file_setup(tmp_path: Path) -> Iterator[Setup]:
    path = tmp_path / "out" / "alerts.jsonl"
    (tmp_path / "blocker").write_text("a file where a directory should be")

    def lines() -> int:
        return len(path.read_text().splitlines()) if path.exists() else 0

    yield Setup(
        FileChannel(name="log", path=path),
        FileChannel(name="log", path=tmp_path / "blocker" / "alerts.jsonl"),
        lines,
    )


SETUPS = {
    "email": email_setup,
    "webhook": webhook_setup,
    "apprise": apprise_setup,
    "file": file_setup,
}


@pytest.fixture(params=sorted(SETUPS))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    with SETUPS[request.param](tmp_path) as value:
        yield value


def delivered(setup: Setup, sends: int) -> int:
    """What arrives of `sends` sends of one message. A file channel knows its own last line:
    a resend (byte for byte the same line, as the outbox round trip must keep it) is not
    written twice. The others deliver every send."""
    return 1 if isinstance(setup.good, FileChannel) else sends


def test_every_channel_type_is_covered() -> None:
    assert set(SETUPS) == {"email", "webhook", "file", "apprise"}


def test_send_succeeds_and_repeats(setup: Setup, alert: Alert) -> None:
    async def go() -> list[DeliveryResult]:
        notifier: Notifier = build_notifier(setup.good)
        assert notifier.channel is setup.good
        try:
            outbox = Alert.from_dict(json.loads(json.dumps(alert.to_dict())))
            return [await notifier.send(alert), await notifier.send(outbox)]
        finally:
            await notifier.aclose()

    results = run(go())
    assert all(isinstance(r, DeliveryResult) for r in results)
    assert setup.received() == delivered(setup, 2)


def test_failure_raises_delivery_error_naming_the_channel(setup: Setup, alert: Alert) -> None:
    async def go() -> None:
        notifier = build_notifier(setup.bad)
        try:
            await notifier.send(alert)
        finally:
            await notifier.aclose()

    with pytest.raises(DeliveryError) as e:
        run(go())
    assert e.value.subject == setup.bad.name
    assert str(e.value).startswith(f"{setup.bad.name}: ")


def test_notice_sends_as_one_message(setup: Setup, notice: Alert) -> None:
    async def go() -> DeliveryResult:
        notifier = build_notifier(setup.good)
        try:
            return await notifier.send(notice)
        finally:
            await notifier.aclose()

    assert isinstance(run(go()), DeliveryResult)
    assert setup.received() == 1


@pytest.mark.parametrize("kind", ["digest", "summary"])
def test_send_batch_is_one_message_and_repeats(setup: Setup, batch: Batch, kind: BatchKind) -> None:
    batch = replace(batch, kind=kind, rule="iran-oil" if kind == "summary" else None)

    async def go() -> list[DeliveryResult]:
        notifier: Notifier = build_notifier(setup.good)
        try:
            outbox = replace(
                batch,
                alerts=tuple(
                    Alert.from_dict(json.loads(json.dumps(a.to_dict()))) for a in batch.alerts
                ),
            )
            return [await notifier.send_batch(batch), await notifier.send_batch(outbox)]
        finally:
            await notifier.aclose()

    results = run(go())
    assert all(isinstance(r, DeliveryResult) for r in results)
    assert setup.received() == delivered(setup, 2)  # one message per batch, not per alert


def test_send_batch_failure_raises_delivery_error_naming_the_channel(
    setup: Setup, batch: Batch
) -> None:
    async def go() -> None:
        notifier = build_notifier(setup.bad)
        try:
            await notifier.send_batch(batch)
        finally:
            await notifier.aclose()

    with pytest.raises(DeliveryError) as e:
        run(go())
    assert e.value.subject == setup.bad.name
    assert str(e.value).startswith(f"{setup.bad.name}: ")
