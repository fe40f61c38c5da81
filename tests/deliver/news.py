"""Realistic, fixed messages (June 2024 news) for the rendering snapshots and the channel
contract suite: the same bytes on every run. What `monitor send-test` sends is
`monitor.deliver.samples` (marked TEST, dated now, fresh ids)."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.deliver.ids import alert_id
from monitor.models import Alert, AlertRule, Batch, BatchKind, Snippet


def sample_alert(channel: str) -> Alert:
    """A realistic alert: an article two rules matched."""
    body = (
        "Brent crude rose 4% on Monday after Iran said it would restrict tanker traffic "
        "through the Strait of Hormuz, traders said."
    )
    key = "sample:reuters:brent-hormuz"
    return Alert(
        id=alert_id(key, channel),
        channel=channel,
        article_id=key,
        title="Oil jumps as Iran threatens Strait of Hormuz shipping",
        url="https://example.com/news/oil-iran-hormuz",
        source="Example Wire",
        sources=("Example Wire", "Example Business"),
        published=datetime(2024, 6, 3, 7, 45, tzinfo=UTC),
        language="en",
        created=datetime(2024, 6, 3, 7, 50, tzinfo=UTC),
        rules=(
            AlertRule(
                name="iran-oil",
                description="Iran near oil or shipping",
                terms=("Iran", "crude", "tanker"),
                snippets=(Snippet("body", body, ((6, 11), (36, 40), (64, 70))),),
            ),
            AlertRule(
                name="hormuz",
                description="Anything about the Strait of Hormuz",
                terms=("Strait of Hormuz",),
                snippets=(
                    Snippet(
                        "title",
                        "Oil jumps as Iran threatens Strait of Hormuz shipping",
                        ((28, 44),),
                    ),
                ),
            ),
        ),
    )


def sample_notice(channel: str) -> Alert:
    """A realistic operator notice: a feed that keeps failing."""
    return Alert(
        id=alert_id("sample:notice:feed-failing:bbc-world", channel),
        channel=channel,
        article_id="notice:feed-failing:bbc-world",
        title="Feed 'BBC World' has failed 5 times in a row since 2024-06-03 07:00 UTC: HTTP 503",
        url=None,
        source="news-monitor",
        published=None,
        rules=(),
        created=datetime(2024, 6, 3, 7, 55, tzinfo=UTC),
        kind="notice",
    )


def sample_batch(channel: str, kind: BatchKind = "digest") -> Batch:
    """A realistic digest (three alerts) or summary (rule `iran-oil` over its limit)."""
    first = sample_alert(channel)
    iran_oil = first.rules[0]
    body = (
        "Tanker rates from the Gulf doubled overnight as insurers raised war-risk premiums "
        "for ships calling at Iranian ports."
    )
    second = Alert(
        id=alert_id("sample:wire:tanker-rates", channel),
        channel=channel,
        article_id="sample:wire:tanker-rates",
        title="Tanker rates double as insurers price in Gulf risk",
        url="https://example.com/news/tanker-rates",
        source="Example Business",
        published=datetime(2024, 6, 3, 8, 10, tzinfo=UTC),
        language="en",
        created=datetime(2024, 6, 3, 8, 12, tzinfo=UTC),
        rules=(
            AlertRule(
                name=iran_oil.name,
                description=iran_oil.description,
                terms=("Tanker", "Iranian"),
                snippets=(
                    Snippet(
                        "title", "Tanker rates double as insurers price in Gulf risk", ((0, 6),)
                    ),
                    Snippet("body", body, ((0, 6), (103, 110))),
                ),
            ),
        ),
    )
    third = Alert(
        id=alert_id("sample:feed:opec-call", channel),
        channel=channel,
        article_id="sample:feed:opec-call",
        title="OPEC+ delegates weigh emergency call on Iran crude exports",
        url=None,
        source="Example Energy",
        published=None,
        partial=True,
        created=datetime(2024, 6, 3, 8, 40, tzinfo=UTC),
        rules=(
            AlertRule(
                name=iran_oil.name,
                description=iran_oil.description,
                terms=("Iran", "crude"),
                snippets=(
                    Snippet(
                        "body",
                        "Delegates said an emergency call on Iran crude exports was possible.",
                        ((36, 40), (41, 46)),
                    ),
                ),
            ),
        ),
    )
    return Batch(
        id="bat_" + alert_id(f"sample:{kind}", channel).removeprefix("msg_"),
        channel=channel,
        kind=kind,
        alerts=(first, second, third),
        created=datetime(2024, 6, 3, 9, 0, tzinfo=UTC),
        rule=iran_oil.name if kind == "summary" else None,
        since=first.created,
    )
