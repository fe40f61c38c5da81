"""Operator notices: tell the `operator_channel` when a feed or a channel keeps failing.

    "Feed 'BBC World' has failed 5 times in a row since 2026-11-21 09:00 UTC: HTTP 503"
    "Channel 'desk' is failing: 3 attempts in a row since 09:12 UTC: cannot connect"
    "Feed 'BBC World' is working again after 7 failures since 2026-11-21 09:00 UTC"

A notice is sent when a subject reaches `THRESHOLD` failures in a row, again at most every
`REMIND_AFTER` while it keeps failing, and once when it recovers (only if a failure notice
went out). The decision is a pure function of the stored state; the state and the notice
are written in one transaction. The operator channel never reports on itself.

Errors often quote URLs: the stored `last_error` and every notice's text pass through
`monitor.redact.redact` first, so no credential reaches the operator channel or the
database.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from monitor.log import get_logger
from monitor.models import Alert
from monitor.redact import redact
from monitor.store import NoticeState, NoticeStore

log = get_logger("monitor.notices")

THRESHOLD = 3
REMIND_AFTER = 6 * 3600.0


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0, UTC).strftime("%Y-%m-%d %H:%M UTC")


def on_failure(
    state: NoticeState, label: str, error: str, now: float
) -> tuple[NoticeState, str | None]:
    """One more failure of `label`; returns the new state and the notice text, if one is due."""
    failures = state.failures + 1
    since = state.since if state.failures else now
    new = replace(state, failures=failures, since=since, last_error=error)
    due = failures >= THRESHOLD and (state.notified is None or now - state.notified >= REMIND_AFTER)
    if not due:
        return new, None
    text = f"{label} has failed {failures} times in a row since {_when(since)}: {error}"
    return replace(new, notified=now), text


def on_success(state: NoticeState, label: str) -> tuple[NoticeState, str | None]:
    """`label` worked; a recovery notice only if its failure was reported."""
    if not state.failures:
        return state, None
    text = None
    if state.notified is not None:
        text = (
            f"{label} is working again after {state.failures} failures since {_when(state.since)}"
        )
    return NoticeState(state.subject), text


class Notices:
    """Feeds the pure decisions above with stored state and queues the notices."""

    def __init__(
        self,
        store: NoticeStore,
        operator_channel: str | None,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.operator_channel = operator_channel
        self.clock = clock
        self.on_queued = on_queued

    def feed_failed(self, feed: str, error: str) -> None:
        self._failure(f"feed:{feed}", f"Feed {feed!r}", error)

    def feed_ok(self, feed: str) -> None:
        self._success(f"feed:{feed}", f"Feed {feed!r}")

    def once(self, subject: str, text: str) -> None:
        """Tell the operator `text` the first time `subject` happens, never again."""
        if not self.operator_channel:
            return
        state = self.store.notice_state(subject)
        if state.notified is not None:
            return
        now = self.clock()
        self._save(replace(state, notified=now), text, now)

    def channel_failed(self, channel: str, error: str) -> None:
        if channel != self.operator_channel:
            self._failure(f"channel:{channel}", f"Channel {channel!r}", error)

    def channel_ok(self, channel: str) -> None:
        if channel != self.operator_channel:
            self._success(f"channel:{channel}", f"Channel {channel!r}")

    def _failure(self, subject: str, label: str, error: str) -> None:
        if not self.operator_channel:
            return
        now = self.clock()
        state, text = on_failure(self.store.notice_state(subject), label, redact(error), now)
        self._save(state, text, now)

    def _success(self, subject: str, label: str) -> None:
        if not self.operator_channel:
            return
        state = self.store.notice_state(subject)
        if not state.failures:
            return
        new, text = on_success(state, label)
        self._save(new, text, self.clock())

    def _save(self, state: NoticeState, text: str | None, now: float) -> None:
        notice = None
        if text and self.operator_channel:
            text = redact(text)
            notice = make_notice(text, self.operator_channel, state.subject, now)
            log.warning("operator_notice", channel=self.operator_channel, notice=text)
        self.store.save_notice_state(state, notice, now=now)
        if notice is not None and self.on_queued:
            self.on_queued()


def make_notice(text: str, channel: str, subject: str, now: float) -> Alert:
    key = hashlib.sha256(f"{subject}\x1f{text}\x1f{now}".encode()).hexdigest()[:32]
    created = datetime.fromtimestamp(now, UTC)
    return Alert(
        id=f"ntc_{key}",
        channel=channel,
        article_id=f"notice:{subject}",
        title=text,
        url=None,
        source="news-monitor",
        published=created,
        rules=(),
        created=created,
        kind="notice",
    )
