"""The CLI, run for real (subprocess), on a database, pages and rules holding hostile text:
nothing it prints can drive the terminal, JSON output stays valid (and lossless), a stored
newline cannot forge a line, and no credential is printed.

Terminal-safe means: the output is valid UTF-8 and holds no C0/C1 control character but
LF, no bidi embedding/override/isolate, no U+2028/2029. What was there is shown escaped
(ESC as the six characters \\u001b).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.extract import decode_html, extract_article
from monitor.models import Alert
from monitor.store import open_store
from tests.support.polling import record_failure
from tests.support.site import NewsSite, Resource

ROOT = Path(__file__).resolve().parents[2]
BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
UNSAFE = frozenset(
    [*range(0x00, 0x0A), *range(0x0B, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *BIDI]
)
# Every unsafe character SQLite and HTML can carry (a lone surrogate cannot be stored or
# served as UTF-8), plus the attacks made of them.
EVERY_UNSAFE = "".join(chr(c) for c in sorted(UNSAFE) if c)  # HTML parsers drop NUL
ATTACKS = "\x1b[2J\x1b[H\x1b]0;owned\x07\x9b31m\r\u202egnp.exe\u2066x\u2069\u2028"
PASSWORD = "S3cretPw42"


def hostile(word: str) -> str:
    return f"{word} {ATTACKS}{EVERY_UNSAFE} {word}"


def monitor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    environment = dict(env or os.environ, PYTHONPATH=str(ROOT))
    environment.pop("JOURNAL_STREAM", None)
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        env=environment,
        timeout=120,
        check=False,
    )


def terminal_safe(output: bytes) -> str:
    """The output decoded, after asserting nothing in it acts on a terminal."""
    text = output.decode("utf-8")  # strict: a lone surrogate would have failed to encode
    found = sorted({hex(ord(c)) for c in text if ord(c) in UNSAFE})
    assert not found, f"unsafe characters printed: {found}"
    return text


# --------------------------------------------------------------------------- database


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    """A state database as a hostile feed leaves it: a failing feed whose error quotes a
    URL with a password, alerts and attempts whose text carries escape sequences."""
    db = tmp_path / "monitor.db"
    store = open_store(db)
    now = time.time()
    record_failure(
        store,
        hostile("Feed"),
        "https://feeds.example/rss",
        error=f"https://editor:{PASSWORD}@feeds.example/rss: HTTP 503 {hostile('Busy')}",
        now=now,
        next_check=now + 60,
    )
    created = datetime.now(UTC)
    for n, title in enumerate([hostile("Headline"), "Quiet\n2026-01-01T00:00:00+00:00  FORGED"]):
        alert = Alert(
            id=f"msg_{n}",
            channel="desk",
            article_id=f"art_{n}",
            title=title,
            url=None,
            source=hostile("Source"),
            published=None,
            rules=(),
            created=created,
        )
        store.enqueue(alert, now=now + n)
    error = f"webhook answered HTTP 500 {hostile('Reason')} via http://u:{PASSWORD}@hooks.example/"
    store.mark_failed(["msg_0"], now=now, error=error, status_code=500)
    store.close()
    return db


def test_status_prints_hostile_feed_state_safely(hostile_db: Path) -> None:
    result = monitor("status", "--db", str(hostile_db))
    assert result.returncode == 0
    out = terminal_safe(result.stdout + result.stderr)
    [line] = [ln for ln in out.splitlines() if "FAILING" in ln]  # one feed, one line
    assert line.startswith("  Feed \\u001b[2J\\u001b[H") and "HTTP 503 Busy \\u001b[2J" in line
    assert PASSWORD not in out and "feeds.example/rss" in out


def test_deliveries_print_hostile_alerts_safely(hostile_db: Path) -> None:
    result = monitor("deliveries", "--db", str(hostile_db), "-v")
    assert result.returncode == 0
    out = terminal_safe(result.stdout + result.stderr)
    assert "msg_0  Headline \\u001b[2J\\u001b[H" in out
    assert "last error: webhook answered HTTP 500 Reason \\u001b[2J" in out
    assert PASSWORD not in out and "hooks.example" in out
    # a newline stored in a title is shown, not obeyed: no line of its own
    assert "Quiet\\u000a2026-01-01T00:00:00+00:00  FORGED" in out
    assert not any(
        line.startswith("2026-01-01T00:00:00+00:00  FORGED") for line in out.splitlines()
    )


# --------------------------------------------------------------------------- pages


def hostile_page() -> str:
    paragraphs = "".join(
        f"<p>Iran said oil exports {hostile('rose')} in paragraph {n}, officials said on Monday "
        "in a statement long enough to be article text.</p>"
        for n in range(6)
    )
    return (
        f"<html><head><title>{hostile('Title')}</title>"
        f"<meta name='author' content='{hostile('Author')}'>"
        "<link rel='canonical' href='https://news.example/a/\x1b[2J'></head>"
        f"<body><article><h1>{hostile('Title')}</h1>{paragraphs}</article></body></html>"
    )


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.html"
    path.write_text(hostile_page(), encoding="utf-8")
    return path


def test_extract_text_output_is_safe(page: Path) -> None:
    result = monitor("extract", str(page))
    assert result.returncode == 0
    out = terminal_safe(result.stdout + result.stderr)
    [title] = [ln for ln in out.splitlines() if ln.startswith("title:")]
    assert "Title \\u001b[2J" in title
    assert "Iran said oil exports rose \\u001b[2J" in out  # the body, shown escaped


def test_extract_json_is_valid_and_lossless(page: Path) -> None:
    result = monitor("extract", "--json", str(page))
    assert result.returncode == 0
    record = json.loads(terminal_safe(result.stdout))
    article = extract_article(decode_html(page.read_bytes(), None), None)
    assert record["title"] == article.title and "\u202e" in record["title"]
    assert record["text"] == article.text


def test_extract_from_a_url_is_safe(tmp_path: Path) -> None:
    with NewsSite() as site:
        url = site.put("/a.html", Resource(hostile_page().encode(), "text/html; charset=utf-8"))
        result = monitor("extract", url)
    assert result.returncode == 0
    assert "Title \\u001b[2J" in terminal_safe(result.stdout + result.stderr)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: iran-oil, query: 'Iran AND oil'}\n")
    return path


@pytest.fixture
def articles(tmp_path: Path, page: Path) -> list[str]:
    text = tmp_path / "a.txt"
    text.write_text(f"{hostile('Before')}\nIran said oil {hostile('rose')}\n", encoding="utf-8")
    jsonl = tmp_path / "b.jsonl"
    record = {"id": "x\n2026 FORGED", "title": hostile("T"), "text": f"Iran oil {ATTACKS}"}
    jsonl.write_text(json.dumps(record) + "\n")
    return [str(text), str(page), str(jsonl)]


def test_match_text_output_is_safe(rules: Path, articles: list[str]) -> None:
    result = monitor("match", "--rules", str(rules), *articles)
    assert result.returncode == 0
    out = terminal_safe(result.stdout + result.stderr)
    assert out.count("iran-oil matched") == 3 and out.rstrip().endswith("3 match(es)")
    assert "[[Iran]]" in out and "[[oil]]" in out
    assert "x\\u000a2026 FORGED" in out
    assert not any(line.startswith("2026 FORGED") for line in out.splitlines())


def test_match_json_is_valid(rules: Path, articles: list[str]) -> None:
    result = monitor("match", "--json", "--rules", str(rules), *articles)
    assert result.returncode == 0
    records = [json.loads(line) for line in terminal_safe(result.stdout).splitlines()]
    assert [r["rule"] for r in records] == ["iran-oil"] * 3
    assert records[2]["article_id"] == "x\n2026 FORGED"  # escaped in JSON, not lost


def test_explain_output_is_safe(rules: Path, page: Path) -> None:
    result = monitor("explain", "--rules", str(rules), "iran-oil", str(page))
    assert result.returncode == 0
    assert "MATCHED" in terminal_safe(result.stdout + result.stderr)


# --------------------------------------------------------------------------- check


@pytest.fixture
def secrets_config(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    (tmp_path / "feeds.yaml").write_text(
        f'feeds:\n  - {{name: paid, url: "https://reader:{PASSWORD}@feeds.example/rss"}}\n'
    )
    (tmp_path / "rules.yaml").write_text(
        textwrap.dedent(
            """\
            channels:
              hook:
                type: webhook
                url: "https://bot:HookPw77@hooks.example/services/T0/B0/PathTok55?token=QTok33"
                secret_env: HOOK_SECRET
              chat: {type: apprise, urls_env: CHAT_URLS}
              mail:
                type: email
                to: [desk@example.org]
                from: monitor@example.org
                smtp: {host: smtp.example, starttls: true, username: u, password_env: SMTP_PW}
            rules:
              - {name: r, query: iran, channels: [hook, chat, mail]}
            """
        )
    )
    env = dict(
        os.environ,
        HOOK_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        CHAT_URLS="json://u:ChatPw11@127.0.0.1/",
        SMTP_PW="SmtpPw55x",
    )
    yield tmp_path, env


CHECK_SECRETS = (
    PASSWORD, "HookPw77", "PathTok55", "QTok33", "bot:", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "ChatPw11", "SmtpPw55x",
)  # fmt: skip


def test_check_prints_webhook_origin_and_no_secret(
    secrets_config: tuple[Path, dict[str, str]],
) -> None:
    config, env = secrets_config
    result = monitor("check", "--config-dir", str(config), env=env)
    assert result.returncode == 0
    out = terminal_safe(result.stdout + result.stderr)
    assert "channel hook: webhook -> https://hooks.example/…" in out
    assert "channel mail: email -> desk@example.org" in out
    assert [s for s in CHECK_SECRETS if s in out] == []


def test_check_problems_never_quote_a_credential(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text(
        f'feeds:\n  - {{name: f, url: "ftp://reader:{PASSWORD}@feeds.example/rss?api_key=K3y9"}}\n'
    )
    (tmp_path / "rules.yaml").write_text(
        'channels:\n  h: {type: webhook, url: "gopher://bot:HookPw77@hooks.example/x"}\n'
        "rules:\n  - {name: r, query: iran, channels: [h]}\n"
    )
    result = monitor("check", "--config-dir", str(tmp_path))
    assert result.returncode == 1
    out = terminal_safe(result.stdout + result.stderr)
    assert "feeds[0].url" in out and "feeds.example/rss" in out and "hooks.example" in out
    assert PASSWORD not in out and "K3y9" not in out and "HookPw77" not in out


# --------------------------------------------------------------------------- run


def test_failing_feed_behind_basic_auth_leaks_nowhere(tmp_path: Path) -> None:
    """Three failed polls of a feed whose URL holds a password: the log lines, the operator
    notice (stored and sent) and `monitor status` name the feed's host, never the password."""
    notices = tmp_path / "ops.jsonl"
    db = tmp_path / "monitor.db"
    with NewsSite() as site:
        site.put("/feed", Resource(b"down", "text/plain", status=503))
        url = f"http://editor:{PASSWORD}@127.0.0.1:{site.port}/feed"
        (tmp_path / "feeds.yaml").write_text(f'feeds:\n  - {{name: paid, url: "{url}"}}\n')
        (tmp_path / "rules.yaml").write_text(
            f'channels:\n  ops: {{type: file, path: "{notices}"}}\noperator_channel: ops\n'
            "rules:\n  - {name: r, query: iran, channels: [ops]}\n"
        )
        env = dict(os.environ, MONITOR_DB=str(db))
        logs = ""
        for _ in range(3):  # the notice goes out at the third failure in a row
            result = monitor("run", "--once", "--config-dir", str(tmp_path), env=env)
            logs += terminal_safe(result.stdout + result.stderr)
            _make_due(db)
    assert "feed_failed" in logs and "operator_notice" in logs
    assert PASSWORD not in logs and f"127.0.0.1:{site.port}" in logs
    [notice] = [json.loads(line) for line in notices.read_text().splitlines()]
    assert notice["type"] == "notice" and "503" in notice["message"]
    assert PASSWORD not in notice["message"] and "127.0.0.1" in notice["message"]
    store = open_store(db)
    try:
        stored = store.notice_state("feed:paid").last_error or ""
    finally:
        store.close()
    assert "503" in stored and PASSWORD not in stored
    status = terminal_safe(monitor("status", "--db", str(db)).stdout)
    assert "FAILING x3" in status and PASSWORD not in status and "127.0.0.1" in status


def _make_due(db: Path) -> None:
    """Bring the feed's next check forward, as if its backoff had passed."""
    import sqlite3

    connection = sqlite3.connect(db)
    try:
        connection.execute("UPDATE feeds SET next_check = 0")
        connection.commit()
    finally:
        connection.close()
