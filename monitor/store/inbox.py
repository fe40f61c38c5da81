"""The web inbox's queries (and `monitor status`'s precision): alerts, one article with its
evidence, full-text search, editors' feedback and rule statistics, as typed views.

One set of queries for every reader: the web formats these views, the CLI prints them.
`InboxQueries` is part of `SqlStore`; the one statement the backends write differently is
the full-text search (`_search_ids`): SQLite asks its FTS5 index ``articles_fts``,
PostgreSQL the generated ``articles.search`` tsvector. Both read the same query syntax, the
web-search one: words (all must be there), ``"a phrase"``, ``OR`` between alternatives and
``-word`` for a word that must not be there; `search_terms` parses it once for both.

An inbox entry is one article that alerted, with every channel it went to; the newest
alert first. Feedback is per (article, rule, editor): an editor's later verdict replaces
their earlier one, and a rule's precision is its useful verdicts over all verdicts.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.match.tokens import query_tokens, tokenize
from monitor.models import Snippet, Span

PAGE = 50  # inbox entries or search hits per page
SNIPPET_CONTEXT = 90  # characters each side of the first word found, in a search hit


@dataclass(frozen=True)
class InboxFilter:
    """Which alerts an inbox page shows; empty fields do not filter. `feeds` are feed names
    (a tag's feeds are resolved from the configuration by the caller); `since` and `until`
    bound when the alert was made (Unix seconds, `until` excluded)."""

    rule: str | None = None
    channel: str | None = None
    feeds: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    partial: bool | None = None


@dataclass(frozen=True)
class Delivery:
    """One channel's alert about an article, and how its delivery stands."""

    alert_id: str
    channel: str
    status: str  # pending, sent, failed
    attempts: int
    created: float
    sent_at: float | None
    last_error: str | None
    batch: str | None


@dataclass(frozen=True)
class RuleHit:
    """A rule that matched an article, with the snippets its alert carried."""

    rule: str
    snippets: tuple[Snippet, ...]
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Votes:
    """Feedback on one (article, rule): how many said useful or not, and the viewer's own."""

    useful: int = 0
    not_useful: int = 0
    mine: bool | None = None  # True useful, False not useful, None no verdict


@dataclass(frozen=True)
class InboxEntry:
    article_id: str
    title: str
    url: str | None
    feed: str | None
    sources: tuple[str, ...]
    published: float | None
    alerted: float  # the newest alert about it
    partial: bool
    rules: tuple[RuleHit, ...]
    deliveries: tuple[Delivery, ...]
    votes: dict[str, Votes]  # by rule


@dataclass(frozen=True)
class InboxPage:
    entries: tuple[InboxEntry, ...]
    offset: int
    more: bool  # a next page exists


@dataclass(frozen=True)
class RuleEvidence:
    """Why one rule matched an article: the words (offsets into the title or the text) and
    the NEAR distances (words between) that satisfied it."""

    rule: str
    spans: tuple[Span, ...]
    distances: tuple[int, ...]
    created: float


@dataclass(frozen=True)
class ArticleView:
    article_id: str
    title: str
    text: str  # "" when the article text was pruned and only its alerts remain
    url: str | None
    feed: str | None
    sources: tuple[str, ...]
    published: float | None
    created: float | None
    language: str | None
    partial: bool
    evidence: tuple[RuleEvidence, ...]
    deliveries: tuple[Delivery, ...]
    votes: dict[str, Votes]


@dataclass(frozen=True)
class SearchHit:
    article_id: str
    title: str
    url: str | None
    feed: str | None
    published: float | None
    created: float
    snippet: Snippet


@dataclass(frozen=True)
class SearchPage:
    hits: tuple[SearchHit, ...]
    offset: int
    more: bool
    read_as: str | None = None  # the query as searched, when not as typed ("": no words)


@dataclass(frozen=True)
class RuleStats:
    """A rule's record: matches per day (oldest day first), feedback and precision."""

    rule: str
    hits_per_day: tuple[int, ...]
    useful: int
    not_useful: int
    muted_until: float | None
    last_match: float | None

    @property
    def precision(self) -> float | None:
        """Useful verdicts over all verdicts; None without feedback."""
        total = self.useful + self.not_useful
        return self.useful / total if total else None


@dataclass(frozen=True)
class SearchTerms:
    """A web-search query, parsed: alternatives (OR) of words and phrases that must all be
    there, and words or phrases that must not be."""

    alternatives: tuple[tuple[str, ...], ...]
    excluded: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w for alt in self.alternatives for w in alt)


_TOKEN = re.compile(r'-?"[^"]*"?|\S+')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # a NUL or control is no part of a word


def search_terms(query: str) -> SearchTerms:
    """Parse `query` (web-search syntax, as PostgreSQL's websearch_to_tsquery reads it);
    parts without a letter or digit are dropped (the indexes would drop them too)."""
    groups: list[list[str]] = [[]]
    excluded: list[str] = []
    for token in _TOKEN.findall(_CONTROL.sub(" ", query)):
        if token == "OR":
            groups.append([])
            continue
        negative = token.startswith("-") and len(token) > 1
        text = token[1:] if negative else token
        text = text.strip('"').strip()
        if not any(ch.isalnum() for ch in text):
            continue
        (excluded if negative else groups[-1]).append(text)
    alternatives = tuple(tuple(g) for g in groups if g)
    return SearchTerms(alternatives, tuple(excluded) if alternatives else ())


def fts5_query(terms: SearchTerms) -> str:
    """`terms` as an FTS5 query: every word or phrase a quoted string (so no input is read
    as FTS5 syntax)."""

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    expr = " OR ".join("(" + " AND ".join(map(quoted, alt)) + ")" for alt in terms.alternatives)
    if terms.excluded:
        expr = f"({expr})" + "".join(f" NOT {quoted(x)}" for x in terms.excluded)
    return expr


def websearch_text(terms: SearchTerms) -> str:
    """`terms` again in websearch_to_tsquery's syntax, normalised (quotes balanced)."""

    def part(text: str) -> str:
        return f'"{text}"' if " " in text else text

    alts = " OR ".join(" ".join(map(part, alt)) for alt in terms.alternatives)
    return alts + "".join(f" -{part(x)}" for x in terms.excluded)


def search_snippet(title: str, text: str, words: Sequence[str]) -> Snippet:
    """A short excerpt of `text` around the first of `words` found, with every one found
    highlighted as written in the text; the text's start when none is found.

    Words are found through the matcher's tokenizer (`monitor.match.tokens`), which folds
    case, accents and Arabic and Persian letter forms as the search indexes do, and keeps
    offsets into the original text: "olpreise" marks "Ölpreise", "sao paulo" marks "São"
    and "Paulo", a phrase is marked from its first word to its last."""
    if not text:
        return Snippet("title", title)
    found = _found(text, words)
    centre = found[0][0] if found else 0
    start = max(0, centre - SNIPPET_CONTEXT)
    end = min(len(text), centre + 2 * SNIPPET_CONTEXT)
    if start > 0:
        space = text.find(" ", start, centre)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", max(centre, found[0][1]) if found else centre, end)
        end = space if space > centre else end
    prefix = "\u2026" if start > 0 else ""
    excerpt = text[start:end].replace("\n", " ")
    shift = len(prefix) - start
    highlights = tuple((a + shift, b + shift) for a, b in found if start <= a and b <= end)
    return Snippet("body", prefix + excerpt + ("\u2026" if end < len(text) else ""), highlights)


def _found(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) in `text` of every occurrence of `words` (each a word or a phrase, as
    folded tokens), in order, overlaps merged."""
    wanted: dict[str, list[tuple[str, ...]]] = {}
    for word in words:
        if seq := query_tokens(word):
            wanted.setdefault(seq[0], []).append(seq)
    if not wanted:
        return []
    tokens = tokenize(text)
    folded, spans = tokens.folded, tokens.spans
    out: list[tuple[int, int]] = []
    for i, token in enumerate(folded):
        if token not in wanted:
            continue
        n = max(
            (len(seq) for seq in wanted[token] if tuple(folded[i : i + len(seq)]) == seq),
            default=0,
        )
        if not n:
            continue
        a, b = spans[i][0], spans[i + n - 1][1]
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


def _marks(n: int) -> str:
    return ",".join("?" * n)


class InboxQueries:
    """The inbox's queries, mixed into `SqlStore` (which supplies `_query` and `_tx`)."""

    INBOX_SCHEMA = 1  # the schema that made feedback and the search index (per backend)

    @property
    def schema_version(self) -> int:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _tx(self) -> Any:
        raise NotImplementedError

    def _search_ids(self, terms: SearchTerms, *, limit: int, offset: int) -> list[str]:
        """The ids of the articles `terms` finds, newest first."""
        raise NotImplementedError

    # ------------------------------------------------------------------ inbox

    def inbox(
        self,
        filters: InboxFilter = InboxFilter(),
        *,
        offset: int = 0,
        limit: int = PAGE,
        who: str | None = None,
    ) -> InboxPage:
        """One page of alerted articles, the newest alert first, as `filters` select them;
        `who`'s own verdicts are marked in `votes`."""
        rule_clause = " AND r.rule = ?" if filters.rule else ""
        where = [f"EXISTS (SELECT 1 FROM alert_rules r WHERE r.alert_id = o.id{rule_clause})"]
        params: list[Any] = [filters.rule] if filters.rule else []
        if filters.channel:
            where.append("o.channel = ?")
            params.append(filters.channel)
        if filters.since is not None:
            where.append("o.created >= ?")
            params.append(filters.since)
        if filters.until is not None:
            where.append("o.created < ?")
            params.append(filters.until)
        if filters.feeds:
            where.append(
                "EXISTS (SELECT 1 FROM seen_items s WHERE s.article_id = o.article_id"
                f" AND s.feed IN ({_marks(len(filters.feeds))}))"
            )
            params += filters.feeds
        if filters.partial is not None:
            where.append(
                "EXISTS (SELECT 1 FROM articles a WHERE a.id = o.article_id AND a.partial = ?)"
            )
            params.append(int(filters.partial))
        rows = self._query(
            "SELECT o.article_id, max(o.created) AS at FROM outbox o"
            f" WHERE {' AND '.join(where)} GROUP BY o.article_id"
            " ORDER BY at DESC, o.article_id DESC LIMIT ? OFFSET ?",
            (*params, limit + 1, offset),
        )
        ids = [str(r[0]) for r in rows[:limit]]
        alerted = {str(r[0]): float(r[1]) for r in rows}
        entries = self._entries(ids, alerted, who)
        return InboxPage(tuple(entries), offset, len(rows) > limit)

    def _entries(
        self, ids: Sequence[str], alerted: dict[str, float], who: str | None
    ) -> list[InboxEntry]:
        if not ids:
            return []
        articles = {
            str(r[0]): r
            for r in self._query(
                "SELECT id, feed, url, title, published, partial FROM articles"
                f" WHERE id IN ({_marks(len(ids))})",
                ids,
            )
        }
        outbox = self._outbox_of(ids)
        votes = self._votes(ids, who)
        entries = []
        for article_id in ids:
            rows = outbox.get(article_id, [])
            payloads = [json.loads(r[8]) for r in rows]
            art = articles.get(article_id)
            first = payloads[0] if payloads else {}
            hits: dict[str, RuleHit] = {}
            for p in payloads:
                for r in p.get("rules", ()):
                    hits.setdefault(r["name"], _rule_hit(r))
            entries.append(
                InboxEntry(
                    article_id=article_id,
                    title=str(art[3]) if art else str(first.get("title", "")),
                    url=art[2] if art else first.get("url"),
                    feed=art[1] if art else first.get("source"),
                    sources=_sources(payloads, art[1] if art else None),
                    published=float(art[4]) if art and art[4] is not None else None,
                    alerted=alerted[article_id],
                    partial=bool(art[5]) if art else bool(first.get("partial")),
                    rules=tuple(hits.values()),
                    deliveries=tuple(_delivery(r) for r in rows),
                    votes=votes.get(article_id, {}),
                )
            )
        return entries

    def _outbox_of(self, ids: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
        """The alerts (not notices) about these articles, by article, oldest first."""
        found: dict[str, list[tuple[Any, ...]]] = {}
        for r in self._query(
            "SELECT o.id, o.channel, o.status, o.attempts, o.created, o.sent_at, o.last_error,"
            " o.batch, o.payload, o.article_id FROM outbox o"
            f" WHERE o.article_id IN ({_marks(len(ids))})"
            " AND EXISTS (SELECT 1 FROM alert_rules r WHERE r.alert_id = o.id)"
            " ORDER BY o.created, o.channel",
            ids,
        ):
            found.setdefault(str(r[9]), []).append(r)
        return found

    def _votes(self, ids: Sequence[str], who: str | None) -> dict[str, dict[str, Votes]]:
        if self.schema_version < self.INBOX_SCHEMA or not ids:
            return {}
        out: dict[str, dict[str, Votes]] = {}
        for article_id, rule, useful, total, mine in self._query(
            "SELECT article_id, rule, sum(useful), count(*),"
            " max(CASE WHEN who = ? THEN useful + 1 ELSE 0 END) FROM feedback"
            f" WHERE article_id IN ({_marks(len(ids))}) GROUP BY article_id, rule",
            (who or "", *ids),
        ):
            own = None if not mine else int(mine) == 2
            out.setdefault(str(article_id), {})[str(rule)] = Votes(
                int(useful), int(total) - int(useful), own
            )
        return out

    # ------------------------------------------------------------------ one article

    def article(self, article_id: str, *, who: str | None = None) -> ArticleView | None:
        """An article with every rule's evidence, its alerts and the feedback on it; None
        when neither the article nor an alert about it is stored."""
        rows = self._query(
            "SELECT id, feed, url, title, text, published, language, partial, created"
            " FROM articles WHERE id = ?",
            (article_id,),
        )
        outbox = self._outbox_of([article_id]).get(article_id, [])
        if not rows and not outbox:
            return None
        payloads = [json.loads(r[8]) for r in outbox]
        first = payloads[0] if payloads else {}
        evidence = tuple(
            _rule_evidence(str(rule), str(ev), float(created))
            for rule, ev, created in self._query(
                "SELECT rule, evidence, created FROM matches WHERE article_id = ? ORDER BY rule",
                (article_id,),
            )
        )
        votes = self._votes([article_id], who).get(article_id, {})
        if rows:
            a = rows[0]
            return ArticleView(
                article_id=article_id,
                title=str(a[3]),
                text=str(a[4]),
                url=a[2],
                feed=a[1],
                sources=_sources(payloads, a[1]),
                published=float(a[5]) if a[5] is not None else None,
                created=float(a[8]),
                language=a[6],
                partial=bool(a[7]),
                evidence=evidence,
                deliveries=tuple(_delivery(r) for r in outbox),
                votes=votes,
            )
        return ArticleView(
            article_id=article_id,
            title=str(first.get("title", "")),
            text="",
            url=first.get("url"),
            feed=first.get("source"),
            sources=_sources(payloads, None),
            published=None,
            created=None,
            language=first.get("language"),
            partial=bool(first.get("partial")),
            evidence=evidence,
            deliveries=tuple(_delivery(r) for r in outbox),
            votes=votes,
        )

    # ------------------------------------------------------------------ search

    def search(self, query: str, *, offset: int = 0, limit: int = 20) -> SearchPage:
        """Stored articles that `query` (web-search syntax) finds, newest first; `read_as`
        says how the query was read when that is not as typed (quotes balanced, syntax or
        words without a letter or digit dropped)."""
        terms = search_terms(query)
        read = websearch_text(terms)
        read_as = None if read == " ".join(query.split()) else read
        if not terms.alternatives or self.schema_version < self.INBOX_SCHEMA:
            return SearchPage((), offset, False, read_as)
        ids = self._search_ids(terms, limit=limit + 1, offset=offset)
        shown = ids[:limit]
        rows = (
            {
                str(r[0]): r
                for r in self._query(
                    "SELECT id, feed, url, title, text, published, created FROM articles"
                    f" WHERE id IN ({_marks(len(shown))})",
                    shown,
                )
            }
            if shown
            else {}
        )
        hits = tuple(
            SearchHit(
                article_id=i,
                title=str(r[3]),
                url=r[2],
                feed=r[1],
                published=float(r[5]) if r[5] is not None else None,
                created=float(r[6]),
                snippet=search_snippet(str(r[3]), str(r[4]), terms.words),
            )
            for i in shown
            if (r := rows.get(i)) is not None
        )
        return SearchPage(hits, offset, len(ids) > limit, read_as)

    # ------------------------------------------------------------------ feedback

    def record_feedback(
        self,
        article_id: str,
        *,
        useful: bool,
        who: str,
        now: float,
        rules: Sequence[str] = (),
    ) -> int:
        """`who` says the alert about `article_id` was useful or not, for `rules` (none
        given: every rule that matched it or alerted about it); a later verdict replaces
        theirs. Returns how many rules it was recorded for (0: no such match)."""
        with self._tx() as db:
            known = {
                str(r[0])
                for r in db.execute(
                    "SELECT rule FROM matches WHERE article_id = ? UNION"
                    " SELECT r.rule FROM alert_rules r JOIN outbox o ON o.id = r.alert_id"
                    " WHERE o.article_id = ?",
                    (article_id, article_id),
                ).fetchall()
            }
            chosen = sorted(known & set(rules)) if rules else sorted(known)
            db.executemany(
                "INSERT INTO feedback (article_id, rule, who, useful, at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (article_id, rule, who) DO UPDATE SET useful = excluded.useful,"
                " at = excluded.at",
                [(article_id, rule, who, int(useful), now) for rule in chosen],
            )
        return len(chosen)

    def rule_precision(self) -> dict[str, tuple[int, int]]:
        """Per rule with feedback: (useful, not useful) verdicts."""
        if self.schema_version < self.INBOX_SCHEMA:
            return {}
        rows = self._query("SELECT rule, sum(useful), count(*) FROM feedback GROUP BY rule")
        return {str(r[0]): (int(r[1]), int(r[2]) - int(r[1])) for r in rows}

    def rule_stats(self, *, now: float, day_starts: Sequence[float]) -> list[RuleStats]:
        """Every rule that matched since `day_starts[0]`, has feedback or is muted: matches
        per day (day i from `day_starts[i]` to the next start, the last to `now`), feedback,
        mute and last match."""
        bounds = [*day_starts, now]
        buckets = ", ".join(
            "sum(CASE WHEN created >= ? AND created < ? THEN 1 ELSE 0 END)" for _ in day_starts
        )
        params: list[Any] = [v for a, b in itertools.pairwise(bounds) for v in (a, b)]
        per_day = (
            {
                str(r[0]): tuple(int(n or 0) for n in r[1:])
                for r in self._query(
                    f"SELECT rule, {buckets} FROM matches WHERE created >= ? GROUP BY rule",
                    (*params, bounds[0]),
                )
            }
            if day_starts
            else {}
        )
        last = {
            str(r[0]): float(r[1])
            for r in self._query("SELECT rule, max(created) FROM matches GROUP BY rule")
        }
        precision = self.rule_precision()
        muted = {
            str(r[0]): float(r[1])
            for r in self._query("SELECT rule, until FROM rule_mutes WHERE until > ?", (now,))
        }
        names = sorted(set(per_day) | set(precision) | set(muted))
        empty = (0,) * len(day_starts)
        return [
            RuleStats(
                rule=name,
                hits_per_day=per_day.get(name, empty),
                useful=precision.get(name, (0, 0))[0],
                not_useful=precision.get(name, (0, 0))[1],
                muted_until=muted.get(name),
                last_match=last.get(name),
            )
            for name in names
        ]


def _rule_hit(r: dict[str, Any]) -> RuleHit:
    return RuleHit(
        rule=str(r["name"]),
        terms=tuple(r.get("terms") or ()),
        snippets=tuple(
            Snippet(
                s["field"],
                s["text"],
                tuple((int(a), int(b)) for a, b in s.get("highlights", ())),
            )
            for s in r.get("snippets", ())
        ),
    )


def _rule_evidence(rule: str, evidence: str, created: float) -> RuleEvidence:
    """A match's stored evidence; spans in another shape than the pipeline's are left out."""
    data = json.loads(evidence) if evidence else {}
    if not isinstance(data, dict):
        data = {}
    spans = tuple(
        Span(s["field"], int(s["start"]), int(s["end"]), str(s["text"]), str(s["operand"]))
        for s in data.get("spans", ())
        if isinstance(s, dict) and {"field", "start", "end", "text", "operand"} <= s.keys()
    )
    distances = tuple(int(d) for d in data.get("distances", ()) if isinstance(d, int))
    return RuleEvidence(rule, spans, distances, created)


def _delivery(r: tuple[Any, ...]) -> Delivery:
    return Delivery(
        alert_id=str(r[0]),
        channel=str(r[1]),
        status=str(r[2]),
        attempts=int(r[3]),
        created=float(r[4]),
        sent_at=float(r[5]) if r[5] is not None else None,
        last_error=r[6],
        batch=r[7],
    )


def _sources(payloads: Sequence[dict[str, Any]], feed: str | None) -> tuple[str, ...]:
    """Every feed that carried the article: its own, then those its alerts list."""
    names: dict[str, None] = {feed: None} if feed else {}
    for p in payloads:
        for s in p.get("sources") or [p.get("source")]:
            if s:
                names[str(s)] = None
    return tuple(names)
