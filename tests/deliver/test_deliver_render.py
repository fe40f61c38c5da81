"""Rendering: snapshot tests of email (text, HTML, headers) and webhook JSON.

Snapshots live in `snapshots/`. After an intended change, regenerate them with
`UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/deliver/test_deliver_render.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from monitor.deliver import alert_id
from monitor.deliver.render import (
    MAX_BATCH_ITEMS,
    NOTICE_LIMIT,
    batch_payload,
    render_batch_email,
    render_batch_subject,
    render_batch_text,
    render_email,
    render_text,
    safe_url,
    templates_problem,
    webhook_payload,
)
from monitor.errors import DeliveryError
from monitor.models import Alert, AlertRule, Batch, EmailChannel, Snippet
from monitor.sanitize import TITLE_LIMIT, clean_line
from tests.deliver.news import sample_alert, sample_batch, sample_notice


def hostile_alert(channel: str = "test") -> Alert:
    """Article text written by an attacker: markup, header injection, bidi tricks, terminal
    escapes, C1 controls, line separators, a lone surrogate, size."""
    body = (
        "Click <script>alert(1)</script> now\r\nBcc: victim@example.com \u202egnp.exe & more"
        "\u2028\x9b2J\u2066iso\u2069\ud800"
    )
    return Alert(
        id=alert_id("hostile:1", channel),
        channel=channel,
        article_id="hostile:1",
        title="Breaking\r\nBcc: victim@example.com\r\n\r\n<script>alert('x')</script>"
        + " \u202eevil\u202c \u200fمرحبا\x00\x1b[31m\x1b]0;owned\x07\u2029\x85\udfff"
        + "A" * 10_000,
        url="javascript:alert(document.cookie)",
        source='Evil "Feed" <img src=x onerror=alert(1)>\x1b[2J',
        sources=("Evil Feed", "Mirror\nFeed", "\u2067Isolated\x7f"),
        published=datetime(2024, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5))),
        language="en\r\nX-Injected: 1",
        partial=True,
        created=datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
        rules=(
            AlertRule(
                name="xss<rule>",
                description="desc with </li><script>bad()</script>\x1b[2J\r\n\u202eevil",
                terms=("script", "SCRIPT", "Bcc", "gnp.exe\u202e\r\nX", "\x1b\x9b"),
                snippets=(
                    Snippet("body", body, ((7, 13), (0, 5), (3, 9), (200, 300))),
                    Snippet("title", "x" * 50, ()),
                ),
            ),
        ),
    )


def hostile_notice(channel: str = "test") -> Alert:
    """A notice quoting an attacker-controlled feed name and error text."""
    return Alert(
        id=alert_id("notice:hostile", channel),
        channel=channel,
        article_id="notice:hostile",
        title="Feed 'Evil <b>Feed</b>'\r\nBcc: victim@example.com has failed 3 times in a row: "
        + "http://ed:pa55word@feeds.example/rss: HTTP 500 <script>alert(1)</script> "
        + "\u202eevil\u202c\x1b[31m\x9b2J\u2028\ud800"
        + "B" * 5000,
        url="javascript:alert(1)",
        source="news-monitor",
        published=None,
        rules=(),
        created=datetime(2024, 1, 2, 9, 30, tzinfo=UTC),
        kind="notice",
    )


def hostile_batch(kind: Literal["digest", "summary"]) -> Batch:
    """A batch of hostile items: an article, a plain one and a notice; a hostile rule name."""
    return Batch(
        id=f"bat_hostile{kind}",
        channel="test",
        kind=kind,
        alerts=(hostile_alert(), sample_alert("test"), hostile_notice()),
        created=datetime(2024, 6, 3, 9, 0, tzinfo=UTC),
        rule="xss<rule>\r\nBcc: victim@example.com" if kind == "summary" else None,
        since=datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
    )


SNAPSHOTS = Path(__file__).parent / "snapshots"
CHANNEL = EmailChannel(
    name="test",
    to=("desk@example.org", "alerts@example.org"),
    sender="News Monitor <monitor@example.org>",
    timezone=ZoneInfo("Europe/Berlin"),
)
ALERTS = {"sample": sample_alert("test"), "hostile": hostile_alert()}


def assert_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"differs from {path}"


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


ALERT_HEADERS = ("Subject", "From", "To", "Date", "Message-ID", "X-News-Monitor-Alert-Id")


def headers(message: EmailMessage, names: tuple[str, ...] = ALERT_HEADERS) -> str:
    return "".join(f"{name}: {message[name]}\n" for name in names)


@pytest.mark.parametrize("case", ALERTS)
def test_email_snapshot(case: str) -> None:
    message = render_email(ALERTS[case], CHANNEL)
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert_snapshot(f"{case}_email.txt", text)
    assert_snapshot(f"{case}_email.html", html)
    assert_snapshot(f"{case}_email.headers", headers(message))


@pytest.mark.parametrize("case", ALERTS)
def test_webhook_snapshot(case: str) -> None:
    payload = json.dumps(webhook_payload(ALERTS[case]), ensure_ascii=False, indent=2)
    assert_snapshot(f"{case}_webhook.json", payload + "\n")


def test_hostile_article_renders_safely() -> None:
    alert = hostile_alert()
    message = render_email(alert, CHANNEL)
    raw = message.as_bytes()  # serializes: no header the policy would reject
    subject = str(message["Subject"])
    assert "\r" not in subject and "\n" not in subject and len(subject) <= TITLE_LIMIT
    assert b"\nBcc:" not in raw and b"X-Injected" not in raw.split(b"\n\n")[0]
    text, html = parts(message)
    for rendered in (text, html, render_text(alert), json.dumps(webhook_payload(alert))):
        assert "\u202e" not in rendered and "\x00" not in rendered and "\x1b" not in rendered
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "onerror=alert(1)>" not in html
    assert "javascript:" not in html and "javascript:" not in text
    assert "\u200f" in subject  # a plain RTL mark is legitimate text and kept


def test_highlights_marked_in_both_parts() -> None:
    text, html = parts(render_email(sample_alert("test"), CHANNEL))
    assert "[[crude]]" in text and "<mark>crude</mark>" in html
    assert "[[Strait of Hormuz]]" in text and "<mark>Strait of Hormuz</mark>" in html


def test_published_in_channel_time_zone() -> None:
    text, _ = parts(render_email(sample_alert("test"), CHANNEL))
    assert "Published: 2024-06-03 09:45 CEST" in text
    assert "Published: 2024-06-03 07:45 UTC" in render_text(sample_alert("test"))


def test_partial_note() -> None:
    text, html = parts(render_email(hostile_alert(), CHANNEL))
    assert "partial: body from feed summary" in text
    assert "Partial: body from feed summary" in html
    assert "partial" not in parts(render_email(sample_alert("test"), CHANNEL))[0].lower()


def test_message_id_is_stable_across_resends() -> None:
    alert = sample_alert("test")
    resent = Alert.from_dict(json.loads(json.dumps(alert.to_dict())))  # through the outbox
    first, second = render_email(alert, CHANNEL), render_email(resent, CHANNEL)
    assert first["Message-ID"] == second["Message-ID"] == f"<{alert.id}@example.org>"
    assert parts(first) == parts(second)


def test_operator_templates_override_package_ones(tmp_path: Path) -> None:
    (tmp_path / "alert.txt.j2").write_text("ALERT {{ title }} {{ rules|length }}\n")
    message = render_email(sample_alert("test"), CHANNEL, templates_dir=tmp_path)
    text, html = parts(message)
    assert text == "ALERT Oil jumps as Iran threatens Strait of Hormuz shipping 2\n"
    assert "<mark>crude</mark>" in html  # not overridden: the package's template


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\r\nb", "a b"),
        ("  many   spaces\t", "many spaces"),
        ("\u202eexe.txt", "exe.txt"),
        ("x" * 300, "x" * (TITLE_LIMIT - 1) + "…"),
        ("e\u0301", "é"),
    ],
)
def test_clean_line(raw: str, clean: str) -> None:
    assert clean_line(raw) == clean


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com/a?b=1", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("https://example.com/\r\nx", False),
        (None, False),
    ],
)
def test_safe_url(url: str | None, safe: bool) -> None:
    assert (safe_url(url) is not None) == safe


def test_alert_id_is_stable_and_distinct() -> None:
    first = alert_id("feed:item-1", "ops")
    assert first == alert_id("feed:item-1", "ops")
    assert first.startswith("msg_") and len(first) == 36 and first.isascii()
    assert first != alert_id("feed:item-1", "desk") != alert_id("feed:item-2", "ops")


def test_broken_operator_template_is_permanent(tmp_path: Path) -> None:
    (tmp_path / "alert.html.j2").write_text("{% if %}")
    with pytest.raises(DeliveryError) as e:
        render_email(sample_alert("test"), CHANNEL, templates_dir=tmp_path)
    assert e.value.permanent and e.value.subject == "test" and "alert.html.j2" in str(e.value)


# --------------------------------------------------------------------------- notices

NOTICES = {"notice": sample_notice("test"), "hostile_notice": hostile_notice()}
NOTICE_HEADERS = (*ALERT_HEADERS, "X-News-Monitor-Kind")


@pytest.mark.parametrize("case", NOTICES)
def test_notice_email_snapshot(case: str) -> None:
    message = render_email(NOTICES[case], CHANNEL)
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert_snapshot(f"{case}_email.txt", text)
    assert_snapshot(f"{case}_email.html", html)
    assert_snapshot(f"{case}_email.headers", headers(message, NOTICE_HEADERS))


@pytest.mark.parametrize("case", NOTICES)
def test_notice_webhook_snapshot(case: str) -> None:
    payload = json.dumps(webhook_payload(NOTICES[case]), ensure_ascii=False, indent=2)
    assert_snapshot(f"{case}_webhook.json", payload + "\n")


def test_notice_is_the_sentence_without_article_sections() -> None:
    notice = sample_notice("test")
    message = render_email(notice, CHANNEL)
    assert message["Subject"] == f"[news-monitor] {notice.title}"
    assert message["X-News-Monitor-Kind"] == "notice"
    text, html = parts(message)
    for rendered in (text, html, render_text(notice)):
        assert notice.title.replace("'", "&#39;" if rendered is html else "'") in rendered
        assert "Matched rules" not in rendered and "Source" not in rendered
    assert "Time: 2024-06-03 09:55 CEST" in text
    payload = webhook_payload(notice)
    assert payload == {
        "type": "notice",
        "version": 1,
        "id": notice.id,
        "channel": "test",
        "created": "2024-06-03T07:55:00+00:00",
        "test": False,
        "message": notice.title,
    }


def test_hostile_notice_renders_safely() -> None:
    notice = hostile_notice()
    message = render_email(notice, CHANNEL)
    raw = message.as_bytes()
    subject = str(message["Subject"])
    assert subject.startswith("[news-monitor] Feed 'Evil <b>Feed</b>' Bcc: victim@")
    assert len(subject) <= TITLE_LIMIT and b"\nBcc:" not in raw
    text, html = parts(message)
    for rendered in (text, html, render_text(notice), json.dumps(webhook_payload(notice))):
        assert "\u202e" not in rendered and "\x1b" not in rendered and "\r" not in rendered
        assert "javascript:" not in rendered
        assert "pa55word" not in rendered and "feeds.example/rss" in rendered
    assert "pa55word" not in subject
    assert "<script" not in html and "<b>" not in html
    assert len(webhook_payload(notice)["message"]) == NOTICE_LIMIT


# --------------------------------------------------------------------------- batches

BATCHES = {
    "digest": sample_batch("test"),
    "summary": sample_batch("test", "summary"),
    "hostile_digest": hostile_batch("digest"),
    "hostile_summary": hostile_batch("summary"),
}
BATCH_HEADERS = (
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "X-News-Monitor-Batch-Id",
    "X-News-Monitor-Kind",
)


@pytest.mark.parametrize("case", BATCHES)
def test_batch_email_snapshot(case: str) -> None:
    message = render_batch_email(BATCHES[case], CHANNEL)
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert_snapshot(f"{case}_email.txt", text)
    assert_snapshot(f"{case}_email.html", html)
    assert_snapshot(f"{case}_email.headers", headers(message, BATCH_HEADERS))


@pytest.mark.parametrize("case", BATCHES)
def test_batch_webhook_snapshot(case: str) -> None:
    payload = json.dumps(batch_payload(BATCHES[case]), ensure_ascii=False, indent=2)
    assert_snapshot(f"{case}_webhook.json", payload + "\n")


def test_batch_payload_lists_each_alert_payload() -> None:
    batch = hostile_batch("summary")
    payload = batch_payload(batch)
    assert payload["type"] == "summary" and payload["id"] == batch.id
    assert payload["count"] == 3 and payload["rule"] == "xss<rule>  Bcc: victim@example.com"
    assert payload["alerts"] == [webhook_payload(a) for a in batch.alerts]
    assert [a["type"] for a in payload["alerts"]] == ["alert", "alert", "notice"]
    assert batch_payload(sample_batch("test"))["rule"] is None


def test_batch_subjects() -> None:
    tz = CHANNEL.timezone
    assert render_batch_subject(sample_batch("t"), timezone=tz) == "Digest: 3 alerts since 09:50"
    summary = sample_batch("t", "summary")
    assert render_batch_subject(summary, timezone=tz) == "iran-oil: 3 more matches since 09:50"
    one = replace(summary, alerts=summary.alerts[:1])
    assert render_batch_subject(one) == "iran-oil: 1 more match since 07:50"
    # since another day: the date is given; notices are counted apart
    mixed = hostile_batch("digest")
    assert render_batch_subject(mixed) == "Digest: 2 alerts and 1 notice since 2024-01-02 09:00"
    # no `since`: the earliest alert
    unset = replace(sample_batch("t"), since=None)
    assert render_batch_subject(unset) == "Digest: 3 alerts since 07:50"


def test_hostile_batch_renders_safely() -> None:
    for kind in ("digest", "summary"):
        batch = hostile_batch(kind)
        message = render_batch_email(batch, CHANNEL)
        raw = message.as_bytes()
        subject = str(message["Subject"])
        assert "\r" not in subject and "\n" not in subject and len(subject) <= TITLE_LIMIT
        assert b"\nBcc:" not in raw
        text, html = parts(message)
        rendered = (text, html, render_batch_text(batch), json.dumps(batch_payload(batch)))
        for out in rendered:
            assert "\u202e" not in out and "\x00" not in out and "\x1b" not in out
        assert "<script" not in html and "<rule>" not in html and "onerror=alert(1)>" not in html
        assert "javascript:" not in html and "javascript:" not in text


def test_batch_item_shows_best_snippet_and_channel_time() -> None:
    text = render_batch_text(sample_batch("test"), timezone=ZoneInfo("Europe/Berlin"))
    assert "Example Business · 2024-06-03 10:10 CEST · iran-oil" in text
    # the body snippet, not the title one, though the title one comes first
    assert "> [[Tanker]] rates from the Gulf doubled" in text
    assert "Matched rules" not in text


def test_long_batch_lists_the_first_items_and_counts_the_rest() -> None:
    alert = sample_alert("test")
    many = tuple(replace(alert, id=f"msg_{n}", title=f"Item {n}") for n in range(130))
    batch = replace(sample_batch("test"), alerts=many)
    text = render_batch_text(batch)
    assert f"{MAX_BATCH_ITEMS}. Item {MAX_BATCH_ITEMS - 1}\n" in text
    assert f"Item {MAX_BATCH_ITEMS}\n" not in text
    assert "...and 30 more, not listed here." in text
    _, html = parts(render_batch_email(batch, CHANNEL))
    assert "and 30 more" in html
    assert len(batch_payload(batch)["alerts"]) == 130


def test_batch_message_id_and_date() -> None:
    batch = sample_batch("test")
    message = render_batch_email(batch, CHANNEL)
    assert message["Message-ID"] == f"<{batch.id}@example.org>"
    assert message["X-News-Monitor-Batch-Id"] == batch.id
    assert message["Date"] == "Mon, 03 Jun 2024 09:00:00 +0000"


# --------------------------------------------------------------------------- overrides


def test_operator_can_override_notice_and_digest_templates(tmp_path: Path) -> None:
    (tmp_path / "notice.txt.j2").write_text("NOTICE {{ message }}\n")
    (tmp_path / "digest.txt.j2").write_text(
        "{{ kind }} {{ count }}:{% for i in items %} {{ i.title }};{% endfor %}\n"
    )
    text, _ = parts(render_email(sample_notice("test"), CHANNEL, templates_dir=tmp_path))
    assert text.startswith("NOTICE Feed 'BBC World' has failed")
    batch = sample_batch("test", "summary")
    text, html = parts(render_batch_email(batch, CHANNEL, templates_dir=tmp_path))
    assert text.startswith("summary 3: Oil jumps as Iran threatens")
    assert "<mark>crude</mark>" in html  # not overridden
    assert render_batch_text(batch, templates_dir=tmp_path) + "\n" == text  # set_content adds it


def test_templates_problem(tmp_path: Path) -> None:
    assert templates_problem(tmp_path) is None
    missing = templates_problem(tmp_path / "nope")
    assert missing is not None and "not a directory" in missing[0] and missing[1]
    (tmp_path / "digest.html.j2").write_text("<p>{% for x in %}</p>")
    broken = templates_problem(tmp_path)
    assert broken is not None and "digest.html.j2" in broken[0] and "line 1" in broken[0]
