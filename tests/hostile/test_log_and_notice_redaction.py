"""No credential reaches a log line or an operator notice: URL userinfo, credential-like
query values and registered secrets are gone, the host that tells the operator which
endpoint failed stays."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import redact
from monitor.notices import THRESHOLD, Notices
from monitor.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "S3cretPw42"
REGISTERED = "smtp-Pa55phrase"  # as configuration loading registers a password_env value
TOKEN = "QryTok77"
FAILING_URL = f"https://editor:{PASSWORD}@feeds.example/rss?format=xml&token={TOKEN}"
SECRETS = (PASSWORD, REGISTERED, TOKEN, "editor:")

LOGGING_SCRIPT = textwrap.dedent(
    f"""\
    import logging
    from monitor import redact
    from monitor.log import get_logger, setup_logging

    setup_logging("DEBUG")
    redact.register_secrets([{REGISTERED!r}])
    log = get_logger("monitor.test", feed="paid")
    url = {FAILING_URL!r}
    log.warning("feed_failed", error=f"{{url}}: HTTP 503", attempt=2)
    log.info("smtp_login", detail="AUTH with {REGISTERED} refused")
    log.warning("feed_failed", cause=ValueError(url))  # an object: its repr is printed
    log.warning("feed_failed", urls=[url, "https://ok.example/"])
    log.warning("config_loaded", password={REGISTERED!r}, secret="x", token="y")
    try:
        raise ConnectionError(f"cannot reach {{url}}")
    except ConnectionError:
        log.exception("poll_crashed")
        logging.getLogger("apscheduler.executors").exception("Job raised an exception")
    logging.getLogger("httpx").warning("GET %s failed with %s", url, {REGISTERED!r})
    """
)


def test_log_lines_never_show_a_credential(tmp_path: Path) -> None:
    """Structured events (strings, objects, rendered tracebacks) and library lines through
    the stdlib, all as the service prints them on stdout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("JOURNAL_STREAM", None)
    result = subprocess.run(
        [sys.executable, "-c", LOGGING_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    out = result.stdout + result.stderr
    lines = out.splitlines()
    assert sum("event='feed_failed'" in line for line in lines) == 3
    assert "Traceback" in out and "ConnectionError: cannot reach https://" in out
    assert "Job raised an exception" in out and "httpx GET https://" in out
    assert "password='<redacted>'" in out and "token='<redacted>'" in out
    # each of the six lines quoting the URL keeps its host, path and harmless query
    assert out.count("feeds.example/rss?format=xml&token=<redacted>") == 6
    assert [s for s in SECRETS if s in out] == []


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = open_store(db_url)
    redact.register_secrets([REGISTERED])
    yield store
    redact.forget_secrets()
    store.close()


def test_feed_notice_and_its_stored_error_are_redacted(store: Store) -> None:
    clock = iter(range(1_000, 2_000, 60))
    notices = Notices(store, "ops", clock=lambda: float(next(clock)))
    for _ in range(THRESHOLD):
        notices.feed_failed("paid", f"{FAILING_URL}: HTTP 401 (sent {REGISTERED})")
    stored = store.notice_state("feed:paid").last_error or ""
    [row] = store.outbox()
    for text in (stored, row.alert.title):
        assert "feeds.example/rss" in text and "HTTP 401" in text
        assert [s for s in SECRETS if s in text] == []
    assert row.alert.kind == "notice" and row.channel == "ops"


def test_channel_notice_is_redacted(store: Store) -> None:
    clock = iter(range(1_000, 2_000, 60))
    notices = Notices(store, "ops", clock=lambda: float(next(clock)))
    for _ in range(THRESHOLD):
        notices.channel_failed("desk", f"SMTP AUTH as desk with {REGISTERED} failed: 535")
    [row] = store.outbox()
    assert "SMTP AUTH as desk with <redacted> failed: 535" in row.alert.title
    assert REGISTERED not in (store.notice_state("channel:desk").last_error or "")
