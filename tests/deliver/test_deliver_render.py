"""Rendering: snapshot tests of email (text, HTML, headers) and webhook JSON.

Snapshots live in `snapshots/`. After an intended change, regenerate them with
`UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/deliver/test_deliver_render.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.deliver import alert_id
from monitor.deliver.render import (
    TITLE_LIMIT,
    clean_line,
    render_email,
    render_text,
    safe_url,
    sample_alert,
    webhook_payload,
)
from monitor.errors import DeliveryError
from monitor.models import Alert, AlertRule, ChannelConfig, Snippet


def hostile_alert(channel: str = "test") -> Alert:
    """Article text written by an attacker: markup, header injection, bidi tricks, size."""
    body = "Click <script>alert(1)</script> now\r\nBcc: victim@example.com \u202egnp.exe & more"
    return Alert(
        id=alert_id("hostile:1", channel),
        channel=channel,
        article_id="hostile:1",
        title="Breaking\r\nBcc: victim@example.com\r\n\r\n<script>alert('x')</script>"
        + " \u202eevil\u202c \u200fمرحبا\x00\x1b[31m"
        + "A" * 10_000,
        url="javascript:alert(document.cookie)",
        source='Evil "Feed" <img src=x onerror=alert(1)>',
        sources=("Evil Feed", "Mirror\nFeed"),
        published=datetime(2024, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5))),
        language="en\r\nX-Injected: 1",
        partial=True,
        created=datetime(2024, 1, 2, 9, 0, tzinfo=UTC),
        rules=(
            AlertRule(
                name="xss<rule>",
                description="desc with </li><script>bad()</script>",
                terms=("script", "SCRIPT", "Bcc"),
                snippets=(
                    Snippet("body", body, ((7, 13), (0, 5), (3, 9), (200, 300))),
                    Snippet("title", "x" * 50, ()),
                ),
            ),
        ),
    )


SNAPSHOTS = Path(__file__).parent / "snapshots"
CHANNEL = ChannelConfig(
    name="test",
    type="email",
    to=("desk@example.org", "alerts@example.org"),
    sender="News Monitor <monitor@example.org>",
    timezone="Europe/Berlin",
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


def headers(message: EmailMessage) -> str:
    names = ("Subject", "From", "To", "Date", "Message-ID", "X-News-Monitor-Alert-Id")
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


def test_unknown_time_zone_is_permanent() -> None:
    channel = ChannelConfig(name="x", type="email", to=("a@b.c",), timezone="Mars/Olympus")
    with pytest.raises(DeliveryError) as e:
        render_email(sample_alert("x"), channel)
    assert e.value.permanent and e.value.subject == "x"


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
