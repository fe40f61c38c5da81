"""The store's admin role on every backend: what `monitor status`, steering, replay and the
metrics ask of it. The commands are tested end to end in tests/ops (on SQLite); here each query
runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace

from monitor.models import Match
from monitor.store import DaemonInfo, Queued, Store
from tests.store.test_shared_work import T0, alert, item


def record(store: Store, n: int, *, rule: str = "r1", channel: str = "desk", at: float) -> None:
    it, doc = item(n)
    store.record_item(
        it, doc, [Match(rule, doc.id)], [{}], [Queued(alert(n, channel, rule))], now=at
    )


def test_mutes_and_pauses_are_kept_until_lifted(store: Store) -> None:
    store.mute_rule("r1", until=T0 + 3600, now=T0)
    store.mute_rule("r2", until=T0 + 10, now=T0)
    assert store.muted_rules(now=T0 + 60) == {"r1": T0 + 3600}  # r2's mute has run out
    assert store.unmute_rule("r1") and not store.unmute_rule("r1")
    assert store.muted_rules(now=T0 + 60) == {}
    assert store.pause_channel("hook", now=T0) and not store.pause_channel("hook", now=T0 + 1)
    assert store.paused_channels() == {"hook": T0}


def test_send_now_makes_pending_alerts_due_and_says_what_each_alert_is(store: Store) -> None:
    store.enqueue(Queued(alert(1), due=T0 + 3600), now=T0)
    store.enqueue(Queued(alert(2, channel="hook"), due=T0 + 3600), now=T0)
    assert store.claim_next("desk", now=T0 + 1, lease=60) == []
    assert store.send_now(now=T0 + 1, channel="desk") == 1
    (row,) = store.claim_next("desk", now=T0 + 1, lease=60)
    store.mark_sent([row.id], now=T0 + 2, status_code=200)
    assert store.send_now(now=T0 + 2, alert_id="msg_1") == 0  # sent already
    assert store.send_now(now=T0 + 2, alert_id="msg_2") == 1
    assert (store.alert_status("msg_1"), store.alert_status("msg_2")) == ("sent", "pending")
    assert store.alert_status("msg_nosuch") is None
    assert store.pending_by_channel() == {"hook": 1}


def test_rule_channel_and_feed_activity_count_the_last_day_and_week(store: Store) -> None:
    now = T0 + 10 * 86400
    record(store, 1, at=now - 3 * 86400)  # this week, not today
    record(store, 2, at=now - 3600)
    record(store, 3, rule="r2", channel="hook", at=now - 60)
    record(store, 4, at=now - 30 * 86400)  # older than a week
    (row,) = store.claim_next("hook", now=now, lease=60)
    store.mark_sent([row.id], now=now, status_code=200)
    activity = {r.rule: r for r in store.rule_activity(now=now)}
    assert (activity["r1"].matches_day, activity["r1"].matches_week) == (1, 2)
    assert (activity["r1"].alerts_day, activity["r1"].alerts_week) == (1, 2)
    assert activity["r1"].last_match == now - 3600
    assert (activity["r2"].matches_day, activity["r2"].alerts_day) == (1, 1)
    channels = {c.channel: c for c in store.channel_activity(now=now)}
    assert (channels["desk"].pending, channels["desk"].sent_day) == (3, 0)
    assert (channels["hook"].pending, channels["hook"].sent_day) == (0, 1)
    assert store.items_per_feed(since=now - 86400) == {"Wire": 2}


def test_a_daemons_last_reload_and_its_problems_are_kept(store: Store) -> None:
    me = DaemonInfo("h:1:a", "h", 1, "0.1.0", "cfg")
    store.register_daemon(me, now=T0, lease=60)
    store.record_reload(me.id, now=T0 + 5, problems=["rules.yaml:3:9: rules[0].query: bad"])
    (seen,) = store.daemons(now=T0 + 6)
    assert seen.reloaded == T0 + 5
    assert seen.reload_problems == ("rules.yaml:3:9: rules[0].query: bad",)
    store.record_reload(me.id, now=T0 + 9, problems=[])
    (seen,) = store.daemons(now=T0 + 10)
    assert (seen.reloaded, seen.reload_problems) == (T0 + 9, ())


def test_stored_articles_page_by_id_and_what_was_alerted_is_known(store: Store) -> None:
    for n in range(5):
        record(store, n, at=T0 + n)
    first = store.articles_since(T0 + 1, until=T0 + 10, limit=2)
    assert [a.doc.id for a in first] == ["art_1", "art_2"]
    rest = store.articles_since(T0 + 1, until=T0 + 10, limit=10, after_id=first[-1].doc.id)
    assert [a.doc.id for a in rest] == ["art_3", "art_4"]
    assert rest[0].doc.title == "Story 3" and rest[0].created == T0 + 3
    assert store.alerted_rules(["art_1", "art_9"]) == {("art_1", "r1", "desk")}
    again = replace(alert(1, channel="hook"), id="msg_1_hook")
    queued = store.queue_alerts([again, again], now=T0 + 20, plan=lambda a, view: Queued(a))
    assert queued == [again.id]  # queued once: the same id is not queued twice
    assert ("art_1", "r1", "hook") in store.alerted_rules(["art_1"])
