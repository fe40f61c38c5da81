"""What editors receive is clean, whatever an article carried: every channel type, real
receivers (webhook receiver, aiosmtpd, the file, Apprise's `json://` to the webhook receiver).

An alert, a notice, a digest and a summary whose every text field holds every character of
the hostile classes (C0/C1 controls, bidi embeddings/overrides/isolates, U+2028/2029, lone
surrogates) arrive with none of them, keep their readable text, and keep their snippet
highlights on the matched words; every link that is not a plain http(s) link to a host
arrives as null (JSON) or not at all (text).
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import redact
from monitor.deliver import build_notifier
from monitor.deliver.render import (
    batch_payload,
    render_batch_email,
    render_batch_text,
    render_email,
    render_text,
    webhook_payload,
)
from monitor.models import (
    Alert,
    AlertRule,
    AppriseChannel,
    Batch,
    ChannelConfig,
    EmailChannel,
    FileChannel,
    SmtpConfig,
    Snippet,
    WebhookChannel,
)
from tests.support import run
from tests.support.receivers import HOST, SmtpServer, WebhookReceiver

BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
UNSAFE = frozenset(
    [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *BIDI, 0xD800, 0xDBFF, 0xDC00, 0xDFFF]
)
EVERY_UNSAFE = "".join(map(chr, sorted(UNSAFE)))  # all of the classes in one string


def dirt(word: str) -> str:
    """`word` wrapped in every unsafe character and the usual attacks built from them."""
    return (
        f"{word}\x1b[2J\x1b]0;owned\x07\r\nBcc: victim@example.org{EVERY_UNSAFE}\u202eevil {word}"
    )


def unsafe_in(text: str, *, lines: bool) -> list[str]:
    """The unsafe characters in `text` (LF allowed where `lines`: a multi-line body)."""
    return [hex(ord(c)) for c in text if ord(c) in UNSAFE and not (lines and c == "\n")]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def url_fields(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "url":
                yield item
            yield from url_fields(item)
    elif isinstance(value, list):
        for item in value:
            yield from url_fields(item)


# --------------------------------------------------------------------------- hostile input

CREATED = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


def hostile_alert(n: int = 1, url: str | None = "javascript:alert(document.cookie)") -> Alert:
    snippet = "Before the " + dirt("storm") + " Iran said oil " + dirt("after")
    iran = snippet.index("Iran")
    oil = snippet.index("oil", iran)
    return Alert(
        id=f"msg_hostile{n}",
        channel="desk",
        article_id=f"art_hostile{n}",
        title=dirt("Headline"),
        url=url,
        source=dirt("Source"),
        sources=(dirt("Source"), dirt("Mirror")),
        published=CREATED,
        language=dirt("en"),
        partial=True,
        created=CREATED,
        rules=(
            AlertRule(
                name=dirt("rule"),
                description=dirt("Description"),
                terms=(dirt("Iran"), "\u202eoil\u202c", "\x1b\x9b\u2028"),
                snippets=(
                    Snippet("body", snippet, ((iran, iran + 4), (oil, oil + 3))),
                    Snippet("title", dirt("Headline"), ((0, 8),)),
                ),
            ),
        ),
    )


def hostile_notice() -> Alert:
    return Alert(
        id="ntc_hostile",
        channel="desk",
        article_id="notice:feed:x",
        title=f"Feed {dirt('Name')!r} has failed 3 times in a row: {dirt('HTTP 503')}",
        url="javascript:alert(1)",
        source="news-monitor",
        published=None,
        rules=(),
        created=CREATED,
        kind="notice",
    )


def hostile_batch(kind: str) -> Batch:
    alerts = (hostile_alert(1), hostile_alert(2, "data:text/html,x"), hostile_notice())
    rule = dirt("rule") if kind == "summary" else None
    return Batch(f"bat_{kind}", "desk", kind, alerts, CREATED, rule=rule)  # type: ignore[arg-type]


MESSAGES: dict[str, Alert | Batch] = {
    "alert": hostile_alert(),
    "notice": hostile_notice(),
    "digest": hostile_batch("digest"),
    "summary": hostile_batch("summary"),
}


# --------------------------------------------------------------------------- receivers


@dataclass
class Received:
    """What one receiver got: JSON documents, one-line texts and multi-line bodies."""

    documents: list[Any] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "\n".join([*strings(self.documents), *self.lines, *self.bodies])


async def _send(channel: ChannelConfig, messages: list[Alert | Batch]) -> None:
    notifier = build_notifier(channel)
    try:
        for message in messages:
            if isinstance(message, Batch):
                await notifier.send_batch(message)
            else:
                await notifier.send(message)
    finally:
        await notifier.aclose()


@contextmanager
def _webhook(tmp_path: Path) -> Iterator[tuple[ChannelConfig, Any]]:
    with WebhookReceiver() as hook:
        yield (
            WebhookChannel(name="desk", url=hook.url),
            lambda: Received(documents=[json.loads(r.body) for r in hook.requests]),
        )


@contextmanager
def _file(tmp_path: Path) -> Iterator[tuple[ChannelConfig, Any]]:
    path = tmp_path / "alerts.jsonl"

    def received() -> Received:
        # str.splitlines also splits at U+2028, U+0085, FS/GS/RS...: a line holding one
        # raw would come apart for a reader using it
        return Received(documents=[json.loads(x) for x in path.read_text().splitlines()])

    yield FileChannel(name="desk", path=path), received


@contextmanager
def _apprise(tmp_path: Path) -> Iterator[tuple[ChannelConfig, Any]]:
    with WebhookReceiver() as hook:
        url = f"json://{HOST}:{hook.port}/"

        def received() -> Received:
            bodies = [json.loads(r.body) for r in hook.requests]
            return Received(
                lines=[b["title"] for b in bodies], bodies=[b["message"] for b in bodies]
            )

        yield AppriseChannel(name="desk", urls=(url,)), received


@contextmanager
def _email(tmp_path: Path) -> Iterator[tuple[ChannelConfig, Any]]:
    with SmtpServer() as smtp:
        channel = EmailChannel(
            name="desk",
            to=("desk@example.org",),
            sender="monitor@example.org",
            smtp=SmtpConfig(host=HOST, port=smtp.port, timeout=10),
        )

        def received() -> Received:
            got = Received()
            for delivered in smtp.messages:
                message = email.message_from_bytes(delivered.raw, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                got.lines += [str(value) for value in message.values()]  # every header
                for kind in ("plain", "html"):
                    part = message.get_body((kind,))
                    assert isinstance(part, EmailMessage)
                    # SMTP ends lines with CRLF: transport, not content
                    got.bodies.append(part.get_content().replace("\r\n", "\n"))
            return got

        yield channel, received


RECEIVERS = {"webhook": _webhook, "file": _file, "apprise": _apprise, "email": _email}


def deliver(kind: str, tmp_path: Path, messages: list[Alert | Batch]) -> Received:
    with RECEIVERS[kind](tmp_path) as (channel, received):
        run(_send(channel, messages))
        return received()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("kind", RECEIVERS)
def test_every_text_field_arrives_clean(kind: str, message: str, tmp_path: Path) -> None:
    got = deliver(kind, tmp_path, [MESSAGES[message]])
    assert got.documents or got.lines
    for doc in got.documents:  # JSON: every string is one clean line
        for text in strings(doc):
            assert not unsafe_in(text, lines=False), (text, unsafe_in(text, lines=False))
    for line in got.lines:
        assert not unsafe_in(line, lines=False), (line, unsafe_in(line, lines=False))
    for body in got.bodies:
        assert not unsafe_in(body, lines=True), unsafe_in(body, lines=True)
    everything = got.all_text()
    # cleaned, not dropped: the readable words are all there
    if message == "notice":
        assert "Name" in everything and "HTTP 503" in everything
    else:
        for word in ("Headline", "Source", "Iran", "oil"):
            assert word in everything
    assert "\nBcc:" not in everything and "javascript:" not in everything
    assert "data:text" not in everything


@pytest.mark.parametrize("kind", ["webhook", "file"])
def test_rule_fields_and_terms_are_clean_and_urls_null(kind: str, tmp_path: Path) -> None:
    [doc] = deliver(kind, tmp_path, [hostile_alert()]).documents
    assert doc["article"]["url"] is None
    [rule] = doc["rules"]
    # controls blanked, lone surrogates replaced; a term of nothing but controls is gone
    assert rule["terms"] == [
        "Iran [2J ]0;owned Bcc: victim@example.org \ufffd\ufffd\ufffd\ufffd evil Iran",
        "oil",
    ]
    assert rule["name"].startswith("rule [2J ]0;owned") and rule["name"].endswith("evil rule")
    assert not unsafe_in(rule["description"], lines=False)


@pytest.mark.parametrize("kind", ["webhook", "file"])
def test_snippet_highlights_stay_on_the_matched_words(kind: str, tmp_path: Path) -> None:
    got = deliver(kind, tmp_path, [hostile_alert(), hostile_batch("digest")])
    alerts = [got.documents[0], *got.documents[1]["alerts"][:2]]
    for doc in alerts:
        body, title = doc["rules"][0]["snippets"]
        assert [body["text"][a:b] for a, b in body["highlights"]] == ["Iran", "oil"]
        assert [title["text"][a:b] for a, b in title["highlights"]] == ["Headline"]


SAFE_URL = "https://news.example/story?id=7&lang=en"
UNSAFE_URLS = [
    "javascript:alert(document.cookie)",
    "  JaVaScRiPt:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "file:///etc/passwd",
    "//evil.example/scheme-relative",
    "https://news.example/\u202egnp.exe",
    "https://news.example/\x1b[2J",
    "https://news.example/a\r\nSet-Cookie: x=1",
    "https://news.example/\ud800",
    "http://[x/",
    "http://news.example:99999/",
    "http:///no-host",
    "https://news example/space",
    "https://news.example/" + "a" * 10_000,
]


@pytest.mark.parametrize("kind", RECEIVERS)
def test_only_safe_links_arrive(kind: str, tmp_path: Path) -> None:
    alerts = [hostile_alert(n, url) for n, url in enumerate([SAFE_URL, *UNSAFE_URLS])]
    got = deliver(
        kind, tmp_path, [*alerts, Batch("bat_urls", "desk", "digest", tuple(alerts), CREATED)]
    )
    text = got.all_text()
    assert SAFE_URL in text  # a good link still arrives (so this test can fail)
    for doc in got.documents:
        for value in url_fields(doc):
            assert value in (None, SAFE_URL)
    if got.documents:
        assert [d["article"]["url"] for d in got.documents[:-1]] == [SAFE_URL] + [None] * len(
            UNSAFE_URLS
        )
    for url in UNSAFE_URLS:
        assert url.strip() not in text
    for scheme in ("javascript:", "vbscript:", "data:", "file:"):
        assert scheme not in text.lower()


@pytest.mark.parametrize("kind", RECEIVERS)
def test_notice_quoting_credentials_arrives_redacted(kind: str, tmp_path: Path) -> None:
    """A notice queued before redaction existed (or by code that forgot) cannot leak."""
    redact.register_secrets(["hunter2-registered"])
    try:
        notice = replace(
            hostile_notice(),
            title="Feed 'paid' failing: http://ed:pa55word@feeds.example/rss?token=tok3n "
            "auth hunter2-registered refused",
        )
        got = deliver(kind, tmp_path, [notice])
    finally:
        redact.forget_secrets()
    text = got.all_text()
    assert "feeds.example/rss" in text and "refused" in text
    for secret in ("pa55word", "tok3n", "hunter2-registered", "ed:"):
        assert secret not in text


# --------------------------------------------------------------------------- any text

HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from([*EVERY_UNSAFE, "a", "Z", " ", "é", "\u200f", "<", "&", "€"]),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(title=HOSTILE_TEXT, term=HOSTILE_TEXT, before=HOSTILE_TEXT, name=HOSTILE_TEXT)
def test_no_hostile_text_survives_any_rendering(
    title: str, term: str, before: str, name: str
) -> None:
    text = before + "Iran" + term
    start = len(before)
    alert = replace(
        hostile_alert(),
        title=title,
        source=term,
        sources=(name, title),
        language=term,
        rules=(
            AlertRule(
                name=name,
                description=title,
                terms=(term, title),
                snippets=(Snippet("body", text, ((start, start + 4),)),),
            ),
        ),
    )
    batch = Batch("bat_x", name or "desk", "summary", (alert,), CREATED, rule=name)
    payloads = [webhook_payload(alert), batch_payload(batch)]
    for payload in payloads:
        json.dumps(payload, ensure_ascii=False).encode()  # encodable: no lone surrogate
        for value in strings(payload):
            assert not unsafe_in(value, lines=False)
    snippet = payloads[0]["rules"][0]["snippets"][0]
    [[a, b]] = snippet["highlights"]
    assert snippet["text"][a:b] == "Iran"
    channel = EmailChannel(name="desk", to=("d@example.org",), sender="m@example.org")
    for body in (render_text(alert), render_batch_text(batch)):
        assert not unsafe_in(body, lines=True)
    for message in (render_email(alert, channel), render_batch_email(batch, channel)):
        message.as_bytes()  # serializable
        for value in message.values():
            assert not unsafe_in(str(value), lines=False)


def test_a_title_of_combining_marks_is_cleaned_in_linear_time() -> None:
    """NFC sorts a run of combining marks by insertion: 80,000 marks took 4.5 s before the
    title was cut first."""
    import time

    from monitor.sanitize import TITLE_LIMIT, clean_line

    started = time.perf_counter()
    line = clean_line("e" + "\u0301\u0316" * 80_000)
    assert time.perf_counter() - started < 1.0  # measured: 3 ms
    assert len(line) <= TITLE_LIMIT
