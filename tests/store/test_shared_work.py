"""Several daemons on one database, on every backend: each feed and each alert is claimed by one
daemon at a time, a claim lives as long as its daemon renews it, and races between recorders
cannot make a second alert or break a rate limit.

Each "daemon" here is a store of its own on the same database (its own connection or pool),
working from threads at the same moment: what two processes do to one database.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from monitor.cadence import host_of
from monitor.models import Alert, AlertRule, Document, FeedSlot, Item, PollOutcome
from monitor.store import DaemonInfo, NoiseView, Queued, Store, is_postgres, open_store

T0 = 1_800_000_000.0
HOST = socket.gethostname()
T = TypeVar("T")


def slots(count: int, hosts: int = 10) -> list[FeedSlot]:
    out = []
    for n in range(count):
        url = f"http://h{n % hosts}.example/f{n}.xml"
        out.append(FeedSlot(f"F{n:04d}", url, host_of(url), 300.0, 300.0, 1800.0))
    return out


def sync(store: Store, feeds: Sequence[FeedSlot]) -> None:
    store.sync_feeds(feeds, now=T0, first_due=lambda slot, count: T0)


def alert(n: int, channel: str = "desk", rule: str = "r1") -> Alert:
    return Alert(
        id=f"msg_{n}",
        channel=channel,
        article_id=f"art_{n}",
        title=f"Story {n}",
        url=f"https://example.org/{n}",
        source="Wire",
        published=None,
        rules=(AlertRule(rule),),
        created=datetime.fromtimestamp(T0, UTC),
    )


def item(n: int, feed: str = "Wire") -> tuple[Item, Document]:
    link = f"https://example.org/{n}"
    return (
        Item(key=f"id:{n}", feed=feed, title=f"Story {n}", link=link),
        Document(id=f"art_{n}", title=f"Story {n}", text="Body", url=link),
    )


def side_by_side(*work: Callable[[], T]) -> list[T]:
    """Run each callable on its own thread, all released at the same moment."""
    gate = threading.Barrier(len(work))
    results: list[T | None] = [None] * len(work)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = work[i]()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def daemon(store: Store, name: str, pid: int | None = None) -> DaemonInfo:
    info = DaemonInfo(f"{HOST}:{name}", HOST, pid or os.getpid(), "0.1.0", "cfg")
    store.register_daemon(info, now=T0, lease=60)
    return info


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_two_daemons_claiming_at_once_take_different_feeds(
    stores: Callable[[], Store], db_url: str
) -> None:
    a, b = stores(), stores()
    sync(a, slots(300))

    def claim_all(store: Store, owner: str) -> list[str]:
        got: list[str] = []
        while claims := store.claim_due(T0 + 1, 16, owner, lease=60, per_host=4):
            got += [c.name for c in claims]
        return got

    got_a, got_b = side_by_side(lambda: claim_all(a, "A"), lambda: claim_all(b, "B"))
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == [s.name for s in slots(300)]
    if is_postgres(db_url):  # SKIP LOCKED: neither waits for the other (SQLite takes turns)
        assert got_a and got_b


def test_two_daemons_sending_at_once_take_different_alerts(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    for n in range(120):
        a.enqueue(alert(n), now=T0 + n / 1000)

    def send_all(store: Store, owner: str) -> list[str]:
        got: list[str] = []
        while rows := store.claim_next("desk", now=T0 + 1, lease=60, owner=owner):
            got += [r.id for r in rows]
        return got

    got_a, got_b = side_by_side(lambda: send_all(a, "A"), lambda: send_all(b, "B"))
    assert not set(got_a) & set(got_b)
    assert Counter(got_a + got_b) == Counter(f"msg_{n}" for n in range(120))


def test_a_claim_outlives_a_silent_daemon_only_for_its_lease(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    sync(a, slots(1))
    assert [c.name for c in a.claim_due(T0, 10, "A", lease=10)] == ["F0000"]
    a.enqueue(alert(1), now=T0)
    assert [r.id for r in a.claim_next("desk", now=T0, lease=10, owner="A")] == ["msg_1"]
    assert b.claim_due(T0 + 9, 10, "B", lease=10) == []
    assert b.claim_next("desk", now=T0 + 9, lease=10, owner="B") == []
    assert [c.name for c in b.claim_due(T0 + 10, 10, "B", lease=10)] == ["F0000"]
    (again,) = b.claim_next("desk", now=T0 + 10, lease=10, owner="B")
    assert again.id == "msg_1" and again.attempts == 2  # the same alert id goes out again


def test_a_heartbeat_renews_the_claims_its_daemon_still_holds(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    me = daemon(a, "A")
    sync(a, slots(2, hosts=2))
    a.claim_due(T0, 1, me.id, lease=10)  # F0000
    a.enqueue(alert(1), now=T0)
    a.claim_next("desk", now=T0, lease=10, owner=me.id)
    renewal = a.heartbeat(me, now=T0 + 8, lease=10)
    assert (renewal.feeds, renewal.alerts) == ({"F0000"}, 1)
    assert b.claim_due(T0 + 15, 10, "B", lease=10, names=["F0000"]) == []
    assert b.claim_next("desk", now=T0 + 15, lease=10, owner="B") == []
    # a claim that ran out before the beat is not taken back: another daemon may hold it
    (taken,) = b.claim_due(T0 + 19, 10, "B", lease=10, names=["F0000"])
    renewal = a.heartbeat(me, now=T0 + 20, lease=10)
    assert (renewal.feeds, renewal.alerts) == (set(), 0)
    assert taken.name == "F0000"
    assert [c.name for c in a.claim_due(T0 + 21, 10, me.id, lease=10)] == ["F0001"]


def test_a_daemon_that_stops_hands_its_claims_back_at_once(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    me = daemon(a, "A")
    sync(a, slots(3, hosts=3))
    assert len(a.claim_due(T0, 10, me.id, lease=600)) == 3
    a.enqueue(alert(1), now=T0)
    a.claim_next("desk", now=T0, lease=600, owner=me.id)
    assert a.retire_daemon(me.id, now=T0 + 1) == 4
    assert len(b.claim_due(T0 + 2, 10, "B", lease=600)) == 3
    assert [r.id for r in b.claim_next("desk", now=T0 + 2, lease=600, owner="B")] == ["msg_1"]
    assert a.daemons(now=T0 + 2) == []


def test_claims_of_a_dead_daemon_of_this_host_are_released_at_the_next_start(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    gone = daemon(a, "gone", pid=dead_pid())
    alive = daemon(a, "alive")  # this process: it still runs
    sync(a, slots(2, hosts=2))
    a.claim_due(T0, 1, gone.id, lease=600)
    a.claim_due(T0, 1, alive.id, lease=600)
    a.enqueue(alert(1), now=T0)
    a.claim_next("desk", now=T0, lease=600, owner=gone.id)

    def pid_alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    assert b.release_dead(HOST, pid_alive, now=T0 + 1) == 2  # one feed, one alert
    assert [c.name for c in b.claim_due(T0 + 1, 10, "B", lease=600)] == ["F0000"]
    assert [r.id for r in b.claim_next("desk", now=T0 + 1, lease=600, owner="B")] == ["msg_1"]
    assert [d.id for d in b.daemons(now=T0 + 1)] == [alive.id]
    assert b.release_dead("another-host", lambda pid: False, now=T0 + 1) == 0


def test_a_late_outcome_does_not_undo_the_claim_of_the_daemon_that_took_over(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    sync(a, slots(1))
    (claim,) = a.claim_due(T0, 1, "A", lease=10)
    b.claim_due(T0 + 11, 1, "B", lease=10)  # A stalled past its lease; B polls the feed now
    late = PollOutcome(claim.name, claim.url, "ok", T0 + 12, T0 + 300, 300.0, new_items=1)
    assert a.record_polls([late], owner="A") == 0
    assert b.claim_due(T0 + 12, 1, "C", lease=10) == []  # still B's
    mine = PollOutcome(claim.name, claim.url, "ok", T0 + 12, T0 + 600, 300.0, new_items=2)
    assert b.record_polls([mine], owner="B") == 1
    state = b.feed_state(claim.name)
    assert state is not None and state.new_items == 2 and state.polls == 1


def test_status_lists_live_daemons_with_the_claims_each_holds(
    stores: Callable[[], Store],
) -> None:
    a = stores()
    one, two, quiet = daemon(a, "one"), daemon(a, "two"), daemon(a, "quiet")
    sync(a, slots(5, hosts=5))
    a.claim_due(T0, 3, one.id, lease=600)
    a.claim_due(T0, 1, two.id, lease=600)
    a.enqueue(alert(1), now=T0)
    a.claim_next("desk", now=T0, lease=600, owner=two.id)
    a.heartbeat(one, now=T0 + 100, lease=600)
    a.heartbeat(two, now=T0 + 100, lease=600)
    live = {d.id: d for d in a.daemons(now=T0 + 110)}
    assert set(live) == {one.id, two.id}  # `quiet` has not beaten within its lease (60 s)
    assert (live[one.id].feeds_held, live[one.id].alerts_held) == (3, 0)
    assert (live[two.id].feeds_held, live[two.id].alerts_held) == (1, 1)
    assert live[one.id].heartbeat == T0 + 100 and live[one.id].pid == os.getpid()
    assert quiet.id not in live


def test_a_rate_limit_holds_when_two_daemons_record_at_once(
    stores: Callable[[], Store],
) -> None:
    """`max_alerts: 1 per hour`, 40 matching items recorded by two daemons side by side: one
    alert goes out on its own, every other one waits in the rule's summary."""
    a, b = stores(), stores()

    def plan(alert: Alert, view: NoiseView) -> Queued:
        if view.recent_alerts("r1", alert.channel, since=T0 - 3600) < 1:
            return Queued(alert)
        return Queued(alert, "summary:r1", T0 + 3600)

    def record(store: Store, numbers: range) -> int:
        queued = 0
        for n in numbers:
            it, doc = item(n)
            queued += len(store.record_item(it, doc, [], [], [alert(n)], now=T0, plan=plan))
        return queued

    done = side_by_side(lambda: record(a, range(0, 40, 2)), lambda: record(b, range(1, 40, 2)))
    assert sum(done) == 40
    on_their_own = [r for r in a.outbox("pending", limit=100) if r.batch is None]
    assert len(on_their_own) == 1


def test_one_item_recorded_by_two_daemons_at_once_is_one_alert(
    stores: Callable[[], Store],
) -> None:
    """A daemon whose claim ran out while it worked records the same item as the daemon that
    took the feed over: the second recording finds the item seen and queues nothing."""
    a, b = stores(), stores()
    for n in range(30):
        it, doc = item(n)
        got = side_by_side(
            lambda it=it, doc=doc, n=n: a.record_item(it, doc, [], [], [alert(n)], now=T0),
            lambda it=it, doc=doc, n=n: b.record_item(it, doc, [], [], [alert(n)], now=T0),
        )
        assert sorted(len(ids) for ids in got) == [0, 1]
    assert a.counts()["outbox_pending"] == 30
    assert a.counts()["seen_items"] == 30


def test_daemons_starting_together_apply_each_migration_once(db_url: str) -> None:
    gate = threading.Barrier(4)
    opened: list[Store] = []
    errors: list[BaseException] = []

    def start() -> None:
        gate.wait()
        try:
            opened.append(open_store(db_url))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(opened) == 4
    assert len({s.schema_version for s in opened}) == 1
    assert opened[0].counts()["seen_items"] == 0
    for store in opened:
        store.close()
