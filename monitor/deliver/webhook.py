"""Standard Webhooks delivery: a signed JSON POST (https://www.standardwebhooks.com/).

One POST per alert, notice or batch (digest/summary; see docs/webhook.md for the bodies).
Headers: `webhook-id` (the alert or batch id; receivers deduplicate on it), `webhook-timestamp`
(Unix seconds) and, when the channel has a `whsec_...` secret, `webhook-signature`
(`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). Redirects are not followed.

Outcomes: 2xx sent; 408, 429, 5xx, connection errors and timeouts retryable (Retry-After
honoured); 3xx and other 4xx permanent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from monitor.deliver.render import batch_payload, webhook_payload
from monitor.errors import DeliveryError
from monitor.log import get_logger
from monitor.models import Alert, Batch, ChannelConfig, DeliveryResult
from monitor.redact import redact
from monitor.sanitize import clean_line

USER_AGENT = "news-monitor-webhook/1"
_DETAIL_BYTES = 512
_REASON_CHARS = 300


def channel_problem(channel: ChannelConfig) -> tuple[str, str | None] | None:
    """Why this channel can never send (message, hint), or None."""
    if urlsplit(channel.url).scheme not in ("http", "https"):
        return "webhook url must start with http:// or https://", None
    if channel.secret:
        try:
            Webhook(channel.secret)
        except Exception:  # binascii.Error, EmptyWebhookSecretError
            return "webhook secret is not valid", "expected 'whsec_' followed by a base64 key"
    return None


class WebhookNotifier:
    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel
        self._problem = channel_problem(channel)
        self._signer = Webhook(channel.secret) if channel.secret and not self._problem else None
        self._client = httpx.AsyncClient(
            timeout=channel.timeout, follow_redirects=False, headers={"user-agent": USER_AGENT}
        )
        self._log = get_logger(__name__, channel=channel.name)

    async def send(self, alert: Alert) -> DeliveryResult:
        return await self._deliver(alert.id, webhook_payload(alert))

    async def send_batch(self, batch: Batch) -> DeliveryResult:
        return await self._deliver(batch.id, batch_payload(batch))

    async def _deliver(self, message_id: str, payload: dict[str, Any]) -> DeliveryResult:
        if self._problem:
            raise self._error(self._problem[0], permanent=True, hint=self._problem[1])
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if self._signer is not None:
            headers["webhook-signature"] = self._signer.sign(message_id, now, body)
        try:
            async with asyncio.timeout(self.channel.timeout):
                status, reason, retry_after, location = await self._post(body, headers)
        except (TimeoutError, httpx.TimeoutException) as e:  # ours or httpx's (per read)
            raise self._error(f"no response within {self.channel.timeout:g} s") from e
        except httpx.RequestError as e:
            raise self._error("could not reach the webhook") from e
        if 200 <= status < 300:
            self._log.debug("webhook_sent", alert=message_id, status=status)
            return DeliveryResult(status=status, detail=reason)
        message = f"webhook answered HTTP {status} {reason}".rstrip()
        if 300 <= status < 400:
            raise self._error(
                message,
                permanent=True,
                status=status,
                hint=f"redirects are not followed; use the final URL ({location})",
            )
        if status in (408, 429) or status >= 500:
            raise self._error(message, status=status, retry_after=retry_after)
        raise self._error(message, permanent=True, status=status)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, body: str, headers: dict[str, str]) -> tuple[int, str, float | None, str]:
        request = self._client.build_request(
            "POST", self.channel.url, content=body.encode(), headers=headers
        )
        response = await self._client.send(request, stream=True)
        try:
            detail = await _read_start(response)
        finally:
            await response.aclose()
        # the receiver's words reach logs, the outbox and notices: one clean line, and a
        # redirect target without credentials
        reason = clean_line(f"{response.reason_phrase} {detail}", _REASON_CHARS)
        location = response.headers.get("location")
        return (
            response.status_code,
            reason,
            parse_retry_after(response.headers.get("retry-after")),
            clean_line(redact(location), _REASON_CHARS) if location else "unknown",
        )

    def _error(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> DeliveryError:
        return DeliveryError(
            message,
            self.channel.name,
            permanent=permanent,
            status=status,
            retry_after=retry_after,
            hint=hint,
        )


async def _read_start(response: httpx.Response) -> str:
    """The first bytes of the body, for the operator; a huge body is not read."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= _DETAIL_BYTES:
            break
    return data[:_DETAIL_BYTES].decode("utf-8", "replace")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
