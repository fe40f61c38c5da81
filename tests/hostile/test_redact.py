"""Credentials never survive `redact`: URL userinfo, token-like query values, configured
secrets; and the scan stays linear on hostile text."""

from __future__ import annotations

import time

import pytest

from monitor import redact


@pytest.fixture(autouse=True)
def _no_secrets() -> None:
    redact.forget_secrets()


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("cannot connect: http://ed:hunter2@feeds.example/rss", "hunter2", "feeds.example/rss"),
        ("https://user@feeds.example:8443/x", "user@", "feeds.example:8443/x"),
        ("GET https://api.example/feed?format=rss&api_key=s3cr3t#top", "s3cr3t", "format=rss"),
        ("a (http://u:p@x.example) b", "u:p", "x.example) b"),
        ("ftp://anon:pw123@files.example/", "pw123", "files.example"),
        ("https://b.s3.example/o?X-Amz-Signature=f00dfeed&v=2", "f00dfeed", "v=2"),
        ("<a href='https://x.example/?a=1&amp;token=t0k3n'>", "t0k3n", "a=1&amp;token="),
    ],
)
def test_redact_hides_url_credentials(text: str, hidden: str, kept: str) -> None:
    out = redact.redact(text)
    assert hidden not in out
    assert kept in out
    assert redact.MASK in out


def test_redact_hides_registered_secrets_anywhere() -> None:
    redact.register_secrets(["whsec_c2VjcmV0LXZhbHVl", None, "pw"])
    out = redact.redact("signing with whsec_c2VjcmV0LXZhbHVl failed; pw is too short to mask")
    assert "whsec_c2VjcmV0LXZhbHVl" not in out
    assert "pw is too short" in out


def test_url_origin_drops_path_tokens_and_userinfo() -> None:
    url = "https://bot:tok@hooks.chat.example/services/T000/B000/XXXXSECRET?x=1"
    assert redact.url_origin(url) == "https://hooks.chat.example/…"
    assert redact.url_origin("not a url") == redact.MASK


def test_redact_is_linear_on_hostile_text() -> None:
    texts = ["a" * 400_000 + "://", "://" * 200_000, "http://" + "@" * 400_000]
    started = time.perf_counter()
    for text in texts:
        redact.redact(text)
    assert time.perf_counter() - started < 2.0
