"""File channel: one JSON line per alert, appended and fsync'd."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.deliver import alert_id, build_notifier
from monitor.deliver.render import batch_payload, webhook_payload
from monitor.errors import DeliveryError
from monitor.models import Alert, Batch, FileChannel
from tests.support import run


def test_one_line_per_alert_in_new_directories(tmp_path: Path, alert: Alert) -> None:
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    channel = FileChannel(name="log", path=path)
    second = replace(alert, id=alert_id("other", "log"), title="Second\nline")
    notifier = build_notifier(channel)
    run(notifier.send(alert))
    run(notifier.send(second))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [webhook_payload(alert), webhook_payload(second)]


def test_concurrent_sends_never_interleave(tmp_path: Path, alert: Alert) -> None:
    path = tmp_path / "alerts.jsonl"
    alerts = [replace(alert, id=alert_id(str(n), "log"), title="x" * 5000) for n in range(40)]

    async def send_all() -> None:
        notifiers = [build_notifier(FileChannel(name="log", path=path))] * 2
        await asyncio.gather(*(notifiers[n % 2].send(a) for n, a in enumerate(alerts)))

    run(send_all())
    ids = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == sorted(a.id for a in alerts)


def test_unwritable_path_is_retryable(tmp_path: Path, alert: Alert) -> None:
    (tmp_path / "file").write_text("not a directory")
    channel = FileChannel(name="log", path=tmp_path / "file" / "a.jsonl")
    with pytest.raises(DeliveryError) as e:
        run(build_notifier(channel).send(alert))
    assert e.value.subject == "log" and not e.value.permanent


def test_batch_is_one_line(tmp_path: Path, alert: Alert, batch: Batch, notice: Alert) -> None:
    path = tmp_path / "alerts.jsonl"
    notifier = build_notifier(FileChannel(name="log", path=path))
    run(notifier.send(alert))
    run(notifier.send_batch(batch))
    run(notifier.send(notice))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        webhook_payload(alert),
        batch_payload(batch),
        webhook_payload(notice),
    ]
    assert [json.loads(line)["type"] for line in lines] == ["alert", "digest", "notice"]


def test_a_resend_of_the_last_line_is_not_written_twice(tmp_path: Path, alert: Alert) -> None:
    path = tmp_path / "alerts.jsonl"
    notifier = build_notifier(FileChannel(name="log", path=path))
    other = replace(alert, id=alert_id("other", "log"))
    for a in (alert, alert, other, alert, alert):  # a crash after each write: the same resent
        run(notifier.send(a))
    ids = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert ids == [alert.id, other.id, alert.id]
    line = path.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(b"x" + line)  # the same text at the end of a longer line is another line
    run(notifier.send(alert))
    assert path.read_bytes() == b"x" + line + line


def test_a_write_only_file_is_still_appended_to(tmp_path: Path, alert: Alert) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text("")
    path.chmod(0o200)
    notifier = build_notifier(FileChannel(name="log", path=path))
    run(notifier.send(alert))
    run(notifier.send(alert))  # not readable: no check, so the resend repeats the line
    path.chmod(0o600)
    lines = path.read_text(encoding="utf-8").splitlines()
    expected = 1 if os.geteuid() == 0 else 2  # root may read it all the same
    assert [json.loads(line)["id"] for line in lines] == [alert.id] * expected
