"""The one tokenizer: rules and articles are normalised and split by the same code.

Normalisation, in this order (documented for operators in docs/rules.md):

1. Unicode NFKC (full-width letters, ligatures and the like become plain letters).
2. Apostrophe variants (’ ‘ ‛ ʼ ʻ ′ ` ´ ＇) become ``'``; dash variants (‐ ‑ ‒ – — ― − ﹘ ﹣ －)
   become ``-``; soft hyphens are dropped. Arabic and Persian letter forms are folded
   (ٱ -> ا, ة -> ه, ى and Persian ی -> ي, Persian ک -> ك, ...), Arabic-Indic and Persian
   digits become 0-9, and tatweel and the zero-width (non-)joiner are dropped, so a
   Persian word written with a ZWNJ (می‌گوید) stays one word.
3. Accents are stripped (NFKD, then combining marks dropped): ``Ẓarīf`` is ``Zarif``; so
   are the harakat and the hamza over alef, waw and yeh (``إيرانُ`` is ``ايران``).
4. A possessive ``'s`` at the end of a word is dropped (``Iran's`` is ``Iran``), then every
   other apostrophe is removed (``Qa'ida`` is ``Qaida``).
5. Tokens are maximal runs of letters and digits (any script), so hyphens, spaces and
   punctuation separate words: ``al-Qaida``, ``al- Qaida`` and ``Al Qaida`` are all ``al qaida``.
6. Each token exists twice: *exact* (case kept, for ``exact`` entity aliases) and *folded*
   (Unicode case-folded, for everything else).

Every token keeps the character offsets of the original text it came from, so matches can be
shown in context. This reproduces the shared benchmark's reference tokenizer token for token.

Everything here takes time linear in the length of the text (``tests/hostile/test_match.py``).
Text in the scripts the press writes in (Latin, Greek, Cyrillic, Hebrew, Arabic, Persian, CJK)
goes through a fast path of a few C loops over whole stretches (``_fast_tokens``); a run of
non-space characters with anything else in it goes character by character (``_chunk_tokens``).
Both give the same tokens and offsets (``tests/match/test_fast_path.py``).
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from operator import add
from typing import Final

_TRANS: dict[int, str | None] = {
    ord(c): "'" for c in "\u2019\u2018\u201b\u02bc\u02bb\u2032`\u00b4\uff07"
}
_TRANS.update({ord(c): "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"})
_TRANS[0x00AD] = None  # soft hyphen
# Arabic and Persian letter forms (after NFKC, so presentation forms are already letters;
# hamza on alef, waw and yeh and the harakat are combining marks that step 3 strips). The
# table in docs/rules.md lists them; Lucene's ArabicNormalizer and PersianNormalizer are the
# reference. All map one character to at most one, so offsets stay exact.
_TRANS.update(
    {
        0x0671: "\u0627",  # alef wasla -> alef
        0x0629: "\u0647",  # teh marbuta -> heh
        0x06C0: "\u0647",  # heh with yeh above (Persian ezafe) -> heh
        0x06C1: "\u0647",  # heh goal -> heh
        0x06C2: "\u0647",  # heh goal with hamza above -> heh
        0x0649: "\u064a",  # alef maksura -> yeh
        0x06CC: "\u064a",  # Farsi yeh -> yeh
        0x06D2: "\u064a",  # yeh barree -> yeh
        0x06A9: "\u0643",  # keheh (Persian kaf) -> kaf
        0x0640: None,  # tatweel (kashida): stretches a word, is no letter
        0x200C: None,  # zero-width non-joiner: inside a Persian word, which stays one word
        0x200D: None,  # zero-width joiner
    }
)
_TRANS.update({0x0660 + d: str(d) for d in range(10)})  # Arabic-Indic digits
_TRANS.update({0x06F0 + d: str(d) for d in range(10)})  # Persian (extended) digits

# No pattern here can backtrack without bound over the text (each comment says why), so a
# search reads every character a bounded number of times.
# A literal, then fixed width: O(1) at each "'".
_POSSESSIVE = re.compile(r"'[sS]\b")
# One class repeated: a match takes the whole run and never gives it back; O(1) elsewhere.
_TOKEN = re.compile(r"[^\W_]+")
_SPLIT_TOKENS = re.compile(r"([^\W_]+)")  # _TOKEN, kept by re.split; the same
_ASCII_TOKEN = re.compile(r"([A-Za-z0-9]+)")  # _SPLIT_TOKENS in ASCII text, faster; the same
# An apostrophe, or one and the "s" of a possessive: what _chunk_tokens drops. O(1) per position.
_APOSTROPHE = re.compile(r"'(?:[sS]\b)?")
_SPACE = re.compile(r"\s")  # one character: O(1) per position
# Two newlines with only non-newline spaces between: the spaces after a newline are read once
# from that newline (and, when no newline follows them, given back once): O(len).
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# A sentence end: a run of punctuation (no letter, digit or space) that holds a ".", "!",
# "?", an Arabic question mark or an Arabic full stop and is followed by whitespace. This
# is the same test as ``[.!?][^\w\s]*\s`` (a terminal, more punctuation, whitespace), but
# anchored at the start of the run by the look-behind and possessive (``*+`` gives nothing
# back), so a run is read once: O(len), where the plain pattern restarted at every dot of
# a run, O(len²) (40,000 dots: minutes).
_TERMINALS = ".!?\u061f\u06d4"  # . ! ? and the Arabic question mark and full stop
_SENTENCE_END = re.compile(rf"(?<![^\w\s])[^\w\s{_TERMINALS}]*+[{_TERMINALS}][^\w\s]*+(?=\s)")
MAX_WHOLE = 256  # longest chunk checked against its normalisation as a whole (see below)
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


class _CharTable(dict[int, str | None]):
    """A ``str.translate`` table that computes each character's entry on first use and keeps
    at most ``_TABLE_SIZE`` of them (then it computes the others every time)."""

    def __init__(self, entry: Callable[[str], str]) -> None:
        super().__init__()
        self.entry = entry

    def __missing__(self, code: int) -> str:
        value = self.entry(chr(code))
        if len(self) < _TABLE_SIZE:
            self[code] = value
        return value


_TABLE_SIZE: Final = 1 << 16
# Case folding and accent stripping both work one character at a time (canonical reordering
# only moves the combining marks that are then dropped), so a whole token folds through one
# table: ``_FOLD`` gives ``_strip_marks(token.casefold())``.
_FOLD = _CharTable(lambda ch: _strip_marks(ch.casefold()))


def fold(token: str) -> str:
    """The case-insensitive form of one exact token."""
    return token.lower() if token.isascii() else token.translate(_FOLD)


@lru_cache(maxsize=1 << 16)
def _normal_char(ch: str) -> str:
    """One character normalised on its own: ``é`` is ``e``, ``…`` is ``...``, a combining
    mark is nothing."""
    return _normalise(ch)


# The fast path. Normalising a text is normalising its characters one by one, except where
# NFKC composes a character with the one before it. NFKC only does that to a character
# whose decomposition starts with a combining mark or with one of the few letters (Hangul
# vowels and final consonants, some Indic and Myanmar vowel signs) that compose with the
# letter before them. None of those letters is in these blocks, and of their combining
# marks only _COMPOSING_MARKS compose (``tests/match/test_fast_path.py`` checks both against
# the Unicode data): Latin, Greek, Cyrillic, Hebrew, Arabic, punctuation, kana, CJK
# ideographs, the Arabic presentation forms and the full-width forms. Any other combining
# mark (the harakat, the Hebrew points) is dropped, and changes nothing around it: canonical
# reordering only moves it before a mark of a higher class, which it then does not block.
_FAST_BLOCKS: Final = (
    (0x0000, 0x02FF),
    (0x0370, 0x052F),
    (0x0590, 0x06FF),
    (0x0750, 0x077F),
    (0x08A0, 0x08FF),
    (0x1E00, 0x1FFF),
    (0x2000, 0x206F),
    (0x3000, 0x30FF),
    (0x4E00, 0x9FFF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
    (0xFF00, 0xFFEF),
)
# Madda, hamza above and below (أ is ا with U+0654), the kana voicing marks (ガ is カ U+3099).
_COMPOSING_MARKS: Final = frozenset([0x0653, 0x0654, 0x0655, 0x3099, 0x309A])


def _in_fast_blocks(ch: str) -> bool:
    return any(first <= ord(ch) <= last for first, last in _FAST_BLOCKS)


def _fast(ch: str) -> bool:
    """Whether ``ch`` normalises to at most one character, whatever comes before or after,
    and that character normalises to itself (so replacing one character after another gives
    what replacing them all at once does: ``ۓ`` is ``ے``, which is ``ي``, is not)."""
    if ch.isspace():
        return False
    if unicodedata.combining(ch):
        return not unicodedata.decomposition(ch) and ord(ch) not in _COMPOSING_MARKS
    if not unicodedata.decomposition(ch):
        return True  # NFKC and NFKD keep it, _TRANS maps it to a character that stays
    lead = unicodedata.normalize("NFKD", ch)[0]
    normal = _normal_char(ch)
    return (
        _in_fast_blocks(lead)
        and not unicodedata.combining(lead)
        and len(normal) <= 1
        and _normal_char(normal) == normal
    )


def _char_class(codes: list[int]) -> str:
    """A regex character class body for ascending code points, as ranges."""
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


# A character outside the fast path (nor a space): the run of non-space characters around
# it is normalised character by character (_chunk_tokens). One character: O(1) per position.
_FAST_CHARS: Final = [c for a, b in _FAST_BLOCKS for c in range(a, b + 1) if _fast(chr(c))]
_SLOW = re.compile(f"[^\\s{_char_class(_FAST_CHARS)}]")
# Characters of the fast path that decompose (the others are left alone by NFKC and NFKD).
_DECOMPOSING: Final = [c for c in _FAST_CHARS if unicodedata.decomposition(chr(c))]
# A character of the fast path that normalisation changes (to one character or none).
_CHANGED_CODES: Final = sorted(
    {
        *_TRANS,
        *(c for c in _DECOMPOSING if _normal_char(chr(c)) != chr(c)),
        *(c for c in _FAST_CHARS if unicodedata.combining(chr(c))),
    }
)
_CHANGED = re.compile(f"[{_char_class(_CHANGED_CODES)}]")
# A character of the fast path that normalises to nothing: a combining mark, the tatweel, a
# zero-width (non-)joiner, a soft hyphen...
_GONE_CODES: Final = [c for c in _CHANGED_CODES if not _normal_char(chr(c))]
_GONE = re.compile(f"[{_char_class(_GONE_CODES)}]")
# A combining mark of the fast path; a run of them, which a word's span takes in after it.
_MARK = re.compile(f"[{_char_class([c for c in _GONE_CODES if unicodedata.combining(chr(c))])}]")
_MARKS = re.compile(f"{_MARK.pattern}*")


def _folds_further(code: int) -> bool:
    """Whether a normalised character folds into more than ``str.casefold`` gives."""
    folded = chr(code).casefold()
    return folded != chr(code) and _strip_marks(folded) != folded


# A character of the fast path's normalised text (see _folds_further).
_FOLD_MORE = re.compile(
    "["
    + _char_class(
        sorted(
            code
            for code in {
                *_FAST_CHARS,
                *(ord(v) for v in _TRANS.values() if v),
                *(ord(n) for n in map(_normal_char, map(chr, _DECOMPOSING)) if n),
            }
            if _folds_further(code)
        )
    )
    + "]"
)


def _chunk_tokens(chunk: str, base: int, out: Tokens) -> None:
    """Tokens of one run of non-space characters that starts at offset ``base``.

    The chunk is normalised character by character, so that every output character knows
    the input character it came from; that is the normalisation of the whole chunk, as
    accents are stripped and composition only ever joins a letter and its accents. A
    short chunk is checked and, should it ever differ, normalised whole, every token then
    spanning the whole chunk (not a long one: overlapping spans are sliced again for every
    token, and normalising a long run of combining marks whole takes time that grows with
    the square of its length).
    """
    pieces = list(map(_normal_char, chunk))  # C loops over a cache: fast on huge chunks
    text = "".join(pieces)
    ends: array[int] | None = None  # None: text[i] came from chunk[i]
    marks = b""  # with ends: 1 where chunk has a combining mark, else 0
    whole = False
    if len(chunk) <= MAX_WHOLE and text != (normal := _normalise(chunk)):
        text, whole = normal, True
    elif len(text) != len(chunk) or "" in pieces:
        ends = array("q", accumulate(map(len, pieces)))  # text[ends[i - 1]:ends[i]]: chunk[i]
        marks = bytes(map(bool, map(unicodedata.combining, chunk)))
    keep: list[int] | None = None  # None: reduced[i] is text[i]
    reduced = text
    if "'" in text:
        dropped = {i for m in _POSSESSIVE.finditer(text) for i in range(m.start(), m.end())}
        keep = [i for i, ch in enumerate(text) if ch != "'" and i not in dropped]
        reduced = "".join([text[i] for i in keep])
    for m in _TOKEN.finditer(reduced):
        first, last = m.start(), m.end() - 1
        if keep is not None:
            first, last = keep[first], keep[last]
        if whole:
            start, end = 0, len(chunk)
        elif ends is None:
            start, end = first, last + 1
        else:
            start, end = bisect_right(ends, first), bisect_right(ends, last) + 1
            end = stop if (stop := marks.find(0, end)) >= 0 else len(chunk)  # and its accents
        out.exact.append(m.group())
        out.folded.append(fold(m.group()))
        out.spans.append((base + start, base + end))


def tokenize(text: str) -> Tokens:
    """Split ``text`` into normalised tokens with their character offsets."""
    out = Tokens([], [], [])
    pos = 0
    while (m := _SLOW.search(text, pos)) is not None:
        start = m.start()
        while start > pos and not text[start - 1].isspace():  # back to the chunk's start
            start -= 1
        space = _SPACE.search(text, m.end())
        end = space.start() if space else len(text)
        _fast_tokens(text, pos, start, out)
        _chunk_tokens(text[start:end], start, out)
        pos = end
    _fast_tokens(text, pos, len(text), out)
    return out


def _fast_tokens(text: str, start: int, end: int, out: Tokens) -> None:
    """Tokens of a stretch of text whose characters each normalise to at most one character
    whatever their neighbours: what ``_chunk_tokens`` gives for each of its chunks, in C loops
    over the whole stretch."""
    if start == end:
        return
    stretch = text if start == 0 and end == len(text) else text[start:end]
    normal = stretch
    if not stretch.isascii() or "`" in stretch:
        for ch in set(_CHANGED.findall(stretch)):  # a handful of distinct characters
            normal = normal.replace(ch, _normal_char(ch))
    # Curly apostrophes, dashes and accented letters normalise to ASCII: English text mostly
    # is ASCII once normalised, and ASCII text splits and folds faster.
    ascii = normal.isascii()
    gone = _cut_at(_GONE.finditer(stretch), start) if len(normal) < len(stretch) else []
    cuts: list[int] = []
    if "'" in normal:
        cuts = _cut_at(_APOSTROPHE.finditer(normal), start)
        normal = _APOSTROPHE.sub("", normal)
    # [gap, token, gap, token, ..., gap]: the running sum of the lengths gives the offsets
    parts = (_ASCII_TOKEN if ascii else _SPLIT_TOKENS).split(normal)
    exact = parts[1::2]
    if not exact:
        return
    out.exact.extend(exact)
    joined = "\0".join(exact)
    if ascii or not _FOLD_MORE.search(joined):
        out.folded.extend(joined.casefold().split("\0"))
    else:
        out.folded.extend(joined.translate(_FOLD).split("\0"))
    offsets = list(accumulate(map(len, parts), initial=start))
    firsts, ends = offsets[1:-1:2], offsets[2::2]
    for cut in (cuts, gone):  # back from the tokens' text to normal, then to stretch
        firsts, ends = _uncut(firsts, cut), _uncut(ends, cut, ends=True)
    if gone and _MARK.search(stretch):  # a word takes in the combining marks after it
        ends = [_MARKS.match(text, i, end).end() for i in ends]  # type: ignore[union-attr]
    out.spans.extend(zip(firsts, ends, strict=True))


def _cut_at(removed: Iterator[re.Match[str]], base: int) -> list[int]:
    """Where the matched characters were cut from a text that starts at offset ``base``, as
    offsets in what is left."""
    positions = [i for m in removed for i in range(m.start(), m.end())]
    return [base + i - k for k, i in enumerate(positions)]


def _uncut(positions: list[int], cut: list[int], ends: bool = False) -> list[int]:
    """Ascending offsets in a text after ``cut`` (see _cut_at), in the text before it: each
    moves up by the number of cuts at or before it; with ``ends`` (offsets just past a
    token), by the number of cuts before it."""
    if not cut:
        return positions
    steps = [0] * (len(positions) + 1)
    find = bisect_right if ends else bisect_left
    for i in cut:
        steps[find(positions, i)] += 1
    return list(map(add, positions, accumulate(steps)))


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
    (``Mr.``, ``Sept.``, ``Inc.``; see ``ABBREVIATIONS``). Each gap between two tokens is
    read a bounded number of times, so this is linear in the length of the text.
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
