"""`monitor send-test`: every channel kind gets a message marked TEST in its subject and body,
dated now, with a fresh id each time (a receiver that drops seen ids still takes a repeat).

Runs the command through `monitor.cli.main`, as the `monitor` script does, against real
loopback receivers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.support.receivers import SmtpServer, WebhookReceiver

KINDS = ["alert", "notice", "digest", "summary"]
SLACK = timedelta(seconds=5)  # Date headers and payload times have whole seconds at best


def configure(directory: Path, channel: str) -> Path:
    (directory / "feeds.yaml").write_text("feeds: []\n")
    (directory / "rules.yaml").write_text(f"channels:\n  {channel}\nrules: []\n")
    return directory


def send_test(config: Path, channel: str, kind: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["send-test", channel, "--kind", kind, "--config-dir", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


def assert_now(value: datetime, before: datetime, after: datetime) -> None:
    assert before - SLACK <= value <= after + SLACK, (value, before, after)


def assert_marked(document: dict[str, Any], before: datetime, after: datetime) -> None:
    """A payload (or a batch's entry) says test, reads TEST and is dated now."""
    assert document["test"] is True
    assert_now(datetime.fromisoformat(document["created"]), before, after)
    if document["type"] == "notice":
        assert "TEST" in document["message"]
    elif document["type"] == "alert":
        assert "TEST" in document["article"]["title"]
        assert_now(datetime.fromisoformat(document["article"]["published"]), before, after)
    else:
        assert document["alerts"]
        for entry in document["alerts"]:
            assert_marked(entry, before, after)


@pytest.mark.parametrize("kind", KINDS)
def test_two_webhook_tests_have_fresh_ids_and_are_marked_and_dated_now(
    tmp_path: Path, receiver: WebhookReceiver, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configure(tmp_path, f'hook: {{type: webhook, url: "{receiver.url}"}}')
    before = datetime.now(UTC)
    send_test(config, "hook", kind, capsys)
    send_test(config, "hook", kind, capsys)
    after = datetime.now(UTC)

    first, second = receiver.requests
    ids = [r.headers["webhook-id"] for r in (first, second)]
    assert ids[0] != ids[1]
    for request, webhook_id in zip((first, second), ids, strict=True):
        payload = json.loads(request.body)
        assert payload["id"] == webhook_id
        assert payload["type"] == kind
        assert_marked(payload, before, after)
    if kind in ("digest", "summary"):
        entries = [[a["id"] for a in json.loads(r.body)["alerts"]] for r in (first, second)]
        assert not set(entries[0]) & set(entries[1])  # a receiver storing entries by id


@pytest.mark.parametrize("kind", KINDS)
def test_email_test_says_test_in_subject_and_both_bodies(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with SmtpServer() as smtp:
        config = configure(
            tmp_path,
            "desk: {type: email, to: [desk@example.org], from: m@example.org,"
            f" smtp: {{host: 127.0.0.1, port: {smtp.port}}}}}",
        )
        before = datetime.now(UTC)
        send_test(config, "desk", kind, capsys)
        send_test(config, "desk", kind, capsys)
        after = datetime.now(UTC)
        messages = [d.message for d in smtp.messages]

    assert len(messages) == 2
    assert messages[0]["Message-ID"] != messages[1]["Message-ID"]
    for message in messages:
        assert message["Subject"].startswith("[TEST] ")
        assert message["X-News-Monitor-Kind"] == kind
        assert_now(parsedate_to_datetime(message["Date"]), before, after)
        for subtype in ("plain", "html"):
            part = message.get_body((subtype,))
            assert isinstance(part, EmailMessage)
            body = part.get_content()
            assert "TEST MESSAGE" in body and "not news" in body
    assert "Hormuz" not in messages[0].as_string()  # no sample that reads like news


def test_file_test_lines_are_marked_with_fresh_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "alerts.jsonl"
    config = configure(tmp_path, f'log: {{type: file, path: "{out}"}}')
    before = datetime.now(UTC)
    send_test(config, "log", "alert", capsys)
    send_test(config, "log", "alert", capsys)
    after = datetime.now(UTC)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["id"] != lines[1]["id"]
    for line in lines:
        assert_marked(line, before, after)


@pytest.mark.parametrize("kind", ["alert", "digest"])
def test_apprise_test_says_test_in_title_and_body(
    tmp_path: Path, receiver: WebhookReceiver, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/notify"
    config = configure(tmp_path, f'chat: {{type: apprise, urls: ["{url}"]}}')
    send_test(config, "chat", kind, capsys)
    (request,) = receiver.requests
    sent = json.loads(request.body)
    assert sent["title"].startswith("[TEST] ")
    assert sent["message"].startswith("TEST MESSAGE from monitor send-test")
