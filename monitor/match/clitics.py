"""Arabic proclitics: the forms a word takes with "and", "so", "with", "like", "for" and "the".

Arabic writes these as letters joined to the front of the next word: و ("and"), ف ("so"),
then one of ب ("with", "in"), ك ("like"), ل ("for", "to"), then the article ال. A reader
sees وبالقاعدة ("and with al-Qaida") as one word, so the tokenizer keeps it one token and
the rules look for it instead: a rule word, phrase, prefix or alias whose first word is in
Arabic script also matches that word with any of these attached, in that order. ``exact``
aliases opt out (they match only as written).

- The article is added only where the word has none: ايران also matches الايران, but a word
  that starts with ال is not matched without it (القاعده does not match قاعده).
- ل before the article drops its alef: ل + القاعده is للقاعده (and ل + ال + X is للX).
- The forms are exact words: ايران matches وايران and بالايران, never الايرانيه ("Iranian")
  nor any other word that merely starts with ال or a proclitic.

The words given are folded (``tokens.query_tokens``), so the forms are folded too: the
alef of الإيرانية is a bare alef and the taa marbuta a heh. Lucene's ArabicStemmer strips
the same prefixes from the text; here the text is left as written and the forms go into the
rules' term dictionary, so an article costs nothing more to scan.
"""

from __future__ import annotations

from functools import lru_cache

CONJUNCTIONS = ("", "\u0648", "\u0641")  # none, wa "and", fa "so"
PREPOSITIONS = ("", "\u0628", "\u0643", "\u0644")  # none, bi "with", ka "like", li "for"
ARTICLE = "\u0627\u0644"  # al "the"
LAM = "\u0644"


def is_arabic_word(token: str) -> bool:
    """Whether a folded token is a word in Arabic script (Arabic, Persian, Urdu letters)."""
    return bool(token) and all("\u0620" <= ch <= "\u06ff" for ch in token)


@lru_cache(maxsize=1 << 12)
def clitic_forms(word: str) -> tuple[str, ...]:
    """Every written form of a folded Arabic word with proclitics, the word itself first.

    A word not in Arabic script, or of a single letter, has only itself.
    """
    if len(word) < 2 or not is_arabic_word(word):
        return (word,)
    stems = (word,) if word.startswith(ARTICLE) else (word, ARTICLE + word)
    out: dict[str, None] = {}
    for conjunction in CONJUNCTIONS:
        for preposition in PREPOSITIONS:
            for stem in stems:
                if preposition == LAM and stem.startswith(ARTICLE) and len(stem) > len(ARTICLE):
                    stem = stem[1:]  # ل + ال: the alef is not written (للقاعده)
                out[conjunction + preposition + stem] = None
    return tuple(out)


def written_forms(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The token sequences a folded word, phrase or alias stands for in text: the
    proclitic forms of its first word (``clitic_forms``) followed by the rest."""
    if not tokens:
        return (tokens,)
    rest = tokens[1:]
    return tuple((form, *rest) for form in clitic_forms(tokens[0]))
