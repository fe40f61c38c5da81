"""The tokenizer's fast path gives exactly the tokens and offsets of the per-character path.

``tokenize`` sends runs of text whose characters each normalise to at most one character,
whatever their neighbours, through a few C loops (``_fast_tokens``); every other chunk goes
through ``_chunk_tokens``, the per-character reference path. These tests compare the two on
random text from the scripts the regional press writes in, with the characters that make
normalisation hard mixed in, and check the Unicode facts the fast path rests on.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_reference import fold as reference_fold
from match_reference import normalise as reference_normalise
from match_reference import reference_tokenize

from monitor.match import tokens
from monitor.match.tokens import Tokens, fold, tokenize


def per_chunk(text: str) -> Tokens:
    """The reference path: every run of non-space characters through ``_chunk_tokens``."""
    out = Tokens([], [], [])
    for m in re.finditer(r"\S+", text):
        tokens._chunk_tokens(m.group(), m.start(), out)
    return out


ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي" + "أإآٱءؤئةى"
PERSIAN = "پچژگکیۀ" + "۰۱۲۳۴۵۶۷۸۹"
ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
HARAKAT = "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0653\u0654\u0655\u0670"
LATIN = "aeinosSzAEZ09éÉèçñßøłİıẒīğĞœǅﬁＡ"
COMBINING = "\u0301\u0300\u0308\u0327\u0307\u0345\u0316"
CYRILLIC_GREEK = "МоскваКремльЁёйЙΑθήναΣςσΐ"
CJK = "東京北京ガカ\u3099ｶﾞ가\u1100\u1161\u11a8"
JOINERS = "\u200c\u200d\u0640\u00ad\u200b\u200e\u200f"
PUNCTUATION = "'’‘`´-‐–—…،؛؟۔.,!?«»\"()½"
SPACES = [" ", " ", " ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "\x1c"]
PRESENTATION = "ﻻﺍﺎﺏﷲﳲﹱﻫ\u06d5\u06c1\u06c0\u06d3\u06d2\ufbb0\u05d0\u05b7ᾈ"

ALPHABET = st.sampled_from(
    [
        *ARABIC,
        *PERSIAN,
        *ARABIC_DIGITS,
        *HARAKAT,
        *LATIN,
        *COMBINING,
        *CYRILLIC_GREEK,
        *CJK,
        *JOINERS,
        *PUNCTUATION,
        *SPACES,
        *PRESENTATION,
        "'s",
        "’S",
        "e\u0301",
        "\u06d5\u0654",
        "\u0627\u0653",
    ]
)
TEXTS = st.lists(ALPHABET, max_size=60).map("".join)


def triple(t: Tokens) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    return t.exact, t.folded, t.spans


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
def test_fast_path_gives_the_tokens_and_offsets_of_the_per_character_path(text: str) -> None:
    assert triple(tokenize(text)) == triple(per_chunk(text))


@settings(max_examples=1500, deadline=None)
@given(TEXTS)
def test_same_tokens_as_the_first_tokenizer(text: str) -> None:
    """Against match_reference, whose normalisation and folding are written out whole. (Its
    offsets differ where a chunk normalises differently whole, as with U+06D5 U+0654: the
    per-character path then gives every token of the chunk the whole chunk.)"""
    t, r = tokenize(text), reference_tokenize(text)
    assert (t.exact, t.folded) == (r.exact, r.folded)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=40))
def test_any_text_at_all_gives_the_same_tokens_as_the_per_character_path(text: str) -> None:
    assert triple(tokenize(text)) == triple(per_chunk(text))


FAST = st.sampled_from(tokens._FAST_CHARS).map(chr)


@settings(max_examples=3000, deadline=None)
@given(st.characters(), FAST, FAST | st.sampled_from(SPACES))
def test_a_fast_character_normalises_the_same_whatever_its_neighbours(
    before: str, ch: str, after: str
) -> None:
    """What the fast path rests on: a fast character normalises on its own to what it
    becomes after any character, and before any fast one or a space (at most one
    character; its neighbours are not changed either)."""
    assert len(reference_normalise(ch)) <= 1
    whole = reference_normalise(before + ch + after)
    apart = reference_normalise(before) + reference_normalise(ch) + reference_normalise(after)
    assert whole == apart


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=30))
def test_folding_one_character_at_a_time_is_folding_the_whole(token: str) -> None:
    assert fold(token) == reference_fold(token)


def composition_seconds() -> set[int]:
    """The characters that canonical composition joins to the one before them."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    for code in range(0x110000):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            pair = "".join(chr(int(p, 16)) for p in parts)
            if unicodedata.normalize("NFC", pair) == chr(code):  # not excluded
                seconds.add(ord(pair[1]))
    return seconds


def test_of_the_fast_blocks_only_the_listed_marks_compose_with_the_character_before() -> None:
    inside = {c for c in composition_seconds() if any(a <= c <= b for a, b in tokens._FAST_BLOCKS)}
    assert inside == tokens._COMPOSING_MARKS
    assert all(unicodedata.combining(chr(c)) for c in inside)


def test_what_the_fast_path_replaces_it_does_not_replace_again() -> None:
    """The fast path replaces each character it changes, one after another, in the whole
    text: that must be replacing them all at once."""
    changed = {chr(c) for c in tokens._FAST_CHARS if tokens._CHANGED.fullmatch(chr(c))}
    assert "\u06d3" not in changed and "ی" in changed
    assert not [ch for ch in changed if tokens._CHANGED.fullmatch(tokens._normal_char(ch))]


def test_the_fast_path_takes_no_space_and_no_composing_mark() -> None:
    fast = {chr(c) for c in tokens._FAST_CHARS}
    assert not [ch for ch in fast if ch.isspace() or ord(ch) in tokens._COMPOSING_MARKS]
    assert {"\u0640", "\u200c", "ی", "é", "\u064e", "\u0651", "\u05b7"} <= fast


@pytest.mark.parametrize(
    "text",
    [
        "قالت وزارة الخارجية إن طهرانَ لم تتلقَّ أيَّ رد على رسالتها، وأضافت: «لا جديد».",
        "سخنگوی دولت روز یکشنبه گفت که ایران در سال ۱۴۰۲ هیچ\u200cگاه با القاعده همکاری نکرده است.",
        "أعلنت الحكومة عن ٣٥ إصابة في الهجوم على القاعدة الأميركية؟",
        "Москва заявила, что «переговоры» зашли в тупик.",
        "Η Αθήνα και η Άγκυρα συμφώνησαν.",
        "東京で会談、北京は反発。",
        "Le président a déclaré qu’il n’était « pas informé ».",
    ],
)
def test_other_scripts_take_the_fast_path(text: str) -> None:
    assert tokens._SLOW.search(text) is None
    assert triple(tokenize(text)) == triple(per_chunk(text))
