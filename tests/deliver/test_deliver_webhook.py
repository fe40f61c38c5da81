"""Webhook delivery against a real loopback receiver."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks import Webhook

from monitor.deliver import build_notifier
from monitor.deliver.render import batch_payload, webhook_payload
from monitor.deliver.webhook import USER_AGENT, parse_retry_after
from monitor.errors import DeliveryError
from monitor.models import Alert, Batch, DeliveryResult, WebhookChannel
from tests.support import run
from tests.support.receivers import Reply, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def channel(url: str, **changes: object) -> WebhookChannel:
    fields: dict[str, object] = {"name": "hook", "url": url, "timeout": 5.0}
    fields.update(changes)
    return WebhookChannel(**fields)  # type: ignore[arg-type]


async def send_once(config: WebhookChannel, alert: Alert) -> DeliveryResult:
    notifier = build_notifier(config)
    try:
        return await notifier.send(alert)
    finally:
        await notifier.aclose()


def failure(config: WebhookChannel, alert: Alert) -> DeliveryError:
    with pytest.raises(DeliveryError) as e:
        run(send_once(config, alert))
    assert e.value.subject == config.name
    return e.value


def test_signed_post_verifies_with_standardwebhooks(alert: Alert) -> None:
    with WebhookReceiver() as hook:
        result = run(send_once(channel(hook.url, secret=SECRET), alert))
    assert result.status == 200
    [request] = hook.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["webhook-id"] == alert.id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload == webhook_payload(alert)
    assert payload["type"] == "alert" and payload["id"] == alert.id


def test_tampered_body_fails_verification(alert: Alert) -> None:
    with WebhookReceiver() as hook:
        run(send_once(channel(hook.url, secret=SECRET), alert))
    [request] = hook.requests
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(request.body.replace(b"Oil", b"Gas"), request.headers)


def test_unsigned_without_secret(alert: Alert) -> None:
    with WebhookReceiver() as hook:
        run(send_once(channel(hook.url), alert))
    [request] = hook.requests
    assert "webhook-signature" not in request.headers
    assert json.loads(request.body) == webhook_payload(alert)


def test_redirect_is_not_followed(alert: Alert) -> None:
    with WebhookReceiver([Reply(302, headers={"Location": "/elsewhere"})]) as hook:
        error = failure(channel(hook.url), alert)
    assert len(hook.requests) == 1
    assert error.permanent and error.status == 302
    assert error.hint is not None and "/elsewhere" in error.hint


def test_receiver_words_are_one_clean_line_and_its_redirect_shows_no_credential(
    alert: Alert,
) -> None:
    body = b"\x1b[2J\x1b]0;owned\x07 denied\r\nX-Injected: 1 \xe2\x80\xae evil \xc2\x9b"
    with WebhookReceiver([Reply(403, body=body)]) as hook:
        error = failure(channel(hook.url), alert)
    assert "HTTP 403 Forbidden [2J ]0;owned denied X-Injected: 1 evil" in str(error)
    assert not any(c in str(error) for c in "\x1b\x07\r\n\u202e\x9b")
    target = "https://ops:Pa55word@hooks.example/new?token=tok3n&v=2"
    with WebhookReceiver([Reply(308, headers={"Location": target})]) as hook:
        error = failure(channel(hook.url), alert)
    assert error.hint is not None and "hooks.example/new?token=<redacted>&v=2" in error.hint
    assert "Pa55word" not in str(error) and "tok3n" not in str(error)


def test_429_retry_after_seconds(alert: Alert) -> None:
    with WebhookReceiver([Reply(429, headers={"Retry-After": "5"})]) as hook:
        error = failure(channel(hook.url), alert)
    assert not error.permanent and error.status == 429 and error.retry_after == 5


def test_503_retry_after_http_date(alert: Alert) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    with WebhookReceiver([Reply(503, headers={"Retry-After": when})]) as hook:
        error = failure(channel(hook.url), alert)
    assert not error.permanent and error.retry_after is not None
    assert 540 < error.retry_after <= 600


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (401, True), (404, True), (408, False), (500, False), (502, False)],
)
def test_status_classification(alert: Alert, status: int, permanent: bool) -> None:
    with WebhookReceiver([Reply(status, body=b"nope")]) as hook:
        error = failure(channel(hook.url), alert)
    assert error.permanent is permanent and error.status == status
    assert f"HTTP {status}" in str(error) and "nope" in str(error)


def test_hanging_receiver_is_cut_off_without_blocking_others(alert: Alert) -> None:
    async def both(slow_url: str, fast_url: str) -> tuple[BaseException | DeliveryResult, float]:
        slow = build_notifier(channel(slow_url, name="slow", timeout=1.0))
        fast = build_notifier(channel(fast_url, name="fast"))
        started = time.monotonic()

        async def timed_fast() -> float:
            await fast.send(alert)
            return time.monotonic() - started

        try:
            outcome, fast_time = await asyncio.gather(
                slow.send(alert), timed_fast(), return_exceptions=True
            )
        finally:
            await slow.aclose()
            await fast.aclose()
        assert isinstance(fast_time, float)
        return outcome, fast_time

    with WebhookReceiver([Reply(hang=30)]) as slow, WebhookReceiver() as fast:
        started = time.monotonic()
        outcome, fast_time = run(both(slow.url, fast.url))
        elapsed = time.monotonic() - started
    assert isinstance(outcome, DeliveryError) and not outcome.permanent
    assert outcome.subject == "slow"
    assert 0.9 < elapsed < 4
    assert fast_time < 0.9  # done while the slow one is still waiting


def test_outage_is_retryable_then_recovers(alert: Alert) -> None:
    with WebhookReceiver() as hook:
        hook.down()
        error = failure(channel(hook.url), alert)
        assert not error.permanent and error.status is None
        hook.up()
        assert run(send_once(channel(hook.url), alert)).status == 200
    assert len(hook.requests) == 1


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0),  # in the past: retry now
        ("Wed, 21 Oct 2015 07:38:00 GMT", 600),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert parse_retry_after(value, now) == seconds


def test_batch_is_one_signed_post(batch: Batch) -> None:
    async def go() -> DeliveryResult:
        notifier = build_notifier(channel(hook.url, secret=SECRET))
        try:
            return await notifier.send_batch(batch)
        finally:
            await notifier.aclose()

    with WebhookReceiver() as hook:
        assert run(go()).status == 200
    [request] = hook.requests
    assert request.headers["webhook-id"] == batch.id
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload == batch_payload(batch)
    assert payload["type"] == "digest" and payload["count"] == len(payload["alerts"]) == 3
    assert payload["alerts"][0] == webhook_payload(batch.alerts[0])


def test_batch_failure_is_classified_like_alerts(batch: Batch) -> None:
    async def go() -> DeliveryResult:
        notifier = build_notifier(channel(hook.url))
        try:
            return await notifier.send_batch(batch)
        finally:
            await notifier.aclose()

    with WebhookReceiver([Reply(429, headers={"Retry-After": "7"}), Reply(410)]) as hook:
        with pytest.raises(DeliveryError) as first:
            run(go())
        with pytest.raises(DeliveryError) as second:
            run(go())
    assert not first.value.permanent and first.value.retry_after == 7
    assert second.value.permanent and second.value.status == 410
    assert first.value.subject == second.value.subject == "hook"


def test_notice_payload_is_signed(notice: Alert) -> None:
    with WebhookReceiver() as hook:
        run(send_once(channel(hook.url, secret=SECRET), notice))
    [request] = hook.requests
    assert request.headers["webhook-id"] == notice.id
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "notice" and payload["message"] == notice.title
