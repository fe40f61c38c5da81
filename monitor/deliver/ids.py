"""Stable alert identities."""

from __future__ import annotations

import base64
import hashlib


def alert_id(article_key: str, channel: str) -> str:
    """`msg_` + 32 base32 characters of sha256(article, channel): the same on every resend.

    Receivers use it to deduplicate: it is the Standard Webhooks `webhook-id`, the mail
    `Message-ID` local part and `X-News-Monitor-Alert-Id`.
    """
    digest = hashlib.sha256(f"{article_key}\x00{channel}".encode()).digest()[:20]
    return "msg_" + base64.b32encode(digest).decode("ascii").lower()
