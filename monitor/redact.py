"""Keep credentials out of everything an operator or an editor reads.

Secrets reach strings that are logged, stored or printed in two ways:

- inside a URL: its userinfo (``http://user:pw@host/feed``) and query values whose names say
  they are credentials (``?token=…``, ``&api_key=…``);
- as values read from the environment or ``$CREDENTIALS_DIRECTORY`` (SMTP passwords, webhook
  secrets, Apprise URLs, feed basic auth), which configuration loading registers here.

`redact(text)` removes both from any text (log lines, stored errors, notices, status);
`redact_url(url)` does it for one URL; `url_origin(url)` keeps only scheme, host and port,
for URLs whose path itself may be a token (chat webhooks). Every scan is linear in the
length of the text: no regular expression here can backtrack.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "<redacted>"
MIN_SECRET_CHARS = 6  # shorter registered values would mask ordinary words
# compared lower-case, with "-" read as "_"
_SECRET_PARAMS = frozenset(
    {
        "access_token", "api_key", "apikey", "auth", "auth_token", "client_secret", "code",
        "key", "pass", "passwd", "password", "private_token", "pwd", "secret", "sig",
        "signature", "sessionid", "session", "token", "x_amz_signature", "x_amz_credential",
    }
)  # fmt: skip
_AUTHORITY_END = frozenset("/?#")
_URL_END = frozenset(" \t\r\n\"'<>()[]{}`")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember configured secret values so `redact` masks them wherever they appear."""
    global _secrets
    new = {v for v in values if v and len(v) >= MIN_SECRET_CHARS}
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | new, key=len, reverse=True))


def forget_secrets() -> None:
    """Drop every registered value (tests, and a reload that no longer has them)."""
    global _secrets
    with _lock:
        _secrets = ()


def redact(text: str) -> str:
    """`text` with URL credentials and registered secret values replaced by ``<redacted>``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" not in text:
        return text
    out: list[str] = []
    pos = 0
    while (mark := text.find("://", pos)) != -1:
        end = mark + 3
        while end < len(text) and text[end] not in _URL_END:
            end += 1
        start = mark
        while start > pos and (text[start - 1].isalnum() or text[start - 1] in "+.-"):
            start -= 1
        out.append(text[pos:start])
        out.append(redact_url(text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_url(url: str) -> str:
    """One URL without its userinfo and without the values of credential-like query
    parameters; anything that is not a URL comes back unchanged."""
    scheme_end = url.find("://")
    if scheme_end == -1:
        return url
    authority_start = scheme_end + 3
    authority_end = authority_start
    while authority_end < len(url) and url[authority_end] not in _AUTHORITY_END:
        authority_end += 1
    authority = url[authority_start:authority_end]
    at = authority.rfind("@")
    if at != -1:
        authority = MASK + authority[at:]
    rest = url[authority_end:]
    query_start = rest.find("?")
    if query_start != -1:
        fragment_start = rest.find("#", query_start)
        if fragment_start == -1:
            fragment_start = len(rest)
        query = rest[query_start + 1 : fragment_start]
        rest = rest[: query_start + 1] + _redact_query(query) + rest[fragment_start:]
    return url[:authority_start] + authority + rest


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        # "&amp;token=" (a URL copied out of HTML) names "amp;token": the name is after ";"
        key = name.rpartition(";")[2].lower().replace("-", "_")
        if eq and key in _SECRET_PARAMS:
            part = f"{name}={MASK}"
        parts.append(part)
    return "&".join(parts)


def url_origin(url: str) -> str:
    """``scheme://host[:port]/…``: enough to tell which endpoint, nothing that authorises."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    host = f"[{host}]" if ":" in host else host
    tail = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{tail}"
