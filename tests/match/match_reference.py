"""A deliberately plain evaluator of the rule language, for differential tests.

It shares only the tokenizer and the parser with monitor.match (both tested on their own)
and follows docs/rules.md literally: find every occurrence of every operand by trying every
position, then evaluate the query tree with ordinary recursion. No tries, no presearcher.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from monitor.match.query import And, Entity, Everything, Near, Node, Not, Or, Prefix, Scope, Term
from monitor.match.tokens import _TRANS as TRANS
from monitor.match.tokens import ABBREVIATIONS, Tokens, query_tokens, tokenize
from monitor.models import EntityConfig

# The first tokenizer: a chunk of non-space text is normalised cluster by cluster (a base
# character and its combining marks) or, when that differs, whole. Its time grows with the
# square of the longest run of combining marks: use it on small texts only.
POSSESSIVE = re.compile(r"'[sS]\b")
TOKEN = re.compile(r"[^\W_]+")


def strip_marks(text: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )


def normalise(text: str) -> str:
    """docs/rules.md's steps 1 to 3, whole: NFKC, the table, accents stripped."""
    return strip_marks(unicodedata.normalize("NFKC", text).translate(TRANS))


def fold(token: str) -> str:
    return strip_marks(token.casefold())


def reference_tokenize(text: str) -> Tokens:
    out = Tokens([], [], [])
    for m in re.finditer(r"\S+", text):
        _chunk_tokens(m.group(), m.start(), out)
    return out


def _chunk_tokens(chunk: str, base: int, out: Tokens) -> None:
    clusters: list[tuple[int, int]] = []
    for i, ch in enumerate(chunk):
        if clusters and unicodedata.combining(ch):
            clusters[-1] = (clusters[-1][0], i + 1)
        else:
            clusters.append((i, i + 1))
    pieces = [normalise(chunk[a:b]) for a, b in clusters]
    text = "".join(pieces)
    if text != normalise(chunk):
        clusters, pieces = [(0, len(chunk))], [normalise(chunk)]
        text = pieces[0]
    src = []
    for (a, b), piece in zip(clusters, pieces, strict=True):
        src.extend([(a, b)] * len(piece))
    dropped = {i for m in POSSESSIVE.finditer(text) for i in range(m.start(), m.end())}
    keep = [i for i, ch in enumerate(text) if ch != "'" and i not in dropped]
    reduced = "".join(text[i] for i in keep)
    for m in TOKEN.finditer(reduced):
        first, last = keep[m.start()], keep[m.end() - 1]
        out.exact.append(m.group())
        out.folded.append(fold(m.group()))
        out.spans.append((base + src[first][0], base + src[last][1]))


# The first definition of a sentence end. Quadratic on long runs of punctuation: use it on
# small texts only.
SENTENCE_END = re.compile(r"[.!?\u061f\u06d4][^\w\s]*\s")  # and Arabic ? and full stop
BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def units(text: str, tokens: Tokens) -> tuple[list[int], list[int]]:
    """(sentence, paragraph) of every token, gap by gap, as docs/rules.md defines them."""
    sentences: list[int] = []
    paragraphs: list[int] = []
    sentence = paragraph = 0
    for i in range(len(tokens)):
        if i:
            gap = text[tokens.spans[i - 1][1] : tokens.spans[i][0]]
            if BLANK_LINE.search(gap):
                paragraph += 1
                sentence += 1
            elif SENTENCE_END.search(gap):
                previous = tokens.folded[i - 1]
                if not (gap[0] == "." and (len(previous) == 1 or previous in ABBREVIATIONS)):
                    sentence += 1
        sentences.append(sentence)
        paragraphs.append(paragraph)
    return sentences, paragraphs


Pair = tuple[tuple[int, int], tuple[int, int], int]


def all_pairs(
    unit: str,
    distance: int,
    ordered: bool,
    left: list[tuple[int, int]],
    right: list[tuple[int, int]],
    title_length: int,
    ids: list[int] | None,
) -> Iterator[Pair]:
    """Every (left, right, tokens between) pair of a NEAR, trying each pair (L x R).
    ``ids``: the sentence or paragraph of every token, for NEAR/s and NEAR/p."""
    for a in left:
        for b in right:
            if (b[0] < title_length) != (a[0] < title_length):
                continue
            if b[0] >= a[1]:
                gap = b[0] - a[1]
            elif not ordered and a[0] >= b[1]:
                gap = a[0] - b[1]
            else:
                continue
            if unit == "words":
                if gap <= distance:
                    yield a, b, gap
            else:
                assert ids is not None
                if ids[min(a[0], b[0])] == ids[max(a[1], b[1]) - 1]:
                    yield a, b, gap


def closest_of_all_pairs(
    unit: str,
    distance: int,
    ordered: bool,
    left: list[tuple[int, int]],
    right: list[tuple[int, int]],
    title_length: int,
    ids: list[int] | None,
) -> tuple[Pair, set[tuple[int, int]], set[tuple[int, int]]] | None:
    """The closest pair (the first of the fewest tokens apart) and the paired occurrences."""
    pairs = list(all_pairs(unit, distance, ordered, left, right, title_length, ids))
    if not pairs:
        return None
    return min(pairs, key=lambda p: p[2]), {p[0] for p in pairs}, {p[1] for p in pairs}


@dataclass
class Field:
    name: str
    exact: list[str]
    folded: list[str]
    sentences: list[int]
    paragraphs: list[int]


def fields(title: str, body: str) -> list[Field]:
    out = []
    for name, text in (("title", title), ("body", body)):
        t = tokenize(text)
        s, p = units(text, t)
        out.append(Field(name, t.exact, t.folded, s, p))
    return out


def occurrences(leaf: Term | Prefix | Entity, f: Field, entities: Mapping[str, EntityConfig]):
    """Every (start, end) token range of the leaf in one field."""
    if isinstance(leaf, Entity):
        e = entities[leaf.id]
        patterns = [(query_tokens(a), False) for a in e.aliases]
        patterns += [(query_tokens(a, exact=True), True) for a in e.exact]
    else:
        patterns = [(leaf.tokens, False)]
    found = set()
    for tokens, exact in patterns:
        stream = f.exact if exact else f.folded
        n = len(tokens)
        for i in range(len(stream) - n + 1):
            window = stream[i : i + n]
            if n and not exact:  # the first word may carry Arabic proclitics
                window[0] = without_proclitics(window[0], tokens[0])
            if isinstance(leaf, Prefix):
                ok = window[:-1] == list(tokens[:-1]) and window[-1].startswith(tokens[-1])
            else:
                ok = n > 0 and window == list(tokens)
            if ok:
                found.add((i, i + n))
    return found


ARABIC_LETTERS = re.compile(r"[\u0620-\u06ff]{2,}")


def without_proclitics(token: str, word: str) -> str:
    """``word`` if ``token`` is ``word`` as docs/rules.md says Arabic writes it with
    proclitics (و or ف, then ب, ك or ل, then ال where the word has none; ل + ال is لل),
    else ``token``. For a prefix, ``word`` is its first token and the token may go on."""
    if not ARABIC_LETTERS.fullmatch(word):
        return token
    starts = []
    for conjunction in ("", "و", "ف"):
        for preposition in ("", "ب", "ك", "ل"):
            for article in ("", "ال"):
                if article and word.startswith("ال"):
                    continue
                written = preposition + article + word
                if written.startswith("لال") and len(written) > 3:
                    written = "لل" + written[3:]
                written = conjunction + written
                if token == written:
                    return word
                if token.startswith(written):
                    starts.append(word + token[len(written) :])
    return starts[0] if starts else token


def count(occ) -> int:
    n, end = 0, -1
    for s, e in sorted(occ, key=lambda o: (o[0], -o[1])):
        if s >= end:
            n, end = n + 1, e
    return n


def evaluate(node: Node, fs: list[Field], entities, k: int, scope: str | None = None):
    """(true?, supported by words?) for a node."""
    chosen = [f for f in fs if scope in (None, f.name)]
    if isinstance(node, Everything):  # `*`: every article, supported by its title
        return True, True
    if isinstance(node, Term | Prefix | Entity):
        total = sum(count(occurrences(node, f, entities)) for f in chosen)
        ok = total >= k and total > 0
        return ok, ok
    if isinstance(node, And):
        results = [evaluate(c, fs, entities, k, scope) for c in node.children]
        ok = all(r[0] for r in results)
        return ok, ok and any(r[1] for r in results)
    if isinstance(node, Or):
        results = [evaluate(c, fs, entities, k, scope) for c in node.children]
        return any(r[0] for r in results), any(r[1] for r in results)
    if isinstance(node, Not):
        return not evaluate(node.child, fs, entities, 1, scope)[0], False
    if isinstance(node, Scope):
        return evaluate(node.child, fs, entities, k, node.field)
    ok = near(node, chosen, entities, k)
    return ok, ok


def near(node: Near, chosen: list[Field], entities, k: int) -> bool:
    def side(leaves, f):
        return {o for leaf in leaves for o in occurrences(leaf, f, entities)}

    sides = [[side(node.left, f), side(node.right, f)] for f in chosen]
    for i in (0, 1):  # min_mentions: each side, counted over the fields in scope
        if sum(count(s[i]) for s in sides) < k:
            return False
    for f, (left, right) in zip(chosen, sides, strict=True):
        for a in left:
            for b in right:
                if a[1] <= b[0]:
                    gap = b[0] - a[1]
                elif not node.ordered and b[1] <= a[0]:
                    gap = a[0] - b[1]
                else:
                    continue
                lo, hi = min(a[0], b[0]), max(a[1], b[1]) - 1
                if node.unit == "words" and gap <= node.distance:
                    return True
                if node.unit == "sentence" and f.sentences[lo] == f.sentences[hi]:
                    return True
                if node.unit == "paragraph" and f.paragraphs[lo] == f.paragraphs[hi]:
                    return True
    return False


def matches(node: Node, title: str, body: str, entities, min_mentions: int = 1) -> bool:
    ok, supported = evaluate(node, fields(title, body), entities, min_mentions)
    return ok and supported
