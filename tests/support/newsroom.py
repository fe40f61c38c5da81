"""A whole newsroom on 127.0.0.1 for the end-to-end test and `make demo`.

Article pages are built from the articles in tests/data/articles/ wrapped in the boilerplate
real news pages have (navigation, related stories, newsletter box, comment section,
footer), and listed in an RSS feed served with conditional GET. `write_config` writes a
feeds.yaml/rules.yaml pointing at that site and at the SMTP and webhook receivers.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

from tests.support.site import FeedEntry, NewsSite, rss_feed

ARTICLES = Path(__file__).resolve().parents[1] / "data" / "articles"
SAMPLES = ("iran-rejects-al-qaeda-ties", "pompeo-iran-al-qaida-debate")
CONTROLS = ("control-emirates-boeing", "control-europa-water")
COMMENT_LINES = ("Add new comment", "Read our comment policy", "Comments are closed.")
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    url: str = ""


def load_story(slug: str) -> Story:
    lines = [ln.strip() for ln in (ARTICLES / f"{slug}.txt").read_text().splitlines()]
    title = lines[0]
    body = [
        ln
        for ln in lines[1:]
        if ln and ln != title and not any(ln.startswith(c) for c in COMMENT_LINES)
    ]
    return Story(slug, title, tuple(body))


def article_page(story: Story) -> str:
    """A realistic news page: the story plus the boilerplate an extractor must drop."""
    paragraphs = "\n".join(f"      <p>{escape(p)}</p>" for p in story.paragraphs)
    return textwrap.dedent(
        f"""\
        <!DOCTYPE html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <title>{escape(story.title)} | Desk News</title>
          <meta property="og:title" content="{escape(story.title)}">
        </head>
        <body>
          <header><nav><ul>
            <li><a href="/">Home</a></li><li><a href="/world">World</a></li>
            <li><a href="/middle-east">Middle East</a></li><li><a href="/opinion">Opinion</a></li>
          </ul></nav></header>
          <div class="cookie-banner">We use cookies. Accept all cookies</div>
          <main>
            <article>
              <h1>{escape(story.title)}</h1>
              <div class="byline">By Desk Staff</div>
        {paragraphs}
            </article>
            <aside class="related">
              <h2>Related stories</h2>
              <ul><li><a href="/a/1">Markets rally on earnings</a></li>
                  <li><a href="/a/2">Weather: storms expected on the coast</a></li></ul>
            </aside>
            <div class="newsletter">Sign up for our daily newsletter. Subscribe now</div>
            <section id="comments" class="comments">
              <h3>Add new comment</h3>
              <p>Read our comment policy before posting your viewpoints</p>
              <p>Comments are closed.</p>
            </section>
          </main>
          <footer><p>© 2026 Desk News. All rights reserved.</p></footer>
        </body>
        </html>
        """
    )


def publish(site: NewsSite, slugs: tuple[str, ...] = SAMPLES + CONTROLS) -> list[Story]:
    """Serve each story as a page and all of them in /world.xml; returns them with URLs."""
    stories = []
    # published within the last few hours: inside the default max_age, so they alert
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    entries = []
    for n, slug in enumerate(slugs):
        story = load_story(slug)
        url = site.add_page(f"/articles/{slug}.html", article_page(story))
        story = Story(story.slug, story.title, story.paragraphs, url)
        stories.append(story)
        entries.append(
            FeedEntry(
                title=story.title,
                link=url,
                guid=f"desk-news-{slug}",
                summary=story.paragraphs[0],
                published=start + timedelta(minutes=10 * n),
            )
        )
    site.add_feed("/world.xml", rss_feed("Desk News World", entries, link=site.url))
    return stories


def write_config(
    directory: Path,
    *,
    feed_url: str,
    smtp_port: int,
    webhook_url: str,
    alerts_file: Path,
    interval: str = "5m",
) -> Path:
    """feeds.yaml + rules.yaml for the local newsroom (article links allowed on loopback)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "feeds.yaml").write_text(
        textwrap.dedent(
            f"""\
            defaults: {{interval: {interval}, timeout: 10s, extract: true,
                        allow_networks: [127.0.0.0/8]}}
            feeds:
              - {{name: Desk News World, url: "{feed_url}", tags: [world]}}
            """
        )
    )
    (directory / "rules.yaml").write_text(
        textwrap.dedent(
            f"""\
            entities:
              iran: {{aliases: [Iran, Iranian, Tehran, Islamic Republic]}}
              al-qaida: {{aliases: [al-Qaida, al-Qaeda, al-Qa'ida, Al Qaeda], exact: [AQ]}}
            channels:
              desk:
                type: email
                to: [desk@example.org]
                from: monitor@example.org
                smtp: {{host: 127.0.0.1, port: {smtp_port}, starttls: false}}
              newsroom: {{type: webhook, url: "{webhook_url}", secret_env: NEWSROOM_SECRET}}
              log: {{type: file, path: "{alerts_file}"}}
            rules:
              - name: iran-al-qaida
                description: Iran and al-Qaida close together
                query: '@iran NEAR/20 @al-qaida'
                channels: [desk, newsroom, log]
              - name: europa
                query: 'Europa AND plumes'
                channels: [log]
            """
        )
    )
    return directory
