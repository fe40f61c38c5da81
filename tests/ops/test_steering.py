"""Operators steering the service from the command line, end to end on each backend: a rule
muted for the night, a channel paused and resumed, a pending alert sent now, and `retry`
saying why nothing was queued. Each step is the real CLI against a local feed and webhook."""

from __future__ import annotations

from monitor.store import open_store
from tests.ops.conftest import Desk
from tests.support.receivers import Reply


def test_a_muted_rule_alerts_nothing_until_unmuted_and_its_matches_are_kept(desk: Desk) -> None:
    muted = desk.monitor("mute", "iran-watch", "--for", "8h")
    assert muted.returncode == 0, muted.stderr
    assert "rule 'iran-watch' muted until" in muted.stdout
    desk.run_once()
    assert desk.received() == []
    shown = desk.monitor("status").stdout
    assert "MUTED until" in shown and "`monitor unmute iran-watch`" in shown
    store = open_store(desk.db, readonly=True)
    try:
        assert store.counts()["matches"] == 1  # recorded, for replay and the inbox
    finally:
        store.close()

    assert "unmuted" in desk.monitor("unmute", "iran-watch").stdout
    desk.publish("Iran and the talks", "g2")
    desk.run_once()
    assert len(desk.received()) == 1  # the new item; the one seen while muted stays quiet
    assert "MUTED" not in desk.monitor("status").stdout


def test_a_paused_channel_queues_its_alerts_and_resume_sends_each_once(desk: Desk) -> None:
    paused = desk.monitor("pause", "hook")
    assert paused.returncode == 0 and "channel 'hook' paused" in paused.stdout
    desk.run_once()
    desk.publish("Tehran answers", "g2")
    desk.run_once()
    assert desk.received() == []
    assert "PAUSED since" in desk.monitor("status").stdout
    pending = desk.monitor("deliveries", "--status", "pending").stdout
    assert pending.count("pending") == 2

    assert "resumed" in desk.monitor("resume", "hook").stdout
    desk.run_once()
    received = desk.received()
    assert len(received) == len(set(received)) == 2
    assert "PAUSED" not in desk.monitor("status").stdout


def test_send_now_sends_a_pending_alert_instead_of_waiting_for_its_backoff(desk: Desk) -> None:
    desk.hook.reply(Reply(503, headers={"Retry-After": "3600"}))  # back in an hour, it says
    desk.run_once()
    (first,) = desk.received()
    desk.run_once()
    assert desk.received() == [first]  # not due for an hour
    now = desk.monitor("deliveries", "send-now", first)
    assert now.returncode == 0 and "1 pending alert(s) due now" in now.stdout
    desk.run_once()
    assert desk.received() == [first, first]  # the same alert, the same id
    assert "sent" in desk.monitor("deliveries", "--status", "sent").stdout


def test_retry_and_send_now_say_why_nothing_was_queued(desk: Desk) -> None:
    desk.monitor("pause", "hook")
    desk.run_once()
    unknown = desk.monitor("deliveries", "retry", "msg_nosuchalert")
    assert unknown.returncode == 1 and "no alert with id 'msg_nosuchalert'" in unknown.stderr
    store = open_store(desk.db, readonly=True)
    try:
        (row,) = store.outbox("pending")
    finally:
        store.close()
    pending = desk.monitor("deliveries", "retry", row.id)
    assert pending.returncode == 1 and f"alert {row.id} is pending" in pending.stderr
    assert f"send-now {row.id}" in pending.stderr
    held = desk.monitor("deliveries", "send-now", row.id)
    assert "channel 'hook' is paused: `monitor resume hook` to send" in held.stderr
    desk.monitor("resume", "hook")
    desk.run_once()
    sent = desk.monitor("deliveries", "retry", row.id)
    assert sent.returncode == 1 and "was sent already" in sent.stderr
    again = desk.monitor("deliveries", "send-now", row.id)
    assert again.returncode == 1 and "was sent already" in again.stderr


def test_steering_refuses_names_the_configuration_does_not_have(desk: Desk) -> None:
    rule = desk.monitor("mute", "iran-wach", "--for", "1h")
    assert rule.returncode == 1 and "no rule named 'iran-wach'" in rule.stderr
    assert "did you mean 'iran-watch'?" in rule.stderr
    channel = desk.monitor("pause", "hok")
    assert channel.returncode == 1 and "did you mean 'hook'?" in channel.stderr
    both = desk.monitor("mute", "iran-watch", "--for", "1h", "--until", "2030-01-01T00:00")
    assert both.returncode == 1 and "give --for DURATION or --until TIME" in both.stderr
    past = desk.monitor("mute", "iran-watch", "--until", "2001-01-01T00:00")
    assert past.returncode == 1 and "already past" in past.stderr
    assert "MUTED" not in desk.monitor("status").stdout


def test_a_paused_channel_is_not_due_so_a_running_worker_sleeps_instead_of_spinning(
    db_url: str,
) -> None:
    from tests.store.test_shared_work import T0, alert

    store = open_store(db_url)
    try:
        store.enqueue(alert(1, channel="hook"), now=T0)
        store.enqueue(alert(2, channel="desk"), now=T0 + 5)
        store.pause_channel("hook", now=T0)
        assert store.next_due() == T0 + 5  # only the desk's alert is due
        assert store.claim_next("hook", now=T0 + 10, lease=60) == []
        store.pause_channel("desk", now=T0)
        assert store.next_due() is None
        assert store.resume_channel("hook") and not store.resume_channel("hook")
        assert store.next_due() == T0
        assert [r.id for r in store.claim_next("hook", now=T0 + 10, lease=60)] == ["msg_1"]
    finally:
        store.close()
