"""Links written by strangers (feed entries, canonical links, og:url, images), resolved
against their base into an absolute http(s) URL, or None when they cannot be one.

A link is kept only if it is (or resolves to) `http`/`https` with a host, a port that
exists (1-65535, or none), at most MAX_LINK_CHARS characters and no control, format
(bidi, zero-width) or line-separator characters. Everything else - `http://[x/`, port
99999, a NUL byte, `javascript:`, a relative link without a usable base - is None, so the
item is matched on the feed's own text instead. Whether the host may be fetched is not
decided here: fetching checks the address.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import SplitResult, urljoin, urlsplit

MAX_LINK_CHARS = 8192  # longer URLs are refused by most servers (414)
_SCHEMES = frozenset({"http", "https"})
_WHITESPACE = "\t\n\f\r "  # what browsers strip around a link (WHATWG "ASCII whitespace")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def resolve_link(link: str | None, base: str | None = None) -> str | None:
    """`link` made absolute against `base`, or None if the result is not a usable web URL."""
    if not link:
        return None
    link = link.strip(_WHITESPACE)
    if not link or len(link) > MAX_LINK_CHARS or not _printable(link):
        return None
    try:
        if urlsplit(link).scheme:
            absolute = link
        elif base:
            absolute = urljoin(base, link)
        else:
            return None
        parts = urlsplit(absolute)
    except ValueError:  # an unbalanced "[" in the host, in the link or in its base
        return None
    if not _usable(parts) or len(absolute) > MAX_LINK_CHARS or not _printable(absolute):
        return None
    return absolute


def _printable(text: str) -> bool:
    if text.isascii():
        return text.isprintable()
    return not any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def _usable(parts: SplitResult) -> bool:
    if parts.scheme.lower() not in _SCHEMES:
        return False
    try:
        port = parts.port  # ValueError: not a number or above 65535
    except ValueError:
        return False
    if port == 0:
        return False
    host = parts.hostname
    if not host or any(c in host for c in _WHITESPACE):
        return False
    try:
        host.encode("idna")
    except UnicodeError:  # an empty or over-long label, or characters IDNA refuses
        return False
    return True
