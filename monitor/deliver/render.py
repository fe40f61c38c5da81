"""Alerts -> what channels send: email (text + HTML), webhook JSON, plain text.

Templates are Jinja2 files in `monitor/deliver/templates/`: `alert.txt.j2` (email text part,
Apprise and `monitor send-test`) and `alert.html.j2` (email HTML part, autoescaped).
An operator overrides one by putting a file with the same name in a directory and passing
it as `templates_dir`; templates not found there come from the package.

Article text is hostile input. Headlines are cleaned of control characters (so CR/LF can
neither inject a mail header nor make a send fail forever), of bidi embeddings/overrides/
isolates (which can visually reorder text) and truncated to `TITLE_LIMIT` characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from monitor.deliver.ids import alert_id
from monitor.errors import DeliveryError
from monitor.models import Alert, AlertRule, ChannelConfig, Snippet

TITLE_LIMIT = 200
MAX_SNIPPETS = 3
PAYLOAD_VERSION = 1
_TEMPLATES = Path(__file__).parent / "templates"

# Bidi embeddings, overrides and isolates: they reorder what follows them ("Trojan Source").
# Plain direction marks (U+200E, U+200F, U+061C) are harmless and kept.
_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BLANKED = {ord(c): " " for c in _BIDI_CONTROLS + "\u2028\u2029\u0085"}
_BLANKED.update({c: " " for c in (*range(0x20), *range(0x7F, 0xA0))})
_SPACES = re.compile(r"\s+")


def neutralize(text: str) -> str:
    """Replace control and bidi-control characters by spaces, keeping every offset valid."""
    return text.translate(_BLANKED)


def clean_line(text: str, limit: int = TITLE_LIMIT) -> str:
    """One safe line: neutralized, whitespace collapsed, at most `limit` characters."""
    line = _SPACES.sub(" ", neutralize(unicodedata.normalize("NFC", text))).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link, else None (no `javascript:` in a mail)."""
    if not url:
        return None
    url = url.strip()
    if urlsplit(url).scheme.lower() not in ("http", "https") or neutralize(url) != url:
        return None
    return url if " " not in url else None


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


def _round_robin(groups: list[tuple[Snippet, ...]]) -> Iterable[Snippet]:
    for i in range(max((len(g) for g in groups), default=0)):
        yield from (g[i] for g in groups if i < len(g))


def matched_terms(alert: Alert) -> list[str]:
    """Every matched word once, case-insensitively, in first-seen order."""
    terms: dict[str, str] = {}
    for rule in alert.rules:
        for term in rule.terms:
            terms.setdefault(term.casefold(), clean_line(term, 100))
    return list(terms.values())


# --------------------------------------------------------------------------- context


def zone(name: str, channel: str | None = None) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise DeliveryError(
            f"unknown time zone {name!r}",
            channel,
            permanent=True,
            hint="use an IANA name such as Europe/Berlin",
        ) from e


def local_time(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def context(alert: Alert, tz: ZoneInfo) -> dict[str, Any]:
    """What templates see: cleaned, article-derived strings (HTML escaping is Jinja's job)."""
    return {
        "alert_id": alert.id,
        "title": clean_line(alert.title) or "(no title)",
        "url": safe_url(alert.url),
        "source": clean_line(alert.source),
        "sources": [clean_line(s) for s in alert.sources],
        "published": local_time(alert.published, tz),
        "language": clean_line(alert.language or "", 20),
        "partial": alert.partial,
        "rules": [
            {"name": clean_line(r.name), "description": clean_line(r.description, 500)}
            for r in alert.rules
        ],
        "snippets": [segments(s) for s in pick_snippets(alert.rules)],
        "terms": matched_terms(alert),
    }


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
        raise DeliveryError(
            f"template {name} failed", channel, permanent=True, hint=f"check {templates_dir}"
        ) from e


# --------------------------------------------------------------------------- outputs


def render_text(alert: Alert, *, timezone: str = "UTC", templates_dir: Path | None = None) -> str:
    """The plain-text body (email text part, Apprise, `monitor send-test`)."""
    return _render("alert.txt.j2", context(alert, zone(timezone)), templates_dir, alert.channel)


def render_email(
    alert: Alert, channel: ChannelConfig, templates_dir: Path | None = None
) -> EmailMessage:
    """A multipart/alternative message; Message-ID is derived from the alert id."""
    data = context(alert, zone(channel.timezone, channel.name))
    msg = EmailMessage()
    msg["Subject"] = data["title"]
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = format_datetime(_aware(alert.created))
    msg["Message-ID"] = f"<{alert.id}@{_domain(channel.sender)}>"
    msg["X-News-Monitor-Alert-Id"] = alert.id
    msg.set_content(_render("alert.txt.j2", data, templates_dir, channel.name))
    msg.add_alternative(_render("alert.html.j2", data, templates_dir, channel.name), subtype="html")
    return msg


def webhook_payload(alert: Alert) -> dict[str, Any]:
    """The JSON document webhooks and the file channel send (see docs/webhook.md)."""
    return {
        "type": "alert",
        "version": PAYLOAD_VERSION,
        "id": alert.id,
        "channel": alert.channel,
        "created": _aware(alert.created).isoformat(),
        "article": {
            "id": alert.article_id,
            "url": alert.url,
            "title": clean_line(alert.title),
            "source": clean_line(alert.source),
            "sources": [clean_line(s) for s in alert.sources],
            "published": _aware(alert.published).isoformat() if alert.published else None,
            "language": clean_line(alert.language, 20) if alert.language else None,
            "partial": alert.partial,
        },
        "rules": [
            {
                "name": r.name,
                "description": r.description,
                "terms": list(r.terms),
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


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip(" >")
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain) else "news-monitor.invalid"


# --------------------------------------------------------------------------- sample


def sample_alert(channel: str) -> Alert:
    """A realistic alert for `monitor send-test CHANNEL`."""
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
