"""Three daemons on one PostgreSQL database share 2,000 feeds and one webhook channel: each feed
is polled once per due time, each alert arrives once, and a daemon killed with -9 mid-cycle
loses nothing: its feeds and its alert in flight are taken over when its leases run out.

What it runs: the shared feed server (../shared/bench/ingest/feed_server.py, through
tests/bench/loadserver.py, which knows every item the server injects), three `monitor run`
processes on one database (tests/bench/fleet.py) and a webhook receiver
(tests/support/receivers.py). Figures come from outside the daemons: the feed server's request
times per feed (`/_polls`), the receiver's requests (`webhook-id` header, the alert's title) and
the database's claims at the moment of the kill.

What a kill -9 may double, and nothing else (the at-least-once edge of a lease):
- a feed the killed daemon held (claimed, its outcome not committed) may be polled once more by
  the daemon that takes it over: the dead one may have fetched it already;
- an alert the killed daemon held (leased, not marked sent) may be sent once more, with the
  same `webhook-id`: the dead one may have sent it already. Receivers drop it on that id.
Both are counted and printed; an item alerting under two ids, an alert lost, or any other
feed polled twice within half its interval fails the test.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.cadence import first_due
from monitor.errors import StorageError
from monitor.models import FeedSlot
from monitor.store import Store, open_store
from tests.bench.fleet import FleetDaemon, FleetFeedServer, live_daemons, write_config
from tests.bench.lateness import percentile
from tests.bench.loadserver import FeedServer
from tests.support.postgres import PostgresServer
from tests.support.receivers import Reply, WebhookReceiver

SHARED = Path(__file__).resolve().parents[3] / "shared"
FEED_SERVER = SHARED / "bench/ingest/feed_server.py"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FEED_SERVER.exists(), reason="the shared feed server is not present"),
]

FEEDS = 2000
DAEMONS = 3
INTERVAL = 20.0  # seconds: 100 polls/s for the three daemons together
LEASE = 5.0  # polling: lease; a killed daemon's feeds are free at most this long after
CHANNEL_TIMEOUT = 5.0  # the webhook's timeout: an alert in flight is leased 5 + 15 s
FRAC = 0.05  # feeds changed per cycle
CYCLES_BEFORE_KILL = 2
CYCLES_AFTER_KILL = 2  # the kill falls in the first of these, half-way through
HANG = 2.0  # seconds the receiver holds the sends in flight when the kill comes
FIRST_POLLS_WITHIN = 120.0  # every feed polled once after the daemons start (measured: ~25 s)
TAKEOVER_WITHIN = 60.0  # the dead daemon's last alert is resent after its lease (20 s)
CLOCK_SLACK = 0.01  # the feed server logs request times rounded to the millisecond
INJECTED = re.compile(r"Injected item (\d+) of feed (\d+)")


def _monitor() -> Path:
    return Path(sys.executable).with_name("monitor")


def _holdings(db: psycopg.Connection[Any]) -> dict[int, tuple[str, int, int]]:
    """pid -> (daemon id, feeds held, alerts held) for every daemon that has not stopped."""
    now = time.time()
    rows = db.execute(
        "SELECT d.pid, d.id,"
        " (SELECT count(*) FROM feeds f WHERE f.claimed_by = d.id AND f.lease_until > %s),"
        " (SELECT count(*) FROM outbox o WHERE o.claimed_by = d.id AND o.lease_until > %s"
        "  AND o.status = 'pending')"
        " FROM daemons d WHERE d.stopped IS NULL",
        (now, now),
    ).fetchall()
    return {int(r[0]): (str(r[1]), int(r[2]), int(r[3])) for r in rows}


def _claimed_feeds(db: psycopg.Connection[Any], daemon_id: str) -> set[int]:
    """The numbers of the feeds `daemon_id` holds a claim on now."""
    return {
        int(str(r[0]).removeprefix("feed-"))
        for r in db.execute("SELECT name FROM feeds WHERE claimed_by = %s", (daemon_id,))
    }


def _count(log: Path, event: str) -> int:
    return log.read_text(errors="replace").count(f"event='{event}'")


def _wait_all_polled(server: FeedServer, daemons: list[FleetDaemon], within: float) -> float:
    deadline = time.time() + within
    while time.time() < deadline:
        for d in daemons:
            assert d.alive(), f"daemon {d.number} exited (see {d.log})"
        polls = server.polls()
        if all(polls):
            return max(p[0] for p in polls)
        time.sleep(1.0)
    never = sum(1 for p in server.polls() if not p)
    raise AssertionError(f"{never} of {FEEDS} feeds not polled {within:.0f} s after the start")


def due_times(
    times: list[float], anchor: float, start: float, stop: float
) -> dict[float, list[float]]:
    """The polls of one feed by the due time each served: its due times are `anchor` plus or
    minus whole intervals, and a poll serves the latest one at or before it. Only the due
    times in [start, stop]."""
    first = math.ceil((start - anchor) / INTERVAL)
    last = math.floor((stop - anchor) / INTERVAL)
    served: dict[int, list[float]] = {k: [] for k in range(first, last + 1)}
    for t in times:
        k = math.floor((t - anchor + CLOCK_SLACK) / INTERVAL)
        if k in served:
            served[k].append(t)
    return {anchor + k * INTERVAL: polls for k, polls in served.items()}


def _alerts(receiver: WebhookReceiver) -> dict[str, list[tuple[int, int] | None]]:
    """webhook-id -> the injected item of each request with that id (None: another alert)."""
    seen: dict[str, list[tuple[int, int] | None]] = defaultdict(list)
    for request in receiver.requests:
        doc = json.loads(request.body)
        found = INJECTED.search(str(doc.get("article", {}).get("title", "")))
        item = (int(found.group(2)), int(found.group(1))) if found else None
        seen[request.headers["webhook-id"]].append(item)
    return seen


def test_three_daemons_poll_each_feed_once_alert_once_and_survive_a_kill_9(
    pg_server: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    monitor = _monitor()
    started = time.time()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            FleetFeedServer(
                SHARED, FEEDS, log=tmp_path / "feed_server.log", seed=FEEDS, max_seconds=900
            )
        )
        receiver = stack.enter_context(WebhookReceiver())
        write_config(
            tmp_path,
            server,
            receiver.url,
            interval=INTERVAL,
            lease=LEASE,
            channel_timeout=CHANNEL_TIMEOUT,
        )
        daemons = [FleetDaemon(monitor, tmp_path, pg_url, n) for n in range(DAEMONS)]
        for d in daemons:  # all at once, on an empty database
            stack.enter_context(d)
        for d in daemons:
            d.wait_synced()
        db = stack.enter_context(psycopg.connect(pg_url, autocommit=True))

        all_polled = _wait_all_polled(server, daemons, FIRST_POLLS_WITHIN)
        first_polls = all_polled - started
        live_before, shown = live_daemons(monitor, pg_url)
        assert live_before == DAEMONS, shown

        for _ in range(CYCLES_BEFORE_KILL):
            server.cycle(FRAC)
            time.sleep(INTERVAL)

        # the cycle of the kill: half-way through, changed feeds are being polled and their
        # alerts sent; the receiver holds the next sends so that they are in flight
        kill_cycle, _ = server.cycle(FRAC)
        time.sleep(INTERVAL / 2)
        receiver.reply(*[Reply(hang=HANG)] * (2 * DAEMONS))
        victim: FleetDaemon | None = None
        deadline = time.time() + INTERVAL / 2
        while victim is None and time.time() < deadline:
            holdings = _holdings(db)  # a daemon holding feeds and an alert in flight
            victim = next((d for d in daemons if all(holdings.get(d.pid, ("", 0, 0))[1:])), None)
            if victim is None:
                time.sleep(0.05)
        assert victim is not None, "no daemon held both feeds and an alert in flight"
        victim_id, *held = holdings[victim.pid]
        # stopped first, so that what it holds can be read before it dies: once it is dead,
        # the survivors hand its claims back within a beat (lease / 4), and a read after the
        # kill could find them gone while the feeds it polled are polled again. Read just
        # before the stop too: a claim whose lease runs out while it is stopped is taken by a
        # survivor before the second read, though the victim may have polled it already
        held_feeds = _claimed_feeds(db, victim_id)
        os.kill(victim.pid, signal.SIGSTOP)
        time.sleep(0.5)  # the server finishes what the stopped daemon had sent it
        held_feeds |= _claimed_feeds(db, victim_id)
        held_alerts = {
            str(r[0])
            for r in db.execute(
                "SELECT id FROM outbox WHERE claimed_by = %s AND status = 'pending'", (victim_id,)
            )
        }
        killed = victim.kill()
        survivors = [d for d in daemons if d is not victim]

        time.sleep(max(0.0, kill_cycle + INTERVAL - time.time()))
        for _ in range(CYCLES_AFTER_KILL - 1):
            server.cycle(FRAC)
            time.sleep(INTERVAL)
        end = time.time()

        # the last changes are polled within an interval, the dead daemon's alert after its
        # lease: wait for every injected item (or the bound)
        wanted = set(server.injected)
        drain_until = max(end, killed + TAKEOVER_WITHIN)
        while time.time() < drain_until:
            arrived = {i for items in _alerts(receiver).values() for i in items}
            if (
                wanted <= arrived
                and not db.execute(
                    "SELECT 1 FROM outbox WHERE status = 'pending' LIMIT 1"
                ).fetchone()
            ):
                break
            time.sleep(1.0)
        for d in survivors:
            assert d.alive(), f"daemon {d.number} exited (see {d.log})"
        live_after, shown_after = live_daemons(monitor, pg_url)
        status_at = time.time()
        polls = server.polls()
        alerts = _alerts(receiver)
        still_held = db.execute(
            "SELECT count(*) FROM feeds WHERE claimed_by = %s AND lease_until > %s",
            (victim_id, time.time()),
        ).fetchone()
        pending = db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
        anchors = {
            int(str(name).removeprefix("feed-")): float(due)
            for name, due in db.execute("SELECT name, next_check FROM feeds")
        }
        unparsable = set().union(*(d.unparsable() for d in daemons))
        handed_back = sum(_count(d.log, "claim_expired") for d in survivors)
        dropped = sum(_count(d.log, "poll_outcomes_dropped") for d in survivors)
        storage_failed = sum(d.storage_failures() for d in daemons)

    # ---------------------------------------------------------------- polls
    # each feed's due times are its stored next due time minus whole intervals (the schedule
    # keeps its phase); every poll serves the latest due time before it. Checked for the due
    # times from the moment every feed had its first poll to an interval before the end.
    window = (all_polled, end - INTERVAL)
    missed: list[tuple[int, float]] = []  # feed, due time without a poll
    doubled: list[tuple[int, list[float]]] = []  # feed, the polls of one due time
    tolerated: list[tuple[int, list[float]]] = []
    late: list[float] = []
    for feed, times in enumerate(polls):
        if feed in unparsable:
            continue
        for due, served in due_times(times, anchors[feed], *window).items():
            late += [t - due for t in served]
            if not served:
                missed.append((feed, due))
            elif len(served) == 2 and feed in held_feeds and served[0] <= killed < served[1]:
                tolerated.append((feed, served))
            elif len(served) > 1:
                doubled.append((feed, served))
    taken_over = {f for f in held_feeds if any(t > killed for t in polls[f])}
    cycles = (window[1] - window[0]) / INTERVAL

    # ---------------------------------------------------------------- alerts
    by_item: dict[tuple[int, int], set[str]] = defaultdict(set)
    for alert_id, items in alerts.items():
        for item in items:
            if item is not None:
                by_item[item].add(alert_id)
    lost = sorted(set(server.injected) - set(by_item))
    two_ids = {item: ids for item, ids in by_item.items() if len(ids) > 1}
    resent = {a: len(items) for a, items in alerts.items() if len(items) > 1}
    resent_held = {a for a in resent if a in held_alerts}

    print(
        f"\nscale-out: {FEEDS} feeds every {INTERVAL:g}s, {DAEMONS} daemons on PostgreSQL,"
        f" lease {LEASE:g}s; every feed polled once {first_polls:.1f}s after the start;"
        f" measured {cycles:.1f} cycles ({window[1] - window[0]:.0f}s), kill -9 of daemon"
        f" {victim.number} at +{killed - started:.0f}s holding {held[0]} feeds and {held[1]}"
        f" alerts (after the kill: {len(held_feeds)} feeds, {len(held_alerts)} alerts uncommitted)"
        f"\n  polls: {sum(len(p) for p in polls)} requests, {len(late)} due times checked"
        f" ({len(unparsable)} unparsable feeds left out), lateness p50/p99/max"
        f" {percentile(late, 50):.1f}/{percentile(late, 99):.1f}/{max(late, default=0):.1f}s;"
        f" due times polled twice: {len(tolerated)} held by the dead daemon (tolerated),"
        f" {len(doubled)} others; never polled: {len(missed)}; dead daemon's feeds polled"
        f" after the kill: {len(taken_over)}/{len(held_feeds)}; storage_failed log lines"
        f" (retried): {storage_failed}; survivors' claims run out unpolled: {handed_back},"
        f" outcomes dropped (lease run out after the poll): {dropped}"
        f"\n  alerts: {len(server.injected)} injected items, {len(by_item)} alerted,"
        f" {len(lost)} lost, {len(two_ids)} under two ids; {len(receiver.requests)} requests,"
        f" {len(alerts)} ids, resent with the same id: {len(resent)}"
        f" ({len(resent_held)} held by the dead daemon); outbox {dict(pending)}"
        f"\n  monitor status: {live_before} live before the kill, {live_after} after"
    )

    assert late and not doubled, f"due times polled twice: {doubled[:10]}"
    assert not missed, f"due times never polled: {missed[:10]}"
    assert held_feeds <= taken_over, f"not taken over: {sorted(held_feeds - taken_over)}"
    assert still_held == (0,)
    assert server.injected and not lost, f"{len(lost)} items never alerted: {lost[:10]}"
    assert not two_ids, f"items alerted under two ids: {list(two_ids.items())[:5]}"
    assert set(resent) <= held_alerts, f"resent though not held by the dead daemon: {resent}"
    assert all(n == 2 for n in resent.values()), f"sent more than twice: {resent}"
    assert dict(pending).keys() <= {"sent"}, f"outbox not drained: {pending}"
    assert live_after == DAEMONS - 1, (
        f"`monitor status` lists {live_after} live daemons {status_at - killed:.0f}s after a"
        f" kill -9 of one of {DAEMONS}:\n{shown_after}"
    )


def test_daemons_starting_together_on_an_empty_database_all_sync_the_schedule(
    pg_url: str,
) -> None:
    slots = [
        FeedSlot(
            name=f"feed-{i}",
            url=f"http://127.0.0.1:9/feed/{i}",
            host="127.0.0.1",
            interval=INTERVAL,
            min_interval=INTERVAL,
            max_interval=INTERVAL,
        )
        for i in range(FEEDS)
    ]
    stores = [open_store(pg_url) for _ in range(DAEMONS)]
    together = threading.Barrier(DAEMONS)
    failures: list[StorageError] = []

    def start(store: Store) -> None:
        together.wait()
        now = time.time()
        try:
            store.sync_feeds(slots, now=now, first_due=first_due(now))
        except StorageError as e:
            failures.append(e)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(stores[0].feed_states()) == FEEDS
    finally:
        for s in stores:
            s.close()
    if failures:
        raise failures[0]
