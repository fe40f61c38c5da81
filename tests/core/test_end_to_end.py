"""The whole service against real servers on 127.0.0.1: feed site, SMTP, webhook receiver.

Both reference articles must alert on `iran-al-qaida` by email and webhook, the controls
must not, a restart must not alert again, and an alert for a receiver that is down must
arrive once it is back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from tests.support.newsroom import SAMPLES, WEBHOOK_SECRET, Story, publish, write_config
from tests.support.receivers import SmtpServer, WebhookReceiver
from tests.support.site import FeedEntry, NewsSite, rss_feed

ROOT = Path(__file__).resolve().parents[2]


def monitor_env(db: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NEWSROOM_SECRET=WEBHOOK_SECRET, MONITOR_DB=str(db), PYTHONPATH=str(ROOT))
    env.pop("JOURNAL_STREAM", None)
    return env


def run_once(config: Path, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--once", "--config-dir", str(config)],
        env=monitor_env(db),
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Newsroom:
    def __init__(self, tmp: Path, db: str, site: NewsSite, smtp: SmtpServer, hook: WebhookReceiver):
        self.site, self.smtp, self.hook = site, smtp, hook
        self.stories = publish(site)
        self.alerts_file = tmp / "var" / "alerts.jsonl"
        self.config = write_config(
            tmp / "etc",
            feed_url=site.url + "/world.xml",
            smtp_port=smtp.port,
            webhook_url=hook.url,
            alerts_file=self.alerts_file,
        )
        self.db = db

    @property
    def samples(self) -> list[Story]:
        return [s for s in self.stories if s.slug in SAMPLES]

    def file_alerts(self) -> list[dict[str, object]]:
        if not self.alerts_file.exists():
            return []
        return [json.loads(line) for line in self.alerts_file.read_text().splitlines()]


@pytest.fixture
def newsroom(tmp_path: Path, db_url: str) -> Iterator[Newsroom]:
    with NewsSite() as site, SmtpServer() as smtp, WebhookReceiver() as hook:
        yield Newsroom(tmp_path, db_url, site, smtp, hook)


def check_webhooks(room: Newsroom) -> None:
    webhook = Webhook(WEBHOOK_SECRET)
    ids = [r.headers["webhook-id"] for r in room.hook.requests]
    assert len(ids) == len(set(ids)) == 2, ids
    urls = set()
    for request in room.hook.requests:
        assert request.method == "POST"
        payload = webhook.verify(request.body, request.headers)
        assert [r["name"] for r in payload["rules"]] == ["iran-al-qaida"]
        urls.add(payload["article"]["url"])
    assert urls == {s.url for s in room.samples}


def test_alerts_once_by_email_and_webhook(newsroom: Newsroom) -> None:
    room = newsroom
    result = run_once(room.config, room.db)
    assert result.returncode == 0, result.stdout + result.stderr

    subjects = sorted(str(m.message["subject"]) for m in room.smtp.messages)
    assert subjects == sorted(s.title for s in room.samples)
    for delivered in room.smtp.messages:
        assert delivered.recipients == ("desk@example.org",)
        text = delivered.message.get_body(("plain",))
        assert text is not None and "iran-al-qaida" in text.get_content()
    check_webhooks(room)

    by_rule = sorted(
        (rule["name"], alert["article"]["url"])  # type: ignore[index]
        for alert in room.file_alerts()
        for rule in alert["rules"]  # type: ignore[attr-defined]
    )
    control = next(s for s in room.stories if s.slug == "control-europa-water")
    assert by_rule == sorted(
        [("iran-al-qaida", s.url) for s in room.samples] + [("europa", control.url)]
    )

    # a restart and a second poll (feed unchanged -> 304) send nothing new
    result = run_once(room.config, room.db)
    assert result.returncode == 0, result.stderr
    assert "if-none-match" in room.site.requests_for("/world.xml")[-1].headers
    # the publisher edits its headlines: a 200 with the same items, still nothing new
    entries = [FeedEntry(f"UPDATED {s.title}", s.url, f"desk-news-{s.slug}") for s in room.stories]
    room.site.add_feed("/world.xml", rss_feed("Desk News World", entries))
    result = run_once(room.config, room.db)
    assert result.returncode == 0, result.stderr
    assert len(room.smtp.messages) == 2
    assert len(room.hook.requests) == 2
    assert len(room.file_alerts()) == 3


def test_alert_waits_for_a_receiver_that_is_down(newsroom: Newsroom) -> None:
    room = newsroom
    room.hook.down()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config-dir", str(room.config)],
        env=monitor_env(room.db),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: len(room.smtp.messages) == 2, 60, "two emails")
        assert room.hook.requests == []
        room.hook.up()
        wait_for(lambda: len(room.hook.requests) >= 2, 60, "two webhooks after the outage")
        time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, output
    check_webhooks(room)
    assert "delivery_retry" in output and "service_stopped" in output
