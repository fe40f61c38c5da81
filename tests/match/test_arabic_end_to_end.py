"""An Arabic and a Persian article through the whole service: local site, feed, extraction,
matching, email and webhook on 127.0.0.1.

The rule is the desk's `@iran NEAR/10 @al-qaida` with Arabic and Persian aliases. The
Arabic article writes "and Iran" and "with al-Qaida" with their proclitics (وإيران,
بالقاعدة); the Persian one writes ایران with a Persian yeh and القاعده with heh, and a word
with a ZWNJ (می‌گوید) between them. A control article mentions إيران and a military base
(قاعدة), which is not al-Qaida. The highlighted words in each email must be the words as
written, and no bidi control character may appear that the articles did not have.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.support.receivers import SmtpServer, WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]
# LRM, RLM, embeddings and overrides, isolates: what a renderer could add to "fix" RTL text
BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Article:
    slug: str
    language: str
    title: str
    paragraphs: tuple[str, ...]
    highlighted: frozenset[str]  # the words an alert must mark, as written; empty: no alert


ARABIC = Article(
    "tehran-denies",
    "ar",
    "طهران ترد على تقرير أمريكي جديد",
    (
        "قال متحدث باسم وزارة الخارجية الإيرانية يوم الأحد إن الاتهامات الواردة في التقرير"
        " لا أساس لها من الصحة.",
        "وأضاف أن واشنطن وإيران تتبادلان الاتهامات بشأن علاقات مزعومة بالقاعدة منذ سنوات،"
        " وأن بلاده كانت هدفا لهجمات التنظيم.",
        "وختم المتحدث بأن تقارير الاستخبارات الغربية تخلط بين الوقائع والشائعات.",
    ),
    frozenset({"وإيران", "بالقاعدة"}),
)
PERSIAN = Article(
    "tehran-responds",
    "fa",
    "واکنش تهران به گزارش تازه",
    (
        "سخنگوی وزارت امور خارجه روز یکشنبه گفت که این گزارش پایه و اساس ندارد.",
        "او می\u200cگوید ایران هیچ\u200cگاه با القاعده همکاری نکرده است و این ادعاها تکراری است.",
        "به گفته او، گروه\u200cهای تندرو در سال ۱۴۰۲ نیز مرزهای شرقی را تهدید کرده بودند.",
    ),
    frozenset({"ایران", "القاعده"}),
)
CONTROL = Article(
    "gulf-drills",
    "ar",
    "مناورات عسكرية في الخليج",
    ("أجرت إيران مناورات بحرية قرب قاعدة عسكرية في الجنوب يوم السبت.",),
    frozenset(),
)
ARTICLES = (ARABIC, PERSIAN, CONTROL)


def page(article: Article) -> str:
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    return textwrap.dedent(
        f"""\
        <!DOCTYPE html>
        <html lang="{article.language}" dir="rtl">
        <head><meta charset="utf-8"><title>{html.escape(article.title)}</title></head>
        <body>
        <nav><a href="/">الرئيسية</a> <a href="/world">العالم</a></nav>
        <main><article>
        <h1>{html.escape(article.title)}</h1>
        {paragraphs}
        </article></main>
        <footer><p>© 2026</p></footer>
        </body>
        </html>
        """
    )


def publish(site: NewsSite) -> dict[str, str]:
    """Serve every article and a feed of them; returns the URL of each by slug."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    urls, entries = {}, []
    for n, article in enumerate(ARTICLES):
        url = urls[article.slug] = site.add_page(f"/ar/{article.slug}.html", page(article))
        entries.append(
            FeedEntry(
                article.title,
                url,
                f"regional-{article.slug}",
                article.paragraphs[0],
                start + timedelta(minutes=n),
            )
        )
    site.add_feed("/regional.xml", rss_feed("Regional Press", entries, link=site.url))
    return urls


def write_config(directory: Path, feed: str, smtp_port: int, webhook: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "feeds.yaml").write_text(
        textwrap.dedent(
            f"""\
            defaults: {{interval: 5m, timeout: 10s, extract: true,
                        allow_networks: [127.0.0.0/8]}}
            feeds:
              - {{name: Regional Press, url: "{feed}"}}
            """
        )
    )
    (directory / "rules.yaml").write_text(
        textwrap.dedent(
            f"""\
            entities:
              al-qaida: {{aliases: [al-Qaida, القاعدة]}}
              iran: {{aliases: [Iran, إيران, ایران]}}
            channels:
              desk:
                type: email
                to: [desk@example.org]
                from: monitor@example.org
                smtp: {{host: 127.0.0.1, port: {smtp_port}, starttls: false}}
              hook: {{type: webhook, url: "{webhook}"}}
            rules:
              - name: iran-al-qaida
                query: '@iran NEAR/10 @al-qaida'
                channels: [desk, hook]
            """
        ),
        encoding="utf-8",
    )
    return directory


@dataclass
class Desk:
    config: Path
    db: Path
    urls: dict[str, str]
    smtp: SmtpServer
    hook: WebhookReceiver


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    with NewsSite() as site, SmtpServer() as smtp, WebhookReceiver() as hook:
        urls = publish(site)
        config = write_config(tmp_path / "etc", site.url + "/regional.xml", smtp.port, hook.url)
        yield Desk(config, tmp_path / "monitor.db", urls, smtp, hook)


class Directions(HTMLParser):
    """Every text of an HTML document with the elements around it and their dir attributes."""

    VOID = frozenset(["meta", "br", "hr", "img", "link", "input", "wbr"])

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.open: list[tuple[str, str | None]] = []
        self.texts: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open.append((tag, dict(attrs).get("dir")))

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((data, tuple(self.open)))

    def within(self, tag: str) -> list[tuple[str, bool]]:
        """The texts inside a ``tag`` element, each with whether an element around it (the
        tag's or one inside it) sets dir="auto"."""
        return [
            (text, ("auto" in [d for _, d in around[[t for t, _ in around].index(tag) :]]))
            for text, around in self.texts
            if tag in [t for t, _ in around]
        ]


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_arabic_and_persian_articles_alert_with_the_words_as_written(desk: Desk) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MONITOR_DB": str(desk.db)}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--once", "--config-dir", str(desk.config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerted = (ARABIC, PERSIAN)

    by_subject = {str(m.message["subject"]): m.message for m in desk.smtp.messages}
    assert sorted(by_subject) == sorted(a.title for a in alerted)
    for article in alerted:
        message = by_subject[article.title]
        plain = message.get_body(("plain",))
        rich = message.get_body(("html",))
        assert plain is not None and rich is not None
        text, markup = plain.get_content(), rich.get_content()
        assert set(re.findall(r"\[\[(.+?)\]\]", text)) == article.highlighted, text
        marked = {html.unescape(m) for m in re.findall(r"<mark>(.+?)</mark>", markup)}
        assert marked == article.highlighted, markup
        for part in (article.title, text, markup):
            assert not BIDI.search(part), ascii(part)
        # The headline and the snippets set their own direction from their first letter
        # (dir="auto"), so Arabic and Persian read right to left in a left-to-right email.
        directions = Directions(markup)
        headline = directions.within("h1")
        assert "".join(t for t, _ in headline) == article.title
        assert all(auto for _, auto in headline), markup
        snippets = directions.within("blockquote")
        assert snippets and all(auto for _, auto in snippets), markup
        marked_in_snippets = {t for t, _ in snippets} & {t for t, _ in directions.within("mark")}
        assert marked_in_snippets == article.highlighted
        assert desk.urls[article.slug] in text

    payloads = [json.loads(r.body) for r in desk.hook.requests]
    assert sorted(p["article"]["url"] for p in payloads) == sorted(
        desk.urls[a.slug] for a in alerted
    )
    for payload in payloads:
        article = next(a for a in alerted if desk.urls[a.slug] == payload["article"]["url"])
        assert payload["article"]["title"] == article.title
        (rule,) = payload["rules"]
        shown = {
            snippet["text"][a:b] for snippet in rule["snippets"] for a, b in snippet["highlights"]
        }
        assert shown == article.highlighted
        written = " ".join(" ".join(article.paragraphs).split())
        for snippet in rule["snippets"]:  # the snippet is the article's text as written
            assert " ".join(snippet["text"].strip("…").split()) in written, snippet
        assert not any(BIDI.search(s) for s in strings(payload)), payload
