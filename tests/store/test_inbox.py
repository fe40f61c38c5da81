"""The web inbox's queries on every backend: the inbox page and its filters, one article with
its evidence, full-text search (FTS5 on SQLite, a tsvector on PostgreSQL), feedback and each
rule's record. The pages that show them are tested in tests/web."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.models import Alert, AlertRule, Document, Item, Match, Snippet, Span
from monitor.store import InboxFilter, Queued, Store, open_store
from monitor.store import postgres as pg_backend
from monitor.store import sqlite as sqlite_backend
from monitor.store.inbox import fts5_query, search_snippet, search_terms
from tests.store.test_shared_work import T0

DAY = 86400.0


def record(
    store: Store,
    n: int,
    *,
    at: float,
    rules: tuple[str, ...] = ("r1",),
    channels: tuple[str, ...] = ("desk",),
    feed: str = "Wire",
    text: str = "Body text about nothing much.",
    title: str | None = None,
    partial: bool = False,
) -> str:
    """Record article n, matched by `rules`, alerted on each of `channels`; its id."""
    title = title if title is not None else f"Story {n}"
    link = f"https://example.org/{n}"
    it = Item(key=f"id:{n}", feed=feed, title=title, link=link)
    doc = Document(id=f"art_{n}", title=title, text=text, url=link, partial=partial)
    word = text.split()[0]
    span = Span("body", 0, len(word), word, word.lower())
    matches = [Match(r, doc.id, (span,), (), channels, (3,)) for r in rules]
    evidence = [
        {
            "spans": [{"field": "body", "start": 0, "end": len(word), "text": word, "operand": r}],
            "distances": [3],
        }
        for r in rules
    ]
    alerts = [
        Queued(
            Alert(
                id=f"msg_{n}_{c}",
                channel=c,
                article_id=doc.id,
                title=title,
                url=link,
                source=feed,
                sources=(feed,),
                published=None,
                rules=tuple(
                    AlertRule(r, snippets=(Snippet("body", text[:40], ((0, len(word)),)),))
                    for r in rules
                ),
                created=datetime.fromtimestamp(at, UTC),
            )
        )
        for c in channels
    ]
    store.record_item(it, doc, matches, evidence, alerts, now=at)
    return doc.id


def test_the_inbox_lists_alerted_articles_newest_first_a_page_at_a_time(store: Store) -> None:
    for n in range(7):
        record(store, n, at=T0 + n * 60)
    first = store.inbox(limit=3)
    assert [e.article_id for e in first.entries] == ["art_6", "art_5", "art_4"]
    assert first.more
    last = store.inbox(offset=6, limit=3)
    assert [e.article_id for e in last.entries] == ["art_0"] and not last.more
    entry = first.entries[0]
    assert (entry.title, entry.url, entry.feed, entry.sources) == (
        "Story 6",
        "https://example.org/6",
        "Wire",
        ("Wire",),
    )
    assert [h.rule for h in entry.rules] == ["r1"]
    assert entry.rules[0].snippets[0].highlights == ((0, 4),)


def test_an_inbox_entry_shows_each_channels_delivery_and_leaves_notices_out(store: Store) -> None:
    record(store, 1, at=T0, channels=("desk", "hook"))
    notice = Alert(
        id="notice_1",
        channel="desk",
        article_id="notice:feed",
        title="feed Wire failing",
        url=None,
        source="news-monitor",
        published=None,
        rules=(),
        created=datetime.fromtimestamp(T0, UTC),
        kind="notice",
    )
    store.enqueue(notice, now=T0 + 5)
    (row,) = store.claim_next("hook", now=T0 + 1, lease=60)
    store.mark_failed([row.id], now=T0 + 2, error="HTTP 500", status_code=500)
    page = store.inbox()
    (entry,) = page.entries
    status = {d.channel: (d.status, d.attempts, d.last_error) for d in entry.deliveries}
    assert status == {"desk": ("pending", 0, None), "hook": ("failed", 1, "HTTP 500")}


def test_inbox_filters_by_rule_channel_feed_date_and_partial(store: Store) -> None:
    record(store, 1, at=T0, rules=("iran",), channels=("desk",), feed="Wire")
    record(store, 2, at=T0 + DAY, rules=("oil",), channels=("hook",), feed="Gulf", partial=True)
    record(store, 3, at=T0 + 2 * DAY, rules=("iran", "oil"), channels=("desk", "hook"))

    def ids(**kw: object) -> list[str]:
        return [e.article_id for e in store.inbox(InboxFilter(**kw)).entries]  # type: ignore[arg-type]

    assert ids(rule="iran") == ["art_3", "art_1"]
    assert ids(rule="oil", channel="hook") == ["art_3", "art_2"]
    assert ids(channel="desk") == ["art_3", "art_1"]
    assert ids(feeds=("Gulf",)) == ["art_2"]
    assert ids(feeds=("Gulf", "Wire")) == ["art_3", "art_2", "art_1"]
    assert ids(since=T0 + DAY) == ["art_3", "art_2"]
    assert ids(since=T0, until=T0 + DAY) == ["art_1"]
    assert ids(partial=True) == ["art_2"]
    assert ids(partial=False) == ["art_3", "art_1"]
    assert ids(rule="nosuch") == []
    # a filter narrows which articles are listed, not what is shown about each
    (both,) = store.inbox(InboxFilter(rule="iran", channel="hook")).entries
    assert {d.channel for d in both.deliveries} == {"desk", "hook"}
    assert {h.rule for h in both.rules} == {"iran", "oil"}


def test_an_article_comes_with_every_rules_evidence_and_its_alerts(store: Store) -> None:
    record(store, 1, at=T0, rules=("iran", "oil"), text="Tehran said oil output would rise.")
    view = store.article("art_1")
    assert view is not None
    assert view.text == "Tehran said oil output would rise."
    assert [(e.rule, e.distances) for e in view.evidence] == [("iran", (3,)), ("oil", (3,))]
    span = view.evidence[0].spans[0]
    assert view.text[span.start : span.end] == span.text == "Tehran"
    assert [d.channel for d in view.deliveries] == ["desk"]
    assert store.article("art_nosuch") is None


def test_search_finds_words_phrases_alternatives_and_exclusions(store: Store) -> None:
    texts = {
        1: "Hezbollah fighters crossed the border near Naqoura.",
        2: "Oil prices rose after the OPEC meeting in Vienna.",
        3: "Hezbollah and Israel exchanged fire; oil prices fell.",
        4: "Die Ölpreise stiegen nach dem Treffen in Wien.",
    }
    for n, text in texts.items():
        record(store, n, at=T0 + n, text=text, title=f"Report {n}")

    def found(query: str) -> list[str]:
        return [h.article_id for h in store.search(query).hits]

    assert found("hezbollah") == ["art_3", "art_1"]  # newest first, any case
    assert found("oil prices") == ["art_3", "art_2"]
    assert found('"prices rose"') == ["art_2"]
    assert found("naqoura OR vienna") == ["art_2", "art_1"]
    assert found("hezbollah -oil") == ["art_1"]
    assert found("ölpreise") == ["art_4"]  # not only English
    assert found("report 2") == ["art_2"]  # titles are searched too
    hit = store.search("vienna").hits[0]
    start, end = hit.snippet.highlights[0]
    assert hit.snippet.text[start:end] == "Vienna"


def test_search_ignores_case_accents_and_harakat_and_marks_the_words_as_written(
    store: Store,
) -> None:
    record(store, 1, at=T0 + 1, text="Die Ölpreise stiegen nach dem Treffen in Wien.")
    record(store, 2, at=T0 + 2, text="Thousands marched in São Paulo on Sunday.")
    record(store, 3, at=T0 + 3, text="قالت طهرانُ إن المفاوضات ستستمر")
    for query, found, marked in (
        ("olpreise", ["art_1"], ["Ölpreise"]),
        ("ÖLPREISE", ["art_1"], ["Ölpreise"]),
        ("sao paulo", ["art_2"], ["São", "Paulo"]),
        ('"SAO PAULO"', ["art_2"], ["São Paulo"]),
        ("طهران", ["art_3"], ["طهرانُ"]),
    ):
        hits = store.search(query).hits
        assert [h.article_id for h in hits] == found, query
        snip = hits[0].snippet
        assert [snip.text[a:b] for a, b in snip.highlights] == marked, query


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "NEAR(a b)",
        "NEAR(",
        "a AND",
        "OR",
        "-",
        "*",
        "col:x",
        "(",
        "^x",
        "NOT x",
        "'",
        "x*",
        "'; DROP TABLE articles; --",
        "1' OR '1'='1",
        "a\x00b",
        "\u202ex\u202c \u2066col\u2069",
        "x " * 5000,
    ],
)
def test_search_reads_any_input_as_words_never_as_query_syntax(store: Store, query: str) -> None:
    record(store, 1, at=T0, text="NEAR a x col b")
    store.search(query)  # no syntax error from either index, whatever the input
    assert [h.article_id for h in store.search("col").hits] == ["art_1"]


@pytest.mark.parametrize(
    "query, read_as",
    [
        ("oil", None),
        ("  oil   gas ", None),
        ('oil "price cap', 'oil "price cap"'),
        ("oil -", "oil"),
        ("OR", ""),
        ('"', ""),
        ("-oil", ""),
        ("oil\x00gas", "oil gas"),
    ],
)
def test_a_search_says_how_it_read_a_query_not_read_as_typed(
    store: Store, query: str, read_as: str | None
) -> None:
    record(store, 1, at=T0, text="oil and gas")
    assert store.search(query).read_as == read_as


def test_search_pages_and_ignores_a_query_without_words(store: Store) -> None:
    for n in range(5):
        record(store, n, at=T0 + n, text=f"Flood warning number {n}")
    first = store.search("flood", limit=2)
    assert [h.article_id for h in first.hits] == ["art_4", "art_3"] and first.more
    assert [h.article_id for h in store.search("flood", offset=4, limit=2).hits] == ["art_0"]
    assert store.search("  -flood ").hits == ()
    assert store.search("").hits == ()


def test_pruned_articles_leave_the_search_index(store: Store) -> None:
    record(store, 1, at=T0, text="Cyclone approaches the coast")
    (row,) = store.claim_next("desk", now=T0, lease=60)
    store.mark_sent([row.id], now=T0, status_code=200)
    assert store.prune(before=T0 + 1) == 1
    assert store.search("cyclone").hits == ()


def test_articles_stored_before_the_search_index_are_found(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The migration that makes the index fills it with the articles already stored."""
    backend = pg_backend if db_url.startswith("postgresql") else sqlite_backend
    full = backend.MIGRATIONS
    monkeypatch.setattr(backend, "MIGRATIONS", full[:-1])
    old = open_store(db_url)
    record(old, 1, at=T0, text="Earthquake shakes the capital")
    old.close()
    monkeypatch.setattr(backend, "MIGRATIONS", full)
    new = open_store(db_url)
    try:
        assert [h.article_id for h in new.search("earthquake").hits] == ["art_1"]
        record(new, 2, at=T0 + 1, text="Earthquake aftershocks")
        assert [h.article_id for h in new.search("earthquake").hits] == ["art_2", "art_1"]
    finally:
        new.close()


def test_feedback_gives_each_rule_a_precision_and_a_later_verdict_replaces(store: Store) -> None:
    record(store, 1, at=T0, rules=("iran", "oil"))
    record(store, 2, at=T0, rules=("iran",))
    assert store.record_feedback("art_1", useful=True, who="ana", now=T0) == 2
    assert store.record_feedback("art_2", useful=False, who="ana", now=T0) == 1
    assert store.record_feedback("art_2", useful=True, who="ben", now=T0) == 1
    assert store.rule_precision() == {"iran": (2, 1), "oil": (1, 0)}
    # ana changes her mind on art_1's oil match only
    assert store.record_feedback("art_1", useful=False, who="ana", now=T0, rules=["oil"]) == 1
    assert store.rule_precision() == {"iran": (2, 1), "oil": (0, 1)}
    assert store.record_feedback("art_nosuch", useful=True, who="ana", now=T0) == 0
    assert store.record_feedback("art_1", useful=True, who="ana", now=T0, rules=["x"]) == 0
    (entry,) = [e for e in store.inbox(who="ana").entries if e.article_id == "art_1"]
    assert (entry.votes["oil"].not_useful, entry.votes["oil"].mine) == (1, False)
    assert entry.votes["iran"].mine is True
    (theirs,) = [e for e in store.inbox(who="cy").entries if e.article_id == "art_1"]
    assert theirs.votes["iran"].mine is None


def test_rule_stats_count_matches_per_day_with_precision_mute_and_last_match(
    store: Store,
) -> None:
    now = T0 + 3 * DAY
    days = [T0, T0 + DAY, T0 + 2 * DAY]
    record(store, 1, at=T0 + 10, rules=("iran",))
    record(store, 2, at=T0 + 2 * DAY + 5, rules=("iran", "oil"))
    record(store, 3, at=T0 + 2 * DAY + 9, rules=("iran",))
    record(store, 4, at=T0 - DAY, rules=("old",))  # before the first day
    store.record_feedback("art_2", useful=True, who="ana", now=now, rules=["iran"])
    store.record_feedback("art_3", useful=False, who="ana", now=now)
    store.mute_rule("oil", until=now + 3600, now=now)
    stats = {s.rule: s for s in store.rule_stats(now=now, day_starts=days)}
    assert stats["iran"].hits_per_day == (1, 0, 2)
    assert stats["iran"].precision == 0.5
    assert stats["iran"].last_match == T0 + 2 * DAY + 9
    assert stats["oil"].hits_per_day == (0, 0, 1)
    assert stats["oil"].muted_until == now + 3600 and stats["oil"].precision is None
    assert "old" not in stats


def test_search_terms_parse_web_search_syntax() -> None:
    terms = search_terms('oil "price cap" OR opec -russia -"spot market"')
    assert terms.alternatives == (("oil", "price cap"), ("opec",))
    assert terms.excluded == ("russia", "spot market")
    assert fts5_query(terms) == (
        '(("oil" AND "price cap") OR ("opec")) NOT "russia" NOT "spot market"'
    )
    assert fts5_query(search_terms('say "hi""')) == '("say" AND "hi")'


def test_a_search_snippet_highlights_whole_words_only() -> None:
    text = "Iranian officials said Iran would respond. " * 3
    snip = search_snippet("t", text, ["iran"])
    assert [snip.text[a:b] for a, b in snip.highlights] == ["Iran"] * 3


def test_a_search_snippet_marks_words_in_any_letter_form_as_written() -> None:
    text = "Die Ölpreise in São Paulo; إيرانُ و مدينة and ایران said Hezbollah\u2019s men."
    snip = search_snippet("t", text, ["olpreise", "sao paulo", "ايران", "مدينه", "hezbollah"])
    marked = [snip.text[a:b] for a, b in snip.highlights]
    assert marked == ["Ölpreise", "São Paulo", "إيرانُ", "مدينة", "ایران", "Hezbollah"]


def test_a_search_snippet_is_centred_on_the_first_word_found() -> None:
    text = "filler " * 100 + "Ölpreise stiegen. " + "more " * 100
    snip = search_snippet("t", text, ["olpreise"])
    assert snip.text.startswith("\u2026") and snip.text.endswith("\u2026")
    (a, b), *_ = snip.highlights
    assert snip.text[a:b] == "Ölpreise"
