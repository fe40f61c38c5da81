"""Delivery: send one `Alert` to one channel.

Every channel type implements `Notifier`. A send is stateless: it either returns a
`DeliveryResult` or raises `DeliveryError` (subject: the channel name) whose `permanent`
and `retry_after` tell the outbox worker whether and when to try again (see `retry.py`).
Each notifier cuts off a hanging attempt itself after its configured timeout.

`build_notifier` never raises: a channel that can never work (SMTP credentials without
TLS, a malformed webhook secret, an unknown Apprise URL) fails every send with a
permanent `DeliveryError` and a hint, so one bad channel does not stop the others.
"""

from __future__ import annotations

from typing import Protocol

from monitor.deliver.ids import alert_id
from monitor.models import Alert, ChannelConfig, DeliveryResult

__all__ = ["Notifier", "alert_id", "build_notifier"]


class Notifier(Protocol):
    channel: ChannelConfig

    async def send(self, alert: Alert) -> DeliveryResult:
        """Deliver `alert` once; raises DeliveryError on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections; the notifier is not used afterwards."""
        ...


def build_notifier(channel: ChannelConfig) -> Notifier:
    """The notifier for `channel.type`."""
    if channel.type == "email":
        from monitor.deliver.mail import MailNotifier

        return MailNotifier(channel)
    if channel.type == "webhook":
        from monitor.deliver.webhook import WebhookNotifier

        return WebhookNotifier(channel)
    if channel.type == "file":
        from monitor.deliver.file import FileNotifier

        return FileNotifier(channel)
    from monitor.deliver.chat import AppriseNotifier

    return AppriseNotifier(channel)
