"""Apprise channel, through Apprise's `json://` service to a real loopback receiver."""

from __future__ import annotations

import json
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.deliver import build_notifier
from monitor.errors import DeliveryError
from monitor.models import Alert, AppriseChannel, Batch, DeliveryResult
from tests.support import run
from tests.support.receivers import Reply, WebhookReceiver


def channel(port: int, **changes: object) -> AppriseChannel:
    fields: dict[str, object] = {"name": "chat", "urls": (f"json://127.0.0.1:{port}/notify",)}
    fields.update(changes)
    return AppriseChannel(**fields)  # type: ignore[arg-type]


def send(config: AppriseChannel, alert: Alert) -> DeliveryResult:
    async def go() -> DeliveryResult:
        notifier = build_notifier(config)
        try:
            return await notifier.send(alert)
        finally:
            await notifier.aclose()

    return run(go())


def test_title_and_text_body_arrive(alert: Alert) -> None:
    with WebhookReceiver() as receiver:
        send(channel(receiver.port, timezone=ZoneInfo("Europe/Berlin")), alert)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/notify")
    body = json.loads(request.body)
    assert body["title"] == "Oil jumps as Iran threatens Strait of Hormuz shipping"
    assert "[[crude]]" in body["message"] and "2024-06-03 09:45 CEST" in body["message"]


def test_service_error_is_retryable(alert: Alert) -> None:
    with WebhookReceiver([Reply(500)]) as receiver, pytest.raises(DeliveryError) as e:
        send(channel(receiver.port), alert)
    assert e.value.subject == "chat" and not e.value.permanent


def test_hanging_service_is_cut_off(alert: Alert) -> None:
    with WebhookReceiver([Reply(hang=2)]) as receiver:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as e:
            run(build_notifier(channel(receiver.port, timeout=0.3)).send(alert))
        # asyncio.run waits for the abandoned worker thread, so time the error instead
    assert "within 0.3 s" in str(e.value) and not e.value.permanent
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("urls", [("not-a-service://x",), ("json://x", "nope://y")])
def test_unusable_urls_fail_permanently(urls: tuple[str, ...], alert: Alert) -> None:
    with pytest.raises(DeliveryError) as e:
        send(channel(0, urls=urls), alert)
    assert e.value.permanent and e.value.subject == "chat"
    assert "not-a-service" not in str(e.value)  # URLs carry tokens: never echoed


def test_batch_is_one_notification(batch: Batch) -> None:
    async def go() -> DeliveryResult:
        notifier = build_notifier(channel(receiver.port, timezone=ZoneInfo("Europe/Berlin")))
        return await notifier.send_batch(batch)

    with WebhookReceiver() as receiver:
        run(go())
    [request] = receiver.requests
    body = json.loads(request.body)
    assert body["title"] == "Digest: 3 alerts since 09:50"
    assert "1. Oil jumps as Iran" in body["message"] and "3. OPEC+" in body["message"]
    assert "[[Tanker]]" in body["message"]


def test_notice_title_says_who_is_talking(notice: Alert) -> None:
    with WebhookReceiver() as receiver:
        send(channel(receiver.port), notice)
    body = json.loads(receiver.requests[0].body)
    assert body["title"] == f"[news-monitor] {notice.title}"
    assert body["message"].startswith(notice.title) and "Matched rules" not in body["message"]


def test_templates_dir_override(tmp_path: Path, alert: Alert) -> None:
    (tmp_path / "alert.txt.j2").write_text("CHAT {{ title }}\n")
    with WebhookReceiver() as receiver:
        send(channel(receiver.port, templates_dir=tmp_path), alert)
    body = json.loads(receiver.requests[0].body)
    assert body["message"].strip() == f"CHAT {alert.title}"


def test_missing_templates_dir_fails_permanently(tmp_path: Path, alert: Alert) -> None:
    with WebhookReceiver() as receiver, pytest.raises(DeliveryError) as e:
        send(channel(receiver.port, templates_dir=tmp_path / "nope"), alert)
    assert e.value.permanent and e.value.hint and "templates_dir" in str(e.value)
    assert receiver.requests == []
