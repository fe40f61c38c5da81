"""What `monitor status` reports, gathered once from the store's admin role: the daemons and
their last reloads, what operators muted and paused, each rule's and channel's recent activity,
each feed's health and the latest item problems. The CLI prints it as text or JSON; the web
inbox will show the same report.

Text that came from outside (feed names, URLs, errors) is passed through `shown` by the
renderer, so a hostile feed cannot drive the operator's terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.models import FeedState
from monitor.store import AdminStore, ChannelActivity, DaemonRow, ItemProblemRow, RuleActivity

PROBLEM_WINDOW = 86400.0  # item problems are counted over the last day
PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class StatusReport:
    database: str
    database_from: str  # why this database (see `monitor.locations`)
    now: float
    counts: dict[str, int]
    daemons: list[DaemonRow]
    muted: dict[str, float]
    paused: dict[str, float]
    rules: list[RuleActivity]
    channels: list[ChannelActivity]
    feeds: list[FeedState]
    failing_since: dict[str, datetime]
    item_problem_counts: dict[str, tuple[int, int]]
    item_problems: list[ItemProblemRow]
    items_day: dict[str, int]  # items read per feed in the last 24 h
    precision: dict[str, tuple[int, int]] = field(default_factory=dict)  # (useful, not)


def gather(
    store: AdminStore, *, now: float, shown_as: str | None = None, source: str = "given"
) -> StatusReport:
    """The report on `store`, whose location reads `shown_as` (default: the store's own) and
    was chosen for `source` (see `monitor.locations`)."""
    feeds = store.feed_states()
    failing: dict[str, datetime] = {}
    for state in feeds:
        if state.consecutive_failures:
            since = store.failing_since(state.name)
            if since is not None:
                failing[state.name] = since
    return StatusReport(
        database=shown_as or store.location,
        database_from=source,
        now=now,
        counts=store.counts(),
        daemons=store.daemons(now=now),
        muted=store.muted_rules(now=now),
        paused=store.paused_channels(),
        rules=store.rule_activity(now=now),
        channels=store.channel_activity(now=now),
        feeds=feeds,
        failing_since=failing,
        item_problem_counts=store.item_problem_counts(since=now - PROBLEM_WINDOW),
        item_problems=store.item_problems(limit=PROBLEMS_SHOWN),
        items_day=store.items_per_feed(since=now - 86400),
        precision=store.rule_precision(),
    )


def as_json(report: StatusReport) -> dict[str, Any]:
    """The report for scripts: times as ISO 8601 UTC strings, every section a list."""

    def clean(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat(timespec="seconds")
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data: dict[str, Any] = clean(
        {
            "database": report.database,
            "database_from": report.database_from,
            "at": _iso(report.now),
            "counts": report.counts,
            "daemons": [asdict(d) for d in report.daemons],
            "rules": [
                {
                    **asdict(r),
                    "muted_until": _maybe_iso(report.muted.get(r.rule)),
                    "feedback": _feedback_json(report.precision.get(r.rule)),
                }
                for r in report.rules
            ]
            + [
                {"rule": rule, "muted_until": _iso(until)}
                for rule, until in sorted(report.muted.items())
                if rule not in {r.rule for r in report.rules}
            ],
            "channels": _channels_json(report),
            "feeds": [
                {
                    **asdict(f),
                    "failing_since": report.failing_since.get(f.name),
                    "items_day": report.items_day.get(f.name, 0),
                    "items_partial_day": report.item_problem_counts.get(f.name, (0, 0))[0],
                    "items_failed_day": report.item_problem_counts.get(f.name, (0, 0))[1],
                }
                for f in report.feeds
            ],
            "item_problems": [asdict(p) for p in report.item_problems],
        }
    )
    return data


def _channels_json(report: StatusReport) -> list[dict[str, Any]]:
    out = [
        {**asdict(c), "paused_since": _maybe_iso(report.paused.get(c.channel))}
        for c in report.channels
    ]
    seen = {c.channel for c in report.channels}
    out += [
        {"channel": name, "pending": 0, "failed": 0, "sent_day": 0, "paused_since": _iso(since)}
        for name, since in sorted(report.paused.items())
        if name not in seen
    ]
    return out


def render(report: StatusReport, shown: Callable[..., str]) -> list[str]:
    """The report as lines for a terminal."""
    lines = [
        f"database {shown(report.database)} (from {shown(report.database_from)}): "
        + ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items()))
    ]
    lines += _daemon_lines(report, shown)
    lines += _rule_lines(report, shown)
    lines += _channel_lines(report, shown)
    if report.feeds:
        lines.append("feeds:")
    for state in report.feeds:
        lines.append(_feed_line(report, state, shown))
    if report.item_problems:
        lines.append(f"item problems (latest {len(report.item_problems)}):")
    for p in report.item_problems:
        lines.append(
            f"  {_iso(p.at)}  {shown(p.feed)}  {shown(p.item_key, 80)}  {p.stage} {p.outcome}:"
            f" {shown(p.error)}"
        )
    return lines


def _daemon_lines(report: StatusReport, shown: Callable[..., str]) -> list[str]:
    if not report.daemons:
        return ["daemons: none running (none has beaten within its lease)"]
    hashes = {d.config_hash for d in report.daemons}
    agree = "same configuration" if len(hashes) == 1 else "CONFIGURATIONS DIFFER"
    lines = [f"daemons: {len(report.daemons)} live, {agree}"]
    for d in report.daemons:
        lines.append(
            f"  {shown(d.id)}  host={shown(d.host)} pid={d.pid} version={shown(d.version)}"
            f" config={shown(d.config_hash)} started {_iso(d.started)}"
            f" heartbeat {report.now - d.heartbeat:.0f}s ago,"
            f" holds {d.feeds_held} feed(s) and {d.alerts_held} alert(s)"
        )
        if d.reloaded is not None and d.reload_problems:
            lines.append(
                f"    last reload {_iso(d.reloaded)} REJECTED (the previous configuration"
                " stays in force):"
            )
            lines += [f"      {shown(problem)}" for problem in d.reload_problems]
        elif d.reloaded is not None:
            lines.append(f"    last reload {_iso(d.reloaded)} ok")
    return lines


def _rule_lines(report: StatusReport, shown: Callable[..., str]) -> list[str]:
    names = sorted({r.rule for r in report.rules} | set(report.muted) | set(report.precision))
    if not names:
        return []
    by_name = {r.rule: r for r in report.rules}
    lines = ["rules (matches / alerts, last 24 h and 7 d):"]
    for name in names:
        r = by_name.get(name)
        line = f"  {shown(name)}:"
        if r is not None:
            last = _iso(r.last_match) if r.last_match else "never"
            line += (
                f" matches {r.matches_day} / {r.matches_week},"
                f" alerts {r.alerts_day} / {r.alerts_week}, last match {last}"
            )
        if name in report.precision:
            useful, not_useful = report.precision[name]
            line += (
                f"; precision {useful / (useful + not_useful):.0%}"
                f" ({useful} of {useful + not_useful} useful)"
            )
        if name in report.muted:
            line += f"; MUTED until {_iso(report.muted[name])} (`monitor unmute {shown(name)}`)"
        lines.append(line)
    return lines


def _feedback_json(votes: tuple[int, int] | None) -> dict[str, Any] | None:
    """Editors' verdicts on a rule's alerts (the web inbox), and its precision."""
    if votes is None:
        return None
    useful, not_useful = votes
    return {"useful": useful, "not_useful": not_useful, "precision": useful / (useful + not_useful)}


def _channel_lines(report: StatusReport, shown: Callable[..., str]) -> list[str]:
    channels = {c.channel: c for c in report.channels}
    names = sorted(set(channels) | set(report.paused))
    if not names:
        return []
    lines = ["channels:"]
    for name in names:
        c = channels.get(name)
        line = f"  {shown(name)}:"
        if c is not None:
            line += f" pending {c.pending}, failed {c.failed}, sent in 24 h {c.sent_day}"
        if name in report.paused:
            line += (
                f"; PAUSED since {_iso(report.paused[name])}, alerts queue"
                f" (`monitor resume {shown(name)}`)"
            )
        lines.append(line)
    return lines


def _feed_line(report: StatusReport, state: FeedState, shown: Callable[..., str]) -> str:
    """One feed's health: when it last worked, what its polls found, how late they ran."""
    when = _dt(state.last_success) if state.last_success else "never"
    line = f"  {shown(state.name)}: last success {when}"
    if not state.active:
        line += " (not polled: no longer in feeds.yaml, or disabled)"
    if state.gone:
        line += f"; GONE (HTTP 410), not polled: {shown(state.url)}"
    if state.moved_to:
        line += f"; MOVED to {shown(state.moved_to)} (update feeds.yaml)"
    if state.consecutive_failures:
        since = report.failing_since.get(state.name)
        started = f" since {_dt(since)}" if since else ""
        error = shown(state.last_error or "")
        line += f", FAILING x{state.consecutive_failures}{started}: {error}"
    elif state.last_status == "rate_limited":
        line += f", rate limited: {shown(state.last_error or '')}"
    if state.polls:
        last_new = _dt(state.last_new_item) if state.last_new_item else "never"
        line += (
            f"; polls {state.polls} (304: {state.not_modified}, failed: {state.failures}),"
            f" new items {state.new_items} (last {last_new};"
            f" {report.items_day.get(state.name, 0)} read in 24 h),"
            f" late {state.last_lateness or 0:.1f}s (mean {state.mean_lateness or 0:.1f}s)"
        )
    if state.interval and state.next_check and state.active and not state.gone:
        line += f"; every {state.interval:g}s, next {_dt(state.next_check)}"
    partial, failed = report.item_problem_counts.get(state.name, (0, 0))
    if partial or failed:
        line += f"; last 24 h: {partial} item(s) read from the feed only, {failed} failed"
    return line


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _maybe_iso(ts: float | None) -> str | None:
    return _iso(ts) if ts is not None else None


def _dt(when: datetime) -> str:
    return when.isoformat(timespec="seconds")
