"""The messages `monitor send-test` sends: marked TEST, dated now, with a fresh id each time.

A fresh id (so a fresh `webhook-id` and Message-ID) on every call: a receiver that drops ids
it has seen, as docs/webhook.md recommends, still takes a repeated test. The text says TEST
plainly, so no editor mistakes it for news, and `test` is set, so the subject, the body and
the JSON say so whatever templates the channel uses (see `monitor.deliver.render`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from monitor.deliver.ids import alert_id
from monitor.models import Alert, AlertRule, Batch, BatchKind, Field, Snippet

SOURCE = "news-monitor send-test"
RULE = "send-test"
_WORD = "TEST"


def sample_alert(channel: str, now: datetime, number: str = "") -> Alert:
    """A test alert for `channel`, created and published at `now` (timezone-aware)."""
    title = f"news-monitor {_WORD} alert{number}: this is not news"
    body = (
        f"This is a {_WORD} message sent by monitor send-test to check that this channel "
        "delivers. No article matched any rule; there is nothing to act on."
    )
    return Alert(
        id=_fresh(channel),
        channel=channel,
        article_id=f"send-test:{uuid.uuid4().hex}",
        title=title,
        url=None,
        source=SOURCE,
        sources=(SOURCE,),
        published=now,
        language="en",
        created=now,
        rules=(
            AlertRule(
                name=RULE,
                description="monitor send-test: a test message, not a rule that matched",
                terms=(_WORD,),
                snippets=(_marked("title", title), _marked("body", body)),
            ),
        ),
        test=True,
    )


def sample_notice(channel: str, now: datetime) -> Alert:
    """A test notice: what a notice (a feed or channel failing or working again) looks like."""
    return Alert(
        id=_fresh(channel),
        channel=channel,
        article_id=f"send-test:notice:{uuid.uuid4().hex}",
        title=(
            f"{_WORD} notice from monitor send-test: notices say when a feed or a channel "
            "fails or works again. Nothing is wrong."
        ),
        url=None,
        source="news-monitor",
        published=None,
        rules=(),
        created=now,
        kind="notice",
        test=True,
    )


def sample_batch(channel: str, now: datetime, kind: BatchKind = "digest") -> Batch:
    """A test digest, or a test summary of rule `send-test` over its limit: three alerts."""
    alerts = tuple(sample_alert(channel, now, f" {n} of 3") for n in (1, 2, 3))
    return Batch(
        id="bat_" + _fresh(channel).removeprefix("msg_"),
        channel=channel,
        kind=kind,
        alerts=alerts,
        created=now,
        rule=RULE if kind == "summary" else None,
        since=now,
        test=True,
    )


def _fresh(channel: str) -> str:
    return alert_id(f"send-test:{uuid.uuid4().hex}", channel)


def _marked(field: Field, text: str) -> Snippet:
    start = text.index(_WORD)
    return Snippet(field, text, ((start, start + len(_WORD)),))
