"""Alerts, notices and batches -> what channels send: email (text + HTML), JSON, plain text.

Templates are Jinja2 files in `monitor/deliver/templates/`, a `.txt.j2` (email text part
and Apprise) and an `.html.j2` (email HTML part, autoescaped) each for
`alert` (an article matched), `notice` (news-monitor telling its operator something) and
`digest` (a `Batch`: a channel's digest or a rule's over-the-limit summary; `kind` says which).
An operator overrides one by putting a file with the same name in a directory and passing
it as `templates_dir` (the channel's `templates_dir`); templates not found there come from
the package.

A message from `monitor send-test` (`test` set on the alert or batch) says so everywhere:
`[TEST] ` before its subject, a TEST line first in each body (templates see `test`) and
`"test": true` in its JSON.

Article text is hostile input, and so is everything derived from it (matched terms,
snippets, error text quoted in a notice). Every text field of every output passes
`monitor.sanitize`: one-line fields through `clean_line` (no control, bidi-control or
separator characters, whitespace collapsed, a length limit), snippet text through
`neutralize` (the same characters blanked one for one, so highlight offsets stay valid).
Every URL passes `safe_url` (a plain http(s) link to a host, else None). Notices are also
passed through `monitor.redact`, so one written before redaction existed cannot leak.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2

from monitor.errors import DeliveryError
from monitor.models import UTC_ZONE, Alert, AlertRule, Batch, EmailChannel, Snippet
from monitor.redact import redact
from monitor.sanitize import clean_line, is_clean, neutralize

NOTICE_LIMIT = 1000  # a notice's sentence may quote an error message
DESCRIPTION_LIMIT = 500
TERM_LIMIT = 100
URL_LIMIT = 8192  # longer article links are dropped from alerts (no browser needs more)
MAX_SNIPPETS = 3
MAX_BATCH_ITEMS = 100  # email and text list this many of a batch's alerts; JSON has them all
TEMPLATE_NAMES = tuple(
    f"{stem}.{ext}.j2" for stem in ("alert", "notice", "digest") for ext in ("txt", "html")
)
PAYLOAD_VERSION = 1
_TEMPLATES = Path(__file__).parent / "templates"

# A run of whitespace: one class with a greedy `+`, so a match ends at the first character
# outside the class and never backtracks into the run.
_SPACES = re.compile(r"\s+")


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link to a host, else None: no `javascript:` or
    `data:` link in an alert, no control, bidi or space characters, nothing that does not
    parse (a bad port, a broken IPv6 literal), nothing longer than `URL_LIMIT`."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_LIMIT or not is_clean(url) or _SPACES.search(url):
        return None
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0  # reading .port raises ValueError when out of range
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        return None
    return url


# --------------------------------------------------------------------------- snippets


@dataclass(frozen=True)
class Segment:
    """A piece of a snippet; `marked` pieces are words a rule matched."""

    text: str
    marked: bool


def segments(snippet: Snippet) -> list[Segment]:
    """Split a snippet at its highlights (clamped to the text, overlapping ones merged)."""
    text = neutralize(snippet.text)
    pieces: list[Segment] = []
    pos = 0
    for start, end in merge_spans(snippet.highlights, len(text)):
        if start > pos:
            pieces.append(Segment(text[pos:start], False))
        pieces.append(Segment(text[start:end], True))
        pos = end
    if pos < len(text):
        pieces.append(Segment(text[pos:], False))
    return [Segment(_SPACES.sub(" ", p.text), p.marked) for p in pieces]


def merge_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans within [0, length]; empty ones dropped."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, a), min(b, length)) for a, b in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def pick_snippets(rules: Iterable[AlertRule], limit: int = MAX_SNIPPETS) -> list[Snippet]:
    """Up to `limit` distinct snippets, taking each rule's first ones first."""
    chosen: list[Snippet] = []
    seen: set[str] = set()
    for snippet in _round_robin([r.snippets for r in rules]):
        if snippet.text not in seen and len(chosen) < limit:
            seen.add(snippet.text)
            chosen.append(snippet)
    return chosen


def best_snippet(rules: Iterable[AlertRule]) -> Snippet | None:
    """The snippet a one-line listing shows: body before title, then most highlights."""
    best: Snippet | None = None
    best_key = (False, -1)
    for rule in rules:
        for snippet in rule.snippets:
            key = (snippet.field == "body", len(merge_spans(snippet.highlights, len(snippet.text))))
            if key > best_key:
                best, best_key = snippet, key
    return best


def _round_robin(groups: list[tuple[Snippet, ...]]) -> Iterable[Snippet]:
    for i in range(max((len(g) for g in groups), default=0)):
        yield from (g[i] for g in groups if i < len(g))


def matched_terms(alert: Alert) -> list[str]:
    """Every matched word once (cleaned), case-insensitively, in first-seen order."""
    terms: dict[str, str] = {}
    for rule in alert.rules:
        for term in clean_terms(rule.terms):
            terms.setdefault(term.casefold(), term)
    return list(terms.values())


def clean_terms(terms: Iterable[str]) -> list[str]:
    """Matched words as one-line text; a word that was nothing but control characters is
    dropped."""
    return [term for term in (clean_line(t, TERM_LIMIT) for t in terms) if term]


# --------------------------------------------------------------------------- context


def local_time(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    return _aware(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def context(alert: Alert, tz: ZoneInfo) -> dict[str, Any]:
    """What alert templates see: cleaned, article-derived strings (HTML escaping is Jinja's)."""
    return {
        "alert_id": alert.id,
        "test": alert.test,
        "title": clean_line(alert.title) or "(no title)",
        "url": safe_url(alert.url),
        "source": clean_line(alert.source),
        "sources": [clean_line(s) for s in alert.sources],
        "published": local_time(alert.published, tz),
        "language": clean_line(alert.language or "", 20),
        "partial": alert.partial,
        "rules": [
            {
                "name": clean_line(r.name),
                "description": clean_line(r.description, DESCRIPTION_LIMIT),
            }
            for r in alert.rules
        ],
        "snippets": [segments(s) for s in pick_snippets(alert.rules)],
        "terms": matched_terms(alert),
    }


def notice_context(alert: Alert, tz: ZoneInfo) -> dict[str, Any]:
    """What notice templates see: the sentence (`message`) and when it was said."""
    return {
        "alert_id": alert.id,
        "test": alert.test,
        "subject": notice_subject(alert),
        "message": notice_message(alert),
        "created": local_time(alert.created, tz),
    }


def notice_message(alert: Alert) -> str:
    return clean_line(redact(alert.title), NOTICE_LIMIT) or "(no message)"


def notice_subject(alert: Alert) -> str:
    return marked(clean_line(f"[news-monitor] {redact(alert.title)}"), alert.test)


def marked(subject: str, test: bool) -> str:
    """A subject as sent: `[TEST] ` first when `monitor send-test` sent it."""
    return f"[TEST] {subject}" if test else subject


def batch_context(batch: Batch, tz: ZoneInfo) -> dict[str, Any]:
    """What the digest templates see; `items` are the first MAX_BATCH_ITEMS alerts."""
    alerts = sum(1 for a in batch.alerts if a.kind != "notice")
    return {
        "batch_id": batch.id,
        "test": batch.test,
        "kind": batch.kind,
        "subject": batch_subject(batch, tz),
        "channel": clean_line(batch.channel),
        "rule": clean_line(batch.rule) if batch.rule else None,
        "since": local_time(batch_since(batch), tz),
        "created": local_time(batch.created, tz),
        "count": len(batch.alerts),
        "counted": _counted(alerts, len(batch.alerts) - alerts),
        "items": [_item(a, tz) for a in batch.alerts[:MAX_BATCH_ITEMS]],
        "omitted": max(0, len(batch.alerts) - MAX_BATCH_ITEMS),
    }


def _item(alert: Alert, tz: ZoneInfo) -> dict[str, Any]:
    """One line of a batch listing: headline, source, time, rules and the best snippet."""
    notice = alert.kind == "notice"
    snippet = None if notice else best_snippet(alert.rules)
    return {
        "alert_id": alert.id,
        "notice": notice,
        "title": notice_message(alert) if notice else clean_line(alert.title) or "(no title)",
        "url": None if notice else safe_url(alert.url),
        "source": clean_line(alert.source),
        "time": local_time(alert.published or alert.created, tz),
        "partial": alert.partial,
        "rules": [clean_line(r.name) for r in alert.rules],
        "snippet": segments(snippet) if snippet else None,
    }


def batch_since(batch: Batch) -> datetime:
    """`batch.since`, else the earliest alert's creation, else the batch's."""
    if batch.since is not None:
        return batch.since
    return min((a.created for a in batch.alerts), key=_aware, default=batch.created)


def batch_subject(batch: Batch, tz: ZoneInfo) -> str:
    """`Digest: 12 alerts since 09:00` or `iran-oil: 37 more matches since 09:00`.

    The time is the channel's local time, with the date when it is not the batch's day.
    """
    since = _aware(batch_since(batch)).astimezone(tz)
    same_day = since.date() == _aware(batch.created).astimezone(tz).date()
    when = since.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")
    if batch.kind == "summary":
        count = len(batch.alerts)
        matches = "match" if count == 1 else "matches"
        rule = batch.rule or "Summary"
        return marked(clean_line(f"{rule}: {count} more {matches} since {when}"), batch.test)
    alerts = sum(1 for a in batch.alerts if a.kind != "notice")
    counted = _counted(alerts, len(batch.alerts) - alerts)
    return marked(clean_line(f"Digest: {counted} since {when}"), batch.test)


def _counted(alerts: int, notices: int) -> str:
    """`12 alerts`, `1 notice`, `3 alerts and 1 notice`."""
    parts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in ((alerts, "alert"), (notices, "notice"))
        if n
    ]
    return " and ".join(parts) or "0 alerts"


# --------------------------------------------------------------------------- templates


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: Path | None, html: bool) -> jinja2.Environment:
    paths = [str(templates_dir), str(_TEMPLATES)] if templates_dir else [str(_TEMPLATES)]
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(paths),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(
    name: str, data: dict[str, Any], templates_dir: Path | None, channel: str | None
) -> str:
    environment = _environment(templates_dir, html=name.endswith(".html.j2"))
    try:
        return environment.get_template(name).render(data)
    except jinja2.TemplateError as e:  # an operator's template: retrying cannot fix it
        where = f"check {templates_dir}/{name}" if templates_dir else None
        raise DeliveryError(f"template {name} failed", channel, permanent=True, hint=where) from e


def templates_problem(templates_dir: Path) -> tuple[str, str] | None:
    """Why an operator's template directory cannot be used (message, hint), or None.

    Reads the directory and compiles the override templates in it (only when a notifier is
    built); rendering a missing variable is caught later, at send time.
    """
    if not templates_dir.is_dir():
        return (
            f"templates_dir {templates_dir} is not a directory",
            "create it or remove `templates_dir` from the channel",
        )
    if not os.access(templates_dir, os.R_OK | os.X_OK):
        return (f"templates_dir {templates_dir} is not readable", "check its permissions")
    for name in TEMPLATE_NAMES:
        if not (templates_dir / name).exists():
            continue
        try:
            _environment(templates_dir, html=name.endswith(".html.j2")).get_template(name)
        except (jinja2.TemplateError, OSError, UnicodeDecodeError) as e:
            where = f" line {e.lineno}" if isinstance(e, jinja2.TemplateSyntaxError) else ""
            return (
                f"template {templates_dir / name} is broken{where}: {e}",
                "fix it, or delete it to use the built-in one",
            )
    return None


# --------------------------------------------------------------------------- outputs


def render_text(
    alert: Alert, *, timezone: ZoneInfo = UTC_ZONE, templates_dir: Path | None = None
) -> str:
    """The plain-text body of an alert or notice (email text part, Apprise, send-test)."""
    tz = timezone
    if alert.kind == "notice":
        return _render("notice.txt.j2", notice_context(alert, tz), templates_dir, alert.channel)
    return _render("alert.txt.j2", context(alert, tz), templates_dir, alert.channel)


def render_subject(alert: Alert) -> str:
    """The email subject and Apprise title: the headline, or `[news-monitor] <notice>`;
    `[TEST] ` first for a message from `monitor send-test`."""
    if alert.kind == "notice":
        return notice_subject(alert)
    return marked(clean_line(alert.title) or "(no title)", alert.test)


def render_email(
    alert: Alert, channel: EmailChannel, templates_dir: Path | None = None
) -> EmailMessage:
    """A multipart/alternative message; Message-ID is derived from the alert id."""
    tz = channel.timezone
    if alert.kind == "notice":
        stem, data = "notice", notice_context(alert, tz)
    else:
        stem, data = "alert", context(alert, tz)
    msg = _message(channel, render_subject(alert), alert.created, alert.id, alert.kind)
    msg["X-News-Monitor-Alert-Id"] = alert.id
    msg.set_content(_render(f"{stem}.txt.j2", data, templates_dir, channel.name))
    msg.add_alternative(
        _render(f"{stem}.html.j2", data, templates_dir, channel.name), subtype="html"
    )
    return msg


def render_batch_text(
    batch: Batch, *, timezone: ZoneInfo = UTC_ZONE, templates_dir: Path | None = None
) -> str:
    """The plain-text listing of a digest or summary (email text part, Apprise)."""
    data = batch_context(batch, timezone)
    return _render("digest.txt.j2", data, templates_dir, batch.channel)


def render_batch_subject(batch: Batch, *, timezone: ZoneInfo = UTC_ZONE) -> str:
    return batch_subject(batch, timezone)


def render_batch_email(
    batch: Batch, channel: EmailChannel, templates_dir: Path | None = None
) -> EmailMessage:
    """One multipart/alternative message listing the batch; Message-ID from the batch id."""
    data = batch_context(batch, channel.timezone)
    msg = _message(channel, data["subject"], batch.created, batch.id, batch.kind)
    msg["X-News-Monitor-Batch-Id"] = batch.id
    msg.set_content(_render("digest.txt.j2", data, templates_dir, channel.name))
    msg.add_alternative(
        _render("digest.html.j2", data, templates_dir, channel.name), subtype="html"
    )
    return msg


def _message(
    channel: EmailChannel, subject: str, created: datetime, message_id: str, kind: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = format_datetime(_aware(created))
    msg["Message-ID"] = f"<{message_id}@{_domain(channel.sender)}>"
    msg["X-News-Monitor-Kind"] = kind
    return msg


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The JSON document webhooks and the file channel send (see docs/webhook.md): every
    URL safe or null; names and ids (what receivers route and deduplicate on) neutralized
    one character for one, other text made one clean bounded line."""
    if alert.kind == "notice":
        return {
            "type": "notice",
            "version": PAYLOAD_VERSION,
            "id": alert.id,
            "channel": neutralize(alert.channel),
            "created": _aware(alert.created).isoformat(),
            "test": alert.test,
            "message": notice_message(alert),
        }
    return {
        "type": "alert",
        "version": PAYLOAD_VERSION,
        "id": alert.id,
        "channel": neutralize(alert.channel),
        "created": _aware(alert.created).isoformat(),
        "test": alert.test,
        "article": {
            "id": neutralize(alert.article_id),
            "url": safe_url(alert.url),
            "title": clean_line(alert.title),
            "source": clean_line(alert.source),
            "sources": [clean_line(s) for s in alert.sources],
            "published": _aware(alert.published).isoformat() if alert.published else None,
            "language": clean_line(alert.language, 20) if alert.language else None,
            "partial": alert.partial,
        },
        "rules": [
            {
                "name": neutralize(r.name),
                "description": clean_line(r.description, DESCRIPTION_LIMIT),
                "terms": clean_terms(r.terms),
                "snippets": [
                    {
                        "field": s.field,
                        "text": neutralize(s.text),
                        "highlights": [list(h) for h in merge_spans(s.highlights, len(s.text))],
                    }
                    for s in r.snippets
                ],
            }
            for r in alert.rules
        ],
        "terms": matched_terms(alert),
    }


def batch_payload(batch: Batch) -> dict[str, Any]:
    """One JSON document for a digest or summary: every alert's payload, in order."""
    return {
        "type": batch.kind,
        "version": PAYLOAD_VERSION,
        "id": batch.id,
        "channel": neutralize(batch.channel),
        "created": _aware(batch.created).isoformat(),
        "test": batch.test,
        "rule": neutralize(batch.rule) if batch.rule else None,
        "since": _aware(batch_since(batch)).isoformat(),
        "count": len(batch.alerts),
        "alerts": [webhook_payload(a) for a in batch.alerts],
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip(" >")
    # one character class repeated, anchored at both ends: a single linear pass
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain) else "news-monitor.invalid"
