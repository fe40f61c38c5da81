"""Apprise delivery (chat, push and the many services Apprise knows): title + text body.

Apprise's `notify` is synchronous; it runs in a worker thread and we stop waiting after
`channel.timeout` seconds (the thread finishes on its own, bounded by Apprise's socket
timeouts). Any failure is retryable. Apprise URLs carry tokens, so they are never logged.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from pathlib import Path

import apprise

from monitor.deliver.render import (
    render_batch_subject,
    render_batch_text,
    render_subject,
    render_text,
    templates_problem,
)
from monitor.errors import DeliveryError
from monitor.models import Alert, AppriseChannel, Batch, DeliveryResult

_URL_HINT = "see https://github.com/caronc/apprise/wiki for URL formats"


def unknown_urls(into: apprise.Apprise, urls: Sequence[str]) -> list[int]:
    """Add `urls` to `into`; the index of each one Apprise does not understand."""
    with warnings.catch_warnings():
        # Apprise loads its plugins on the first add(); one imports the deprecated
        # `imghdr` on Python 3.11/3.12, which is noise for operators (and fatal in tests).
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        return [index for index, url in enumerate(urls) if not into.add(url)]


class AppriseNotifier:
    """`templates_dir`: operator overrides of the text templates (the channel's)."""

    def __init__(self, channel: AppriseChannel, *, templates_dir: Path | None = None) -> None:
        self.channel = channel
        self._templates_dir = templates_dir
        self._apprise = apprise.Apprise()
        self._problem: tuple[str, str] | None = None
        for index in unknown_urls(self._apprise, channel.urls):
            self._problem = (f"urls[{index}] is not a URL Apprise understands", _URL_HINT)
        if templates_dir and not self._problem:
            self._problem = templates_problem(templates_dir)

    async def send(self, alert: Alert) -> DeliveryResult:
        """Title: the headline (or `[news-monitor] <notice>`); body: the text rendering."""
        self._check()
        body = render_text(alert, timezone=self.channel.timezone, templates_dir=self._templates_dir)
        return await self._deliver(render_subject(alert), body)

    async def send_batch(self, batch: Batch) -> DeliveryResult:
        """One notification: the digest/summary subject and its text listing."""
        self._check()
        tz = self.channel.timezone
        title = render_batch_subject(batch, timezone=tz)
        body = render_batch_text(batch, timezone=tz, templates_dir=self._templates_dir)
        return await self._deliver(title, body)

    def _check(self) -> None:
        if self._problem:
            message, hint = self._problem
            raise DeliveryError(message, self.channel.name, permanent=True, hint=hint)

    async def _deliver(self, title: str, body: str) -> DeliveryResult:
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
        return DeliveryResult(detail=f"{len(self.channel.urls)} service(s) notified")

    async def aclose(self) -> None:
        """Nothing to release: Apprise opens a connection per notification."""

    def _notify(self, title: str, body: str) -> bool:
        return bool(
            self._apprise.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        )
