"""Auth, CSRF and the safety headers, over plain HTTP against the real server."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import Inbox, start, stop

TOKEN = "s3cret-token-for-the-desk-0123456789"


@pytest.fixture(scope="module")
def guarded(seeded: tuple[Path, str]) -> Iterator[str]:
    config, db = seeded
    proc, url = start(config, db, "--listen", "127.0.0.1:0", env={"MONITOR_WEB_TOKEN": TOKEN})
    try:
        yield url
    finally:
        stop(proc)


def csrf_of(client: httpx.Client, url: str) -> str:
    page = client.get(url)
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, page.text[:500]
    return m.group(1)


def test_every_page_has_a_strict_policy_and_no_sniffing(inbox: Inbox) -> None:
    for path in ("", "search?q=tehran", "rules", "try", "article/art0"):
        r = httpx.get(inbox.url + path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp  # no script is allowed from anywhere
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(inbox: Inbox) -> None:
    with httpx.Client() as client:
        token = csrf_of(client, inbox.url)
        form = {"article": "art1", "rule": "iran-watch", "verdict": "useful", "next": "/"}
        assert client.post(inbox.url + "feedback", data=form).status_code == 403
        wrong = {**form, "csrf": token[:-1] + ("A" if token[-1] != "A" else "B")}
        assert client.post(inbox.url + "feedback", data=wrong).status_code == 403
        other = httpx.post(inbox.url + "feedback", data={**form, "csrf": token})  # no cookie
        assert other.status_code == 403
        ok = client.post(inbox.url + "feedback", data={**form, "csrf": token})
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        away = client.post(
            inbox.url + "feedback", data={**form, "csrf": token, "next": "//evil.example/"}
        )
        assert away.headers["location"] == "/"  # never redirected to another site


def test_without_auth_only_a_loopback_host_name_is_answered(inbox: Inbox) -> None:
    """A page on another site cannot reach the inbox through DNS rebinding."""
    r = httpx.get(inbox.url, headers={"host": "rebind.evil.example"})
    assert r.status_code == 421


def test_with_a_token_requests_without_it_or_with_a_wrong_one_are_refused(guarded: str) -> None:
    assert httpx.get(guarded).status_code == 303  # to the sign-in page
    assert httpx.get(guarded + "search?q=tehran").headers["location"] == "/login"
    bad = {"authorization": "Bearer " + TOKEN[:-1] + "x"}
    assert httpx.get(guarded, headers=bad).status_code == 401
    assert httpx.get(guarded, cookies={"monitor_session": "0" * 64}).status_code == 303
    assert httpx.post(guarded + "feedback", data={"article": "art1"}).status_code == 401
    good = httpx.get(guarded + "search?q=tehran", headers={"authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200 and "Tehran" in good.text


def test_signing_in_with_the_token_opens_a_session(guarded: str) -> None:
    with httpx.Client() as client:
        token = csrf_of(client, guarded + "login")
        wrong = client.post(guarded + "login", data={"csrf": token, "token": "nope"})
        assert wrong.status_code == 403 and "monitor_session" not in client.cookies
        assert client.post(guarded + "login", data={"token": TOKEN}).status_code == 403  # no csrf
        ok = client.post(guarded + "login", data={"csrf": token, "token": TOKEN})
        assert ok.status_code == 303
        assert client.get(guarded).status_code == 200


def run_web(
    seeded: tuple[Path, str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    config, db = seeded
    clean = {k: v for k, v in __import__("os").environ.items() if k != "MONITOR_WEB_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "web", "--config-dir", str(config), "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
    )


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "example.org:0"])
def test_it_refuses_to_listen_beyond_loopback_without_authentication(
    seeded: tuple[Path, str], listen: str
) -> None:
    result = run_web(seeded, "--listen", listen)
    assert result.returncode == 78
    assert "only with authentication" in result.stderr and "MONITOR_WEB_TOKEN" in result.stderr


def test_a_short_token_is_refused(seeded: tuple[Path, str]) -> None:
    result = run_web(seeded, "--listen", "0.0.0.0:0", env={"MONITOR_WEB_TOKEN": "short"})
    assert result.returncode == 78 and "too short" in result.stderr


def test_a_proxy_header_is_believed_only_from_the_proxy(seeded: tuple[Path, str]) -> None:
    config, db = seeded
    proc, url = start(
        config, db, "--listen", "127.0.0.1:0", "--proxy-header", "X-Remote-User",
        "--proxy-from", "192.0.2.0/24",
    )  # fmt: skip
    try:  # we connect from 127.0.0.1, which is not the proxy
        assert httpx.get(url + "rules", headers={"x-remote-user": "ana"}).status_code == 303
    finally:
        stop(proc)
    proc, url = start(config, db, "--listen", "127.0.0.1:0", "--proxy-header", "X-Remote-User")
    try:
        assert httpx.get(url + "rules").status_code == 303
        assert httpx.get(url + "rules", headers={"x-remote-user": "ana"}).status_code == 200
    finally:
        stop(proc)
