"""Delivery: send one `Alert` (or one `Batch` of them) to one channel.

Every channel type implements `Notifier`. A send is stateless: it either returns a
`DeliveryResult` or raises `DeliveryError` (subject: the channel name) whose `permanent`
and `retry_after` tell the outbox worker whether and when to try again (see `retry.py`).
Each notifier cuts off a hanging attempt itself after its configured timeout.

`send(alert)` sends an alert (an article matched) or a notice (`alert.kind == "notice"`:
news-monitor telling its operator something); `send_batch(batch)` sends a digest or a
rate-limit summary as ONE message (one email, one POST, one JSON line, one notification).

`build_notifier` never raises: a channel that can never work (SMTP credentials without
TLS, a malformed webhook secret, an unknown Apprise URL, a missing or broken
`templates_dir`) fails every send with a permanent `DeliveryError` and a hint, so one bad
channel does not stop the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from monitor.deliver.ids import alert_id
from monitor.models import Alert, Batch, ChannelConfig, DeliveryResult

__all__ = ["Notifier", "alert_id", "build_notifier", "templates_path"]


class Notifier(Protocol):
    channel: ChannelConfig

    async def send(self, alert: Alert) -> DeliveryResult:
        """Deliver `alert` once; raises DeliveryError on failure."""
        ...

    async def send_batch(self, batch: Batch) -> DeliveryResult:
        """Deliver `batch` once as one message; raises DeliveryError on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the notifier is not used afterwards."""
        ...


def templates_path(channel: ChannelConfig) -> Path | None:
    """The channel's template override directory (`~` expanded), or None."""
    return Path(channel.templates_dir).expanduser() if channel.templates_dir else None


def build_notifier(channel: ChannelConfig) -> Notifier:
    """The notifier for `channel.type`; those that render templates get `templates_dir`."""
    if channel.type == "email":
        from monitor.deliver.mail import MailNotifier

        return MailNotifier(channel, templates_dir=templates_path(channel))
    if channel.type == "webhook":
        from monitor.deliver.webhook import WebhookNotifier

        return WebhookNotifier(channel)
    if channel.type == "file":
        from monitor.deliver.file import FileNotifier

        return FileNotifier(channel)
    from monitor.deliver.chat import AppriseNotifier

    return AppriseNotifier(channel, templates_dir=templates_path(channel))
