"""Replay: the rules in force now, run over the articles already stored (`monitor replay`).

    stored articles recorded within --since, a page at a time
      -> match (the rules of the configuration directory; muted rules left out)
      -> leave out each (article, rule, channel) already alerted
      -> one alert per (article, channel), listing the rules left
      -> shown (--dry-run: nothing else), or planned by the noise policy and queued

Once only: a rule that already alerted a channel about an article (sent, pending or failed,
on its own or in a digest or summary) is not alerted there again, whether that alert came
from a live poll or an earlier replay. When the channel already had an alert about the
article for other rules, the new one cannot take the article's usual id (receivers would
drop it as a repeat): it gets an id of its own, derived from the article, the channel and
the rules it lists, so it is as stable as every alert id, and a replay that runs again, or
two at once, queues it once.

Alerts go into the outbox like live ones, with the same noise policy (`plan_delivery`: the
channel's digest, a rule's `max_alerts`), and a running daemon sends them. Articles are
read a page at a time, in id order, so memory stays flat however many are stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from monitor.config import Config
from monitor.deliver.ids import alert_id
from monitor.log import get_logger
from monitor.match import Matcher
from monitor.models import Alert, Item, Match, RuleConfig
from monitor.pipeline import Rules, build_alerts, plan_delivery
from monitor.sanitize import clean_line
from monitor.steer import iso, known
from monitor.store import AdminStore, StoredArticle

log = get_logger("monitor.replay")

PAGE = 500  # stored articles read and matched at a time

Shown = Callable[[Alert, StoredArticle], None]


@dataclass
class ReplayReport:
    """What a replay did. `alerts` counts per (rule, channel): queued, or for a dry run,
    that would have been."""

    scanned: int = 0  # stored articles within --since
    matched: int = 0  # of them, matched by at least one rule replayed
    already: int = 0  # (article, rule, channel) left out: alerted before
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)
    muted: dict[str, float] = field(default_factory=dict)  # rules left out, muted until


def replay_id(alert: Alert) -> str:
    """The id of a replayed alert on a channel that already had one about its article."""
    names = sorted(r.name for r in alert.rules)
    return alert_id("\x1f".join((alert.article_id, "replay", *names)), alert.channel)


def chosen_rules(config: Config, rule: str | None) -> tuple[RuleConfig, ...]:
    """The rules a replay runs: all of the configuration's, or the one named (a name the
    configuration does not have is refused with the closest ones)."""
    if rule is None:
        return config.rules
    known("rule", rule, (r.name for r in config.rules))
    return tuple(r for r in config.rules if r.name == rule)


def alerts_for(
    article: StoredArticle,
    matches: Sequence[Match],
    rules: Mapping[str, RuleConfig],
    alerted: set[tuple[str, str, str]],
    *,
    now: float,
) -> list[Alert]:
    """The alerts a replay adds for one stored article: its matches, less every (rule,
    channel) already alerted about it (`alerted`: (article, rule, channel))."""
    doc = article.doc
    fresh = []
    for m in matches:
        channels = tuple(c for c in m.channels if (doc.id, m.rule, c) not in alerted)
        if channels:
            fresh.append(m._replace(channels=channels))
    told = {channel for art, _, channel in alerted if art == doc.id}
    item = Item(key=doc.id, feed=doc.feed or "", title=doc.title, link=doc.url)
    return [
        replace(a, id=replay_id(a)) if a.channel in told else a
        for a in build_alerts(doc, item, fresh, rules, now=now)
    ]


def replay(
    store: AdminStore,
    config: Config,
    *,
    since: float,
    now: float,
    rule: str | None = None,
    dry_run: bool = False,
    show: Shown | None = None,
) -> ReplayReport:
    """Run the configuration's rules (or the one named) over the articles recorded from
    `since` to `now`; queue the alerts that are new, or with `dry_run` only show them
    (`show` sees every alert, queued or not)."""
    chosen = chosen_rules(config, rule)
    report = ReplayReport()
    muted = store.muted_rules(now=now)
    report.muted = {r.name: muted[r.name] for r in chosen if r.name in muted}
    active = [r for r in chosen if r.name not in muted]
    if not active:
        return report
    matcher = Matcher.build(active, config.entities)
    tags = {f.name: frozenset(f.tags) for f in config.feeds}
    settings = Rules({r.name: r for r in config.rules}, dict(config.channels))
    after = ""
    while page := store.articles_since(since, until=now, limit=PAGE, after_id=after):
        after = page[-1].doc.id
        report.scanned += len(page)
        found = []
        for article in page:
            doc = replace(article.doc, tags=tags.get(article.doc.feed or "", frozenset()))
            matches = matcher.match(doc)
            if matches:
                found.append((article, matches))
        if not found:
            continue
        report.matched += len(found)
        alerted = store.alerted_rules([a.doc.id for a, _ in found])
        alerts: list[Alert] = []
        for article, matches in found:
            wanted = sum(len(m.channels) for m in matches)
            new = alerts_for(article, matches, settings.by_name, alerted, now=now)
            report.already += wanted - sum(len(a.rules) for a in new)
            if show is not None:
                for a in new:
                    show(a, article)
            alerts += new
        if not dry_run and alerts:
            ids = set(
                store.queue_alerts(
                    alerts,
                    now=now,
                    plan=lambda alert, view: plan_delivery(alert, view, settings, now),
                )
            )
            alerts = [a for a in alerts if a.id in ids]
        report.alerts.update((r.name, a.channel) for a in alerts for r in a.rules)
    log.info(
        "replay_done",
        dry_run=dry_run,
        scanned=report.scanned,
        matched=report.matched,
        already=report.already,
        alerts=sum(report.alerts.values()),
    )
    return report


def alert_lines(alert: Alert, article: StoredArticle) -> list[str]:
    """A would-be alert as an operator reads it: when, where to, which rules, the article
    and its feed, and one snippet. Every part is one safe line (titles and snippets come
    from strangers)."""
    recorded = datetime.fromtimestamp(article.created, UTC)
    when = (alert.published or recorded).isoformat(timespec="seconds")
    rules = ", ".join(r.name for r in alert.rules)
    lines = [
        f"{when}  {clean_line(alert.channel)}  {clean_line(rules)}"
        f"  [{clean_line(alert.source)}] {clean_line(alert.title)}",
        f"    {clean_line(alert.url or '(no link)', 300)}",
    ]
    snippet = next((s for r in alert.rules for s in r.snippets), None)
    if snippet is not None:
        lines.append(f"    \u2026{clean_line(snippet.text, 300)}\u2026")
    return lines


def summary_lines(report: ReplayReport, *, since: float, dry_run: bool) -> list[str]:
    """What a replay did, for the operator: muted rules left out, then alerts per rule and
    channel, then the totals."""
    lines = [
        f"rule {name!r} is muted until {iso(until)}: not replayed (`monitor unmute {name}`)"
        for name, until in sorted(report.muted.items())
    ]
    done = "would queue" if dry_run else "queued"
    lines += [
        f"{done} {count} alert(s) for rule {rule!r} to channel {channel!r}"
        for (rule, channel), count in sorted(report.alerts.items())
    ]
    lines.append(
        f"{report.scanned} stored article(s) since {iso(since)}, {report.matched} matched,"
        f" {report.already} rule alert(s) left out as alerted before;"
        f" {done} {sum(report.alerts.values())} in all"
        + ("" if dry_run else " (a running service sends them)")
    )
    return lines
