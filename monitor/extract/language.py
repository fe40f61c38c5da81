"""The article's language as a lower-case ISO 639 code ("en", "fr", "ru"): the page's own
declaration when it makes one, else a guess from the text by py3langid (loaded on first use)."""

from __future__ import annotations

import re

_CODE = re.compile(r"[a-z]{2,3}")  # fullmatched, at most 3 characters
_MIN_DETECT_CHARS = 40  # below this a guess is noise
_SAMPLE_CHARS = 1000  # enough for a confident guess; the cost grows with the sample


def normalize(tag: str | None) -> str | None:
    """The primary subtag of a language tag ("en-US", "en_GB", "EN" -> "en"); None if invalid."""
    if not tag:
        return None
    primary = re.split(r"[-_\s,;]", tag.strip().lower(), maxsplit=1)[0]  # one class: linear
    return primary if _CODE.fullmatch(primary) else None


def detect(text: str) -> str | None:
    """py3langid's guess for `text`, or None when there is too little text to tell."""
    sample = text[:_SAMPLE_CHARS]
    if len(sample.strip()) < _MIN_DETECT_CHARS:
        return None
    import py3langid  # deferred: loading the model takes about a second

    code, _score = py3langid.classify(sample)
    return normalize(str(code))


def article_language(declared: str | None, text: str) -> str | None:
    return normalize(declared) or detect(text)
