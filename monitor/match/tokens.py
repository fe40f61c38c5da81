"""The one tokenizer: rules and articles are normalised and split by the same code.

Normalisation, in this order (documented for operators in docs/rules.md):

1. Unicode NFKC (full-width letters, ligatures and the like become plain letters).
2. Apostrophe variants (’ ‘ ‛ ʼ ʻ ′ ` ´ ＇) become ``'``; dash variants (‐ ‑ ‒ – — ― − ﹘ ﹣ －)
   become ``-``; soft hyphens are dropped.
3. Accents are stripped (NFKD, then combining marks dropped): ``Ẓarīf`` is ``Zarif``.
4. A possessive ``'s`` at the end of a word is dropped (``Iran's`` is ``Iran``), then every
   other apostrophe is removed (``Qa'ida`` is ``Qaida``).
5. Tokens are maximal runs of letters and digits (any script), so hyphens, spaces and
   punctuation separate words: ``al-Qaida``, ``al- Qaida`` and ``Al Qaida`` are all ``al qaida``.
6. Each token exists twice: *exact* (case kept, for ``exact`` entity aliases) and *folded*
   (Unicode case-folded, for everything else).

Every token keeps the character offsets of the original text it came from, so matches can be
shown in context. This reproduces the shared benchmark's reference tokenizer token for token.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

_TRANS: dict[int, str | None] = {
    ord(c): "'" for c in "\u2019\u2018\u201b\u02bc\u02bb\u2032`\u00b4\uff07"
}
_TRANS.update({ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"})
_TRANS[0x00AD] = None  # soft hyphen

_POSSESSIVE = re.compile(r"'[sS]\b")
_TOKEN = re.compile(r"[^\W_]+")
_ASCII_TOKEN = re.compile(r"([A-Za-z0-9]+)")  # _TOKEN in ASCII text, kept by re.split
# An apostrophe, a backtick or any non-ASCII character: the run of non-space characters
# around it needs the slow, character-by-character path.
_SPECIAL = re.compile(r"[^\x00-\x26\x28-\x5f\x61-\x7f]")
_SPACE = re.compile(r"\s")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_SENTENCE_END = re.compile(r"[.!?][^\w\s]*\s")
# Words that a full stop follows without ending the sentence (single letters are initials).
ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sen",
        "rep",
        "gov",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "maj",
        "st",
        "jr",
        "sr",
        "rev",
        "hon",
        "pres",
        "inc",
        "ltd",
        "co",
        "corp",
        "bros",
        "no",
        "vs",
        "etc",
        "approx",
        "dept",
        "est",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mt",
        "ft",
        "ave",
        "blvd",
    ]
)


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens of one text: three parallel lists, one entry per token.

    ``text[spans[i][0]:spans[i][1]]`` is the original text that token ``i`` came from.
    """

    exact: list[str]
    folded: list[str]
    spans: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.exact)


def _strip_marks(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _normalise(text: str) -> str:
    return _strip_marks(unicodedata.normalize("NFKC", text).translate(_TRANS))


def fold(token: str) -> str:
    """The case-insensitive form of one exact token."""
    return token.lower() if token.isascii() else _strip_marks(token.casefold())


@lru_cache(maxsize=4096)
def _simple(ch: str) -> bool:
    """Whether a character normalises, on its own, to one ASCII character (``’`` and
    ``‑`` do; ``é`` does, ``´`` and ``…`` do not), so that offsets in a run of such
    characters need no mapping."""
    return ch.isascii() or (len(norm := _normalise(ch)) == 1 and norm.isascii())


def _chunk_tokens(chunk: str, base: int, out: Tokens) -> None:
    """Tokens of one run of non-space characters that starts at offset ``base``."""
    src: list[tuple[int, int]] | None = None  # None: text[i] came from chunk[i]
    simple = all(map(_simple, chunk))  # curly apostrophes, dashes: no character moves
    text = "".join(ch if ch.isascii() else _normalise(ch) for ch in chunk) if simple else ""
    if not simple or text != _normalise(chunk):
        # Normalise cluster by cluster (a base character and its combining marks) so that
        # every output character knows which input characters it came from.
        clusters: list[tuple[int, int]] = []
        for i, ch in enumerate(chunk):
            if clusters and unicodedata.combining(ch):
                clusters[-1] = (clusters[-1][0], i + 1)
            else:
                clusters.append((i, i + 1))
        pieces = [_normalise(chunk[a:b]) for a, b in clusters]
        text = "".join(pieces)
        if text != _normalise(chunk):  # a composition across clusters (rare): keep it whole
            clusters, pieces = [(0, len(chunk))], [_normalise(chunk)]
            text = pieces[0]
        src = []
        for (a, b), piece in zip(clusters, pieces, strict=True):
            src.extend([(a, b)] * len(piece))
    dropped = {i for m in _POSSESSIVE.finditer(text) for i in range(m.start(), m.end())}
    keep = [i for i, ch in enumerate(text) if ch != "'" and i not in dropped]
    reduced = "".join(text[i] for i in keep)
    for m in _TOKEN.finditer(reduced):
        first, last = keep[m.start()], keep[m.end() - 1]
        start, end = (first, last + 1) if src is None else (src[first][0], src[last][1])
        out.exact.append(m.group())
        out.folded.append(fold(m.group()))
        out.spans.append((base + start, base + end))


def tokenize(text: str) -> Tokens:
    """Split ``text`` into normalised tokens with their character offsets."""
    out = Tokens([], [], [])
    pos = 0
    for m in _SPECIAL.finditer(text):
        if m.start() < pos:  # inside the run handled last
            continue
        start = m.start()
        while start > pos and not text[start - 1].isspace():
            start -= 1
        space = _SPACE.search(text, m.end())
        end = space.start() if space else len(text)
        _plain_tokens(text, pos, start, out)
        _chunk_tokens(text[start:end], start, out)
        pos = end
    _plain_tokens(text, pos, len(text), out)
    return out


def _plain_tokens(text: str, start: int, end: int, out: Tokens) -> None:
    """Tokens of a stretch of plain ASCII text without apostrophes (nothing to normalise)."""
    if start == end:
        return
    # [gap, token, gap, token, ..., gap]: the running sum of the lengths gives the offsets
    parts = _ASCII_TOKEN.split(text if start == 0 and end == len(text) else text[start:end])
    exact = parts[1::2]
    if not exact:
        return
    out.exact.extend(exact)
    out.folded.extend("\0".join(exact).lower().split("\0"))
    offsets = list(accumulate(map(len, parts), initial=start))
    out.spans.extend(zip(offsets[1:-1:2], offsets[2::2], strict=True))


@lru_cache(maxsize=1 << 16)  # rules repeat words and aliases
def query_tokens(text: str, *, exact: bool = False) -> tuple[str, ...]:
    """The tokens a rule word, phrase or alias stands for (exact case or folded)."""
    if text.isascii() and text.isalnum():  # the common case: one plain word
        return (text if exact else text.lower(),)
    tokens = tokenize(text)
    return tuple(tokens.exact if exact else tokens.folded)


def units(text: str, tokens: Tokens) -> tuple[list[int], list[int]]:
    """(sentence number, paragraph number) of every token, both counting from 0.

    A paragraph ends at a blank line. A sentence ends at a paragraph end and at ``.``, ``!``
    or ``?`` followed by whitespace (closing quotes or brackets may come between), except a
    full stop right after a single letter (``U.S.``, ``J. Smith``) or a common abbreviation
    (``Mr.``, ``Sept.``, ``Inc.``; see ``ABBREVIATIONS``).
    """
    sentences: list[int] = []
    paragraphs: list[int] = []
    sentence = paragraph = 0
    for i in range(len(tokens)):
        if i:
            gap = text[tokens.spans[i - 1][1] : tokens.spans[i][0]]
            if "\n" in gap and _BLANK_LINE.search(gap):
                paragraph += 1
                sentence += 1
            elif _SENTENCE_END.search(gap) and not _abbreviation(gap, tokens.folded[i - 1]):
                sentence += 1
        sentences.append(sentence)
        paragraphs.append(paragraph)
    return sentences, paragraphs


def _abbreviation(gap: str, previous: str) -> bool:
    return gap[0] == "." and (len(previous) == 1 or previous in ABBREVIATIONS)
