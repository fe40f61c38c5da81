"""Text written by strangers, made safe to show to the people who read it.

Feed titles, article text, rule terms found in it and error text quoted from servers may
carry characters that act instead of showing:

- C0 and C1 control characters (U+0000-U+001F, U+007F-U+009F): CR/LF split a mail header or
  a JSON Lines record, ESC starts a terminal escape sequence (one cleared the screen);
- bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder what
  follows them ("Trojan Source"); plain direction marks (U+200E, U+200F, U+061C) are text
  and kept;
- U+2028 and U+2029, line and paragraph separators many readers split lines at;
- lone surrogates (U+D800-U+DFFF), which a JSON Feed can carry as ``"\\ud800"`` and which no
  UTF-8 encoder accepts: a payload holding one could never be sent.

`neutralize` replaces each with one character (a space; U+FFFD for a surrogate), so offsets
into the text (snippet highlights) stay valid; `clean_line` makes one tidy, bounded line;
`escape_unsafe` writes each as a ``\\uXXXX`` escape instead, for terminals: the reader sees
that something was there, and JSON printed through it stays valid JSON (these characters
can only occur inside its strings, where ``\\uXXXX`` is their escape).
"""

from __future__ import annotations

import re
import unicodedata

TITLE_LIMIT = 200

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
# One character class, no repetition: each match is one character, so search and sub are
# a single linear pass (nothing to backtrack over).
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}\ud800-\udfff]")
# The same without LF, for text that is several lines by design.
_UNSAFE_KEEP_LF = re.compile(
    f"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}\ud800-\udfff]"
)
# A run of whitespace, one class with a greedy `+`: the run ends at the first character
# outside the class and the match never backtracks into it.
_SPACES = re.compile(r"\s+")


def _blank(match: re.Match[str]) -> str:
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else " "


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def is_clean(text: str) -> bool:
    """Whether `text` has none of the characters `neutralize` replaces."""
    return _UNSAFE.search(text) is None


def neutralize(text: str) -> str:
    """Each control, bidi-control, separator or lone-surrogate character replaced by one
    character, so every offset into `text` stays valid."""
    return text if _UNSAFE.search(text) is None else _UNSAFE.sub(_blank, text)


def clean_line(text: str, limit: int = TITLE_LIMIT) -> str:
    """One safe line: NFC, neutralized, whitespace collapsed, at most `limit` characters.

    The text is cut (generously) before it is normalised: NFC sorts a run of combining
    marks by insertion, quadratic in the run's length, and a title can be all marks."""
    line = _SPACES.sub(" ", neutralize(text)).strip()[: limit * 4]
    line = unicodedata.normalize("NFC", line)
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def escape_unsafe(text: str, *, keep_newlines: bool = False) -> str:
    """Each unsafe character as a visible ``\\uXXXX`` escape (LF kept if `keep_newlines`)."""
    pattern = _UNSAFE_KEEP_LF if keep_newlines else _UNSAFE
    return text if pattern.search(text) is None else pattern.sub(_escape, text)
