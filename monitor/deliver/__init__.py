"""Delivery: send one `Alert` (or one `Batch` of them) to one channel.

Every channel type implements `Notifier`. A send is stateless: it either returns a
`DeliveryResult` or raises `DeliveryError` (subject: the channel name) whose `permanent`
and `retry_after` tell the outbox worker whether and when to try again (see `retry.py`).
Each notifier cuts off a hanging attempt itself after its configured timeout.

`send(alert)` sends an alert (an article matched) or a notice (`alert.kind == "notice"`:
news-monitor telling its operator something); `send_batch(batch)` sends a digest or a
rate-limit summary as ONE message (one email, one POST, one JSON line, one notification).

A channel's config was checked when it was loaded (`monitor.config.channels`: TLS settings,
webhook secrets, URLs, digest schedules, time zones); notifiers do not check it again.
`build_notifier` never raises: what only the notifier can tell (an Apprise URL no plugin
understands, a broken template in `templates_dir`) fails every send with a permanent
`DeliveryError` and a hint, so one bad channel does not stop the others.
"""

from __future__ import annotations

from typing import Protocol, assert_never

from monitor.deliver.ids import alert_id
from monitor.models import (
    Alert,
    AppriseChannel,
    Batch,
    ChannelConfig,
    DeliveryResult,
    EmailChannel,
    FileChannel,
    WebhookChannel,
)

__all__ = ["Notifier", "alert_id", "build_notifier"]


class Notifier(Protocol):
    @property
    def channel(self) -> ChannelConfig:
        """The channel it sends to."""
        ...

    async def send(self, alert: Alert) -> DeliveryResult:
        """Deliver `alert` once; raises DeliveryError on failure."""
        ...

    async def send_batch(self, batch: Batch) -> DeliveryResult:
        """Deliver `batch` once as one message; raises DeliveryError on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the notifier is not used afterwards."""
        ...


def build_notifier(channel: ChannelConfig) -> Notifier:
    """The notifier for the channel's kind; those that render templates get its
    `templates_dir`."""
    match channel:
        case EmailChannel():
            from monitor.deliver.mail import MailNotifier

            return MailNotifier(channel, templates_dir=channel.templates_dir)
        case WebhookChannel():
            from monitor.deliver.webhook import WebhookNotifier

            return WebhookNotifier(channel)
        case FileChannel():
            from monitor.deliver.file import FileNotifier

            return FileNotifier(channel)
        case AppriseChannel():
            from monitor.deliver.chat import AppriseNotifier

            return AppriseNotifier(channel, templates_dir=channel.templates_dir)
        case _:
            assert_never(channel)
