"""The compiled rule set and its per-document entry points."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from monitor.errors import QueryError
from monitor.match.compile import Check, Compiled, Surface, compile_check, entity_surfaces
from monitor.match.decide import Decide, compile_decision, needs_deciding
from monitor.match.evaluate import FOUND, DocText, Evidence, Hits, Occurrence
from monitor.match.explain import explain_query
from monitor.match.presearch import Presearch, needs
from monitor.match.query import Entity, Everything, Field, Node, intern, leaves, parse_query
from monitor.match.snippets import MAX_SNIPPETS, make_snippets
from monitor.models import Document, EntityConfig, Match, RuleConfig, Snippet, Span

# Characters of an article that rules see (a long book is a million): matching is linear, but
# a body made of one repeated rule word costs about 20 s and 1 GB per 5 million characters.
MAX_TEXT_CHARS = 1_000_000
MAX_TITLE_CHARS = 10_000


def matched_part(text: str, limit: int) -> str:
    """The start of ``text`` that rules see: at most ``limit`` characters, cut at a space
    (or a line end) so that no word is cut in two, unless one word is longer than that."""
    if len(text) <= limit:
        return text
    cut = max(text.rfind(space, 0, limit + 1) for space in " \n\t")
    return text[:cut] if cut > 0 else text[:limit]


@dataclass(frozen=True, slots=True)
class _Rule:
    config: RuleConfig
    query: Node
    group: int  # index into Matcher._groups
    feeds: frozenset[str]
    tags: frozenset[str]
    languages: frozenset[str]
    filtered: bool  # whether any of feeds, tags and languages is set

    def refusal(self, doc: Document) -> str | None:
        """Why the rule's filters skip this document, or None when they let it through."""
        if self.feeds and doc.feed not in self.feeds:
            return f"feed {doc.feed!r} is not one of the rule's feeds ({_listing(self.feeds)})"
        if self.tags and not self.tags & doc.tags:
            return f"the feed's tags ({_listing(doc.tags)}) include none of {_listing(self.tags)}"
        if self.languages and doc.language and _language(doc.language) not in self.languages:
            return f"language {doc.language!r} is not one of {_listing(self.languages)}"
        return None


def _language(code: str) -> str:
    """Primary language subtag, lower case: 'en-GB' -> 'en'."""
    return code.replace("_", "-").split("-")[0].lower()


_EMPTY: frozenset[str] = frozenset()


def _set(items: Iterable[str]) -> frozenset[str]:
    """A frozenset; the empty one shared, as most rules have no filters."""
    return frozenset(items) or _EMPTY


_first = itemgetter(0)
_new = tuple.__new__  # Match(*fields) without the Python-level __new__ of a named tuple


def _listing(items: frozenset[str]) -> str:
    return ", ".join(sorted(items)) or "none"


class _Render:
    """Builds Match objects for one document, sharing spans and snippets between rules."""

    __slots__ = ("doc", "hits", "limit", "made", "rendered", "spans")

    def __init__(self, doc: Document, hits: Hits, limit: int) -> None:
        self.doc = doc
        self.hits = hits
        self.limit = limit  # snippets per match
        self.spans: dict[tuple[Occurrence, str], Span] = {}
        self.rendered: dict[int, tuple[tuple[Span, ...], tuple[Snippet, ...]]] = {}
        self.made: dict[tuple[int, ...], Snippet] = {}  # snippets by their spans' ids

    def span(self, key: tuple[Occurrence, str]) -> Span:
        field, start, end = self.hits.text.locate(key[0])
        text = self.doc.title if field == "title" else self.doc.text
        span = self.spans[key] = _new(Span, (field, start, end, text[start:end], key[1]))
        return span

    def evidence(self, ev: Evidence) -> tuple[tuple[Span, ...], tuple[Snippet, ...]]:
        """The spans and snippets of one rule's evidence."""
        rendered = self.rendered.get(id(ev))  # equal evidence is one object (see compile)
        if rendered is None:
            made = self.spans.get
            keys = sorted({(occ, leaf.operand) for leaf, occ in ev.spans})
            spans = tuple([made(k) or self.span(k) for k in keys])
            doc = self.doc
            snippets = make_snippets(doc.title, doc.text, spans, self.made, self.limit)
            rendered = self.rendered[id(ev)] = (spans, snippets)
        return rendered


Member = tuple[int, str, tuple[str, ...]]  # a rule of a group: index, name, channels


@dataclass(frozen=True, slots=True)
class _Group:
    """The rules written alike (same query once interned, same min_mentions): decided and
    explained once per document."""

    decide: Decide | None  # None: being a candidate means being FOUND (see needs_deciding)
    check: Check
    rules: tuple[Member, ...]  # ascending
    filtered: bool  # whether any of these rules has feeds, tags or languages set
    # When some rules list feeds: those rules by feed, and the rules that list none. A
    # passthrough group (``*``) is a candidate for every document, and thousands of desks'
    # rules may share it: only the rules of the document's feed are looked at.
    by_feed: Mapping[str, tuple[Member, ...]] | None = None
    any_feed: tuple[Member, ...] = ()

    @classmethod
    def of(
        cls, decide: Decide | None, check: Check, members: tuple[Member, ...], rules: list[_Rule]
    ) -> _Group:
        filtered = any(rules[i].filtered for i, _, _ in members)
        if not any(rules[i].feeds for i, _, _ in members):
            return cls(decide, check, members, filtered)
        by_feed: dict[str, list[Member]] = {}
        for m in members:
            for feed in rules[m[0]].feeds:
                by_feed.setdefault(feed, []).append(m)
        any_feed = tuple(m for m in members if not rules[m[0]].feeds)
        feeds = {feed: tuple(ms) for feed, ms in by_feed.items()}
        return cls(decide, check, members, filtered, feeds, any_feed)

    def admitted(self, doc: Document, rules: tuple[_Rule, ...]) -> tuple[Member, ...]:
        """The members whose filters let ``doc`` through (the group is ``filtered``)."""
        pool = self.rules
        if self.by_feed is not None:
            listed = self.by_feed.get(doc.feed, ()) if doc.feed is not None else ()
            pool = tuple(sorted(listed + self.any_feed)) if listed else self.any_feed
        return tuple(r for r in pool if rules[r[0]].refusal(doc) is None)


class SharedMatch(NamedTuple):
    """Rules written alike that matched one document, with their one evidence."""

    rules: tuple[tuple[int, str, tuple[str, ...]], ...]  # (rule number, name, channels)
    article_id: str
    spans: tuple[Span, ...]
    snippets: tuple[Snippet, ...]
    distances: tuple[int, ...]


class Matcher:
    """Every rule compiled into one term index. Immutable and safe to share between threads:
    to reload rules, build a new Matcher and swap the reference."""

    __slots__ = ("_by_name", "_compiled", "_groups", "_presearch", "_rules")

    def __init__(
        self,
        rules: tuple[_Rule, ...],
        groups: tuple[_Group, ...],
        compiled: Compiled,
        presearch: Presearch,
    ) -> None:
        self._rules = rules
        self._groups = groups
        self._compiled = compiled
        self._presearch = presearch
        self._by_name = {r.config.name: r for r in rules}

    @classmethod
    def build(cls, rules: Sequence[RuleConfig], entities: Mapping[str, EntityConfig]) -> Matcher:
        """Compile every rule; raises QueryError (naming the rule) if a query is bad."""
        # Compiling allocates millions of objects that all stay alive, so the cyclic garbage
        # collector would run again and again for nothing (a third of the time at 100k rules).
        enabled = gc.isenabled()
        gc.disable()
        try:
            return cls._build(rules, entities)
        finally:
            if enabled:
                gc.enable()

    @classmethod
    def _build(cls, rules: Sequence[RuleConfig], entities: Mapping[str, EntityConfig]) -> Matcher:
        compiled = Compiled()
        surfaces: dict[str, tuple[Surface, ...]] = {}
        shared: dict[Node, Node] = {}
        checks: dict[tuple[int, Field | None, int], Check] = {}
        group_of: dict[tuple[Node, int], int] = {}  # by (query, min_mentions)
        members: list[list[int]] = []  # rules by group
        out: list[_Rule] = []
        for i, rc in enumerate(rules):
            try:
                query = intern(parse_query(rc.query, entities), shared)
            except QueryError as e:
                raise QueryError(f"rule {rc.name!r}: {e.message}", e.column) from None
            for leaf, _ in leaves(query):
                if isinstance(leaf, Entity) and leaf.id not in surfaces:
                    entity = entities[leaf.id]
                    surfaces[leaf.id] = entity_surfaces(entity.aliases, entity.exact)
                compiled.concept(leaf, surfaces)
            # min_mentions means nothing to `*` alone: all passthrough rules share one group
            k = 1 if isinstance(query, Everything) else rc.min_mentions
            group = group_of.setdefault((query, k), len(group_of))
            if group == len(members):
                members.append([])
            members[group].append(i)
            out.append(
                _Rule(
                    rc,
                    query,
                    group,
                    _set(rc.feeds),
                    _set(rc.tags),
                    _set(_language(x) for x in rc.languages),
                    bool(rc.feeds or rc.tags or rc.languages),
                )
            )
        groups: list[_Group] = []
        clauses = []
        for (query, k), ids in zip(group_of, members, strict=True):
            clauses.append(needs(query, compiled.concepts, compiled.costs))
            decide = (
                compile_decision(query, compiled.concepts, k, checks)
                if needs_deciding(query, k)
                else None
            )
            check = compile_check(query, compiled.concepts, k, shared=checks)
            named = tuple((i, rules[i].name, rules[i].channels) for i in ids)
            groups.append(_Group.of(decide, check, named, out))
        presearch = Presearch.index(clauses, compiled.costs)
        return cls(tuple(out), tuple(groups), compiled, presearch)

    @property
    def rule_names(self) -> list[str]:
        return [r.config.name for r in self._rules]

    def _hits(self, title: str, body: str) -> Hits:
        text = DocText.of(matched_part(title, MAX_TITLE_CHARS), matched_part(body, MAX_TEXT_CHARS))
        return Hits(text, self._compiled.index.scan(text))

    def match(self, doc: Document) -> list[Match]:
        """Every rule the document matches, in rule order."""
        found = [
            (i, _new(Match, (name, s.article_id, s.spans, s.snippets, channels, s.distances)))
            for s in self.match_shared(doc)
            for i, name, channels in s.rules
        ]
        found.sort(key=_first)
        return [m for _, m in found]

    def match_shared(self, doc: Document, snippets: int = MAX_SNIPPETS) -> list[SharedMatch]:
        """``match`` with rules written alike (same query and min_mentions) kept together:
        one evidence for all of them, with at most ``snippets`` snippets. Listing many
        matches is faster this way."""
        hits = self._hits(doc.title, doc.text)
        groups, rules = self._groups, self._rules
        render = _Render(doc, hits, snippets)
        out = []
        for g in self._presearch.candidates(hits.occ):
            group = groups[g]
            if group.decide is not None and group.decide(hits) != FOUND:
                continue
            members = group.rules
            if group.filtered:
                members = group.admitted(doc, rules)
                if not members:
                    continue
            ev = group.check(hits)
            spans, made = render.evidence(ev)
            out.append(_new(SharedMatch, (members, doc.id, spans, made, ev.distances)))
        return out

    def explain(self, rule: str, doc: Document) -> str:
        """Why a rule did or did not match a document, operand by operand."""
        r = self._by_name.get(rule)
        if r is None:
            raise KeyError(f"no rule named {rule!r}")
        hits = self._hits(doc.title, doc.text)
        return explain_query(r.config, r.query, hits, self._compiled.concepts, r.refusal(doc))

    def check_examples(self) -> list[tuple[str, str, tuple[str, int]]]:
        """(rule name, problem, where) for every example text that does not behave as
        declared; `where` is ("match" or "no_match", index in that list).

        Examples are body text with an empty title; the rule's filters do not apply.
        """
        problems = []
        for r in self._rules:
            for key, texts in (
                ("match", r.config.examples.match),
                ("no_match", r.config.examples.no_match),
            ):
                for index, text in enumerate(texts):
                    value = self._groups[r.group].check(self._hits("", text)).value
                    if (value == FOUND) != (key == "match"):
                        want = "match" if key == "match" else "not match"
                        problem = f"example should {want}: {text!r}"
                        problems.append((r.config.name, problem, (key, index)))
        return problems
