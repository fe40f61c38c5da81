"""Apprise delivery (chat, push and the many services Apprise knows): title + text body.

Apprise's `notify` is synchronous; it runs in a worker thread and we stop waiting after
`channel.timeout` seconds (the thread finishes on its own, bounded by Apprise's socket
timeouts). Any failure is retryable. Apprise URLs carry tokens, so they are never logged.
"""

from __future__ import annotations

import asyncio
import warnings

import apprise

from monitor.deliver.render import clean_line, render_text
from monitor.errors import DeliveryError
from monitor.models import Alert, ChannelConfig, DeliveryResult


class AppriseNotifier:
    def __init__(self, channel: ChannelConfig) -> None:
        self.channel = channel
        self._apprise = apprise.Apprise()
        self._problem: str | None = None
        if not channel.apprise_urls:
            self._problem = "an apprise channel needs `apprise_urls`"
        with warnings.catch_warnings():
            # Apprise loads its plugins on the first add(); one imports the deprecated
            # `imghdr` on Python 3.11/3.12, which is noise for operators (and fatal in tests).
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            for index, url in enumerate(channel.apprise_urls):
                if not self._apprise.add(url):
                    self._problem = f"apprise_urls[{index}] is not a URL Apprise understands"

    async def send(self, alert: Alert) -> DeliveryResult:
        if self._problem:
            raise DeliveryError(
                self._problem,
                self.channel.name,
                permanent=True,
                hint="see https://github.com/caronc/apprise/wiki for URL formats",
            )
        title = clean_line(alert.title) or "(no title)"
        body = render_text(alert, timezone=self.channel.timezone)
        try:
            async with asyncio.timeout(self.channel.timeout):
                ok = await asyncio.to_thread(self._notify, title, body)
        except TimeoutError as e:
            raise DeliveryError(
                f"apprise did not finish within {self.channel.timeout:g} s", self.channel.name
            ) from e
        if not ok:
            raise DeliveryError(
                "apprise could not notify every service",
                self.channel.name,
                hint="the apprise logger names each service that failed and why",
            )
        return DeliveryResult(detail=f"{len(self.channel.apprise_urls)} service(s) notified")

    async def aclose(self) -> None:
        """Nothing to release: Apprise opens a connection per notification."""

    def _notify(self, title: str, body: str) -> bool:
        return bool(
            self._apprise.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        )
