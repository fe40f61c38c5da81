"""A claim lasts as long as its daemon renews it, on every backend: a heartbeat says which claims
it renewed (a claim run out, another daemon's, or one whose row was being written then is not
among them), and an outcome a daemon writes late never overrides the daemon that holds the row
now.

Each "daemon" is a store of its own on the same database, as two processes would be.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from monitor.cadence import host_of
from monitor.models import Alert, AlertRule, FeedSlot, PollOutcome
from monitor.store import DaemonInfo, Store, open_store

T0 = 1_800_000_000.0
HOST = socket.gethostname()


def daemon(store: Store, name: str) -> DaemonInfo:
    info = DaemonInfo(f"{HOST}:{name}", HOST, os.getpid(), "0.1.0", "cfg")
    store.register_daemon(info, now=T0, lease=60)
    return info


def feeds(store: Store, count: int) -> list[str]:
    """`count` feeds, each on a host of its own, all due at T0."""
    slots = []
    for n in range(count):
        url = f"http://h{n}.example/f.xml"
        slots.append(FeedSlot(f"F{n}", url, host_of(url), 300.0, 300.0, 1800.0))
    store.sync_feeds(slots, now=T0, first_due=lambda slot, count: T0)
    return [s.name for s in slots]


def claim(store: Store, owner: str, name: str, *, now: float, lease: float) -> None:
    (taken,) = store.claim_due(now, 1, owner, lease=lease, names=[name])
    assert taken.name == name


def row(store: Store, name: str) -> tuple[str | None, float | None, float, int, str | None]:
    """claimed_by, lease_until, next_check, polls, last_status of one feed."""
    ((claimed_by, lease_until, next_check, polls, last_status),) = store._query(
        "SELECT claimed_by, lease_until, next_check, polls, last_status FROM feeds WHERE name = ?",
        (name,),
    )
    return claimed_by, lease_until, next_check, polls, last_status


def alert(n: int) -> Alert:
    return Alert(
        id=f"msg_{n}",
        channel="desk",
        article_id=f"art_{n}",
        title=f"Story {n}",
        url=f"https://example.org/{n}",
        source="Wire",
        published=None,
        rules=(AlertRule("r1"),),
        created=datetime.fromtimestamp(T0, UTC),
    )


def postponed(name: str, *, at: float, due: float) -> PollOutcome:
    """A claim handed back unpolled, due as it was (what the poller writes)."""
    return PollOutcome(name, f"http://{name}.example/f.xml", "postponed", at, due, 300.0)


def test_a_heartbeat_renews_and_returns_exactly_this_daemons_unexpired_claims(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    me, other = daemon(a, "A"), daemon(b, "B")
    f0, f1, f2, f3 = feeds(a, 4)
    claim(a, me.id, f0, now=T0, lease=10)
    claim(a, me.id, f1, now=T0, lease=10)
    claim(a, me.id, f2, now=T0, lease=5)  # runs out at T0 + 5, before the beat
    claim(b, other.id, f3, now=T0, lease=10)
    a.enqueue(alert(1), now=T0)
    a.claim_next("desk", now=T0, lease=10, owner=me.id)

    renewal = a.heartbeat(me, now=T0 + 8, lease=10)

    assert renewal.feeds == {f0, f1} and renewal.alerts == 1
    assert [row(a, n)[:2] for n in (f0, f1)] == [(me.id, T0 + 18), (me.id, T0 + 18)]
    assert row(a, f2)[:2] == (me.id, T0 + 5)  # run out, and left so: another may take it
    assert row(a, f3)[:2] == (other.id, T0 + 10)  # another daemon's claim is not touched
    assert [c.name for c in b.claim_due(T0 + 9, 10, other.id, lease=10)] == [f2]
    assert b.heartbeat(other, now=T0 + 9, lease=10).feeds == {f2, f3}
    assert a.heartbeat(me, now=T0 + 19, lease=10).feeds == set()  # all run out by then


def test_a_claim_whose_row_is_being_written_is_passed_over_and_not_reported_renewed(
    pg_url: str,
) -> None:
    """PostgreSQL: the heartbeat does not wait for a row another transaction holds (another
    daemon's sync, a poll's outcome being written): that claim is not renewed, and the
    heartbeat must not say it was."""
    a = open_store(pg_url)
    try:
        me = daemon(a, "A")
        f0, f1 = feeds(a, 2)
        claim(a, me.id, f0, now=T0, lease=10)
        claim(a, me.id, f1, now=T0, lease=10)
        with psycopg.connect(pg_url) as other, other.transaction():
            other.execute("UPDATE feeds SET interval = interval WHERE name = %s", (f0,))
            renewal = a.heartbeat(me, now=T0 + 8, lease=10)
        assert renewal.feeds == {f1}
        assert row(a, f0)[:2] == (me.id, T0 + 10)
        assert row(a, f1)[:2] == (me.id, T0 + 18)
    finally:
        a.close()


def test_a_postponed_outcome_is_written_only_while_its_owner_holds_the_row(
    stores: Callable[[], Store],
) -> None:
    a, b = stores(), stores()
    mine, taken, polled = feeds(a, 3)
    claim(a, "A", mine, now=T0, lease=20)
    claim(a, "A", taken, now=T0, lease=10)
    claim(a, "A", polled, now=T0, lease=10)
    # A stalls past its lease; B takes two of them over, and polls one of those at once
    claim(b, "B", taken, now=T0 + 11, lease=10)
    claim(b, "B", polled, now=T0 + 11, lease=10)
    done = PollOutcome(polled, "http://x/f.xml", "ok", T0 + 11, T0 + 311, 300.0)
    assert b.record_polls([done], owner="B") == 1

    written = a.record_polls(
        [postponed(n, at=T0 + 13, due=T0) for n in (mine, taken, polled)], owner="A"
    )

    assert written == 1
    assert row(a, mine) == (None, None, T0, 0, None)  # handed back, due as it was
    assert row(a, taken) == ("B", T0 + 21, T0, 0, None)  # still B's
    assert row(a, polled) == (None, None, T0 + 311, 1, "ok")  # B's poll stands
