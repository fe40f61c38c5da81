"""The schedule in the database: spreading, claiming with leases, per-host caps, outcomes."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from monitor.cadence import (
    MAX_BACKOFF,
    adapted_interval,
    failure_backoff,
    first_due,
    next_after_success,
    slot,
)
from monitor.models import FeedConfig, FeedSlot, PollOutcome
from monitor.store import Store, open_store
from monitor.store.sqlite import MIGRATIONS

T0 = 1_800_000_000.0


def feed(name: str, url: str = "", *, interval: float = 300, **kw: object) -> FeedConfig:
    return FeedConfig(  # type: ignore[arg-type]
        name=name,
        url=url or f"http://h{hash(name) % 3}.example/{name}",
        interval=interval,
        timeout=5,
        **kw,
    )


def sync(store: Store, feeds: list[FeedConfig], now: float = T0) -> int:
    return store.sync_feeds([slot(f) for f in feeds], now=now, first_due=first_due(now))


def ok(name: str, url: str, started: float, **kw: object) -> PollOutcome:
    """An outcome of a poll (a success unless `status` says otherwise)."""
    fields: dict[str, object] = {"status": "ok", "next_check": started + 300, "interval": 300.0}
    fields.update(kw)
    return PollOutcome(name=name, url=url, started=started, **fields)  # type: ignore[arg-type]


def test_ten_thousand_new_feeds_are_spread_over_their_interval(store: Store) -> None:
    feeds = [feed(f"f{i}", f"http://127.0.0.1/feed/{i}") for i in range(10_000)]
    assert sync(store, feeds) == 10_000
    due = [s.next_check.timestamp() for s in store.feed_states() if s.next_check]
    assert len(due) == 10_000
    assert min(due) >= T0 and max(due) <= T0 + 300
    assert max(due) - min(due) > 290  # the whole interval is used
    per_10s = Counter(int((d - T0) // 10) for d in due)
    assert len(per_10s) == 30 and max(per_10s.values()) < 2 * 10_000 / 30  # no burst


def test_one_new_feed_is_polled_within_a_second(store: Store) -> None:
    sync(store, [feed("only", interval=3600)])
    state = store.feed_state("only")
    assert state is not None and state.next_check is not None
    assert T0 <= state.next_check.timestamp() <= T0 + 1


def test_a_restart_resumes_the_stored_due_times(store: Store) -> None:
    feeds = [feed(f"f{i}") for i in range(50)]
    sync(store, feeds)
    (c,) = store.claim_due(T0 + 400, 1, "a", lease=60)
    store.record_polls([ok(c.name, c.url, T0 + 400, next_check=T0 + 1_500)])
    (d,) = store.claim_due(T0 + 400, 1, "a", lease=60)
    store.record_polls(
        [ok(d.name, d.url, T0 + 400, status="failed", error="e", next_check=T0 + 80_000)]
    )
    before = {s.name: s.next_check for s in store.feed_states()}
    sync(store, feeds, now=T0 + 500)  # the service starts again
    after = {s.name: s.next_check for s in store.feed_states()}
    assert after == before
    assert after[c.name] is not None and after[c.name].timestamp() == T0 + 1_500
    assert after[d.name] is not None and after[d.name].timestamp() == T0 + 80_000  # backoff


def test_a_shortened_interval_takes_effect_at_the_reload(store: Store) -> None:
    sync(store, [feed("F", interval=86_400)])
    (c,) = store.claim_due(T0 + 10, 1, "a", lease=60)
    store.record_polls([ok(c.name, c.url, T0 + 10, next_check=T0 + 86_410, interval=86_400.0)])
    sync(store, [feed("F", interval=60)], now=T0 + 20)
    state = store.feed_state("F")
    assert state is not None and state.next_check is not None
    assert state.next_check.timestamp() <= T0 + 21 and state.interval == 60


def test_claims_take_the_earliest_due_first_and_hold_a_lease(store: Store) -> None:
    sync(store, [feed(f"f{i}", interval=60) for i in range(20)])
    for i in range(20):
        store._query("UPDATE feeds SET next_check = ? WHERE name = ?", (T0 + 100 - i, f"f{i}"))
    first = store.claim_due(T0 + 90, 5, "a", lease=60)
    assert [c.name for c in first] == ["f19", "f18", "f17", "f16", "f15"]
    assert [c.name for c in store.claim_due(T0 + 90, 100, "b", lease=60)] == [
        f"f{i}" for i in range(14, 9, -1)
    ]  # leased ones are not claimed twice; f9 and before are not due yet
    assert store.claim_due(T0 + 90, 100, "c", lease=60) == []
    # a lease left by an owner that died runs out
    again = store.claim_due(T0 + 90 + 61, 100, "c", lease=60)
    assert {c.name for c in again} >= {c.name for c in first}


def test_a_claim_takes_at_most_per_host_of_one_host_and_skips_paused_hosts(store: Store) -> None:
    feeds = [feed(f"a{i}", f"http://a.example/{i}") for i in range(10)]
    feeds += [feed(f"b{i}", f"http://b.example/{i}") for i in range(10)]
    sync(store, feeds)
    claims = store.claim_due(T0 + 400, 100, "o", lease=60, per_host=3)
    assert Counter(c.host for c in claims) == {"a.example": 3, "b.example": 3}
    claims = store.claim_due(T0 + 400, 100, "o", lease=60, skip_hosts=["a.example"])
    assert {c.host for c in claims} == {"b.example"} and len(claims) == 7


def test_feeds_removed_from_the_config_are_kept_but_never_claimed(store: Store) -> None:
    sync(store, [feed("stay"), feed("go")])
    sync(store, [feed("stay")])
    assert {c.name for c in store.claim_due(T0 + 1000, 10, "o", lease=60)} == {"stay"}
    gone = store.feed_state("go")
    assert gone is not None and not gone.active


def test_outcomes_keep_validators_count_health_and_free_the_lease(store: Store) -> None:
    f = feed("F", "http://x.example/f")
    sync(store, [f])
    (c,) = store.claim_due(T0 + 400, 1, "o", lease=600)
    store.record_polls(
        [ok("F", f.url, T0 + 400, etag='"e1"', last_modified="LM", new_items=3, lateness=2.0)]
    )
    (c,) = store.claim_due(T0 + 700, 1, "o", lease=600)  # the lease went with the outcome
    assert (c.etag, c.last_modified) == ('"e1"', "LM")
    store.record_polls([ok("F", f.url, T0 + 700, status="not_modified", lateness=4.0)])
    state = store.feed_state("F")
    assert state is not None and state.etag == '"e1"'  # a 304 sends none: the old ones stay
    assert (state.polls, state.not_modified, state.new_items) == (2, 1, 3)
    assert state.last_new_item is not None and state.last_new_item.timestamp() == T0 + 400
    assert state.last_lateness == 4.0 and state.mean_lateness == 3.0
    store.record_polls(
        [ok("F", f.url, T0 + 1000, status="failed", error="boom", next_check=T0 + 2000)]
    )
    store.record_polls(
        [ok("F", f.url, T0 + 2000, status="failed", error="boom2", next_check=T0 + 4000)]
    )
    state = store.feed_state("F")
    assert state is not None and state.consecutive_failures == 2 and state.failures == 2
    assert state.last_error == "boom2" and state.last_status == "failed"
    assert store.failing_since("F") is not None
    store.record_polls([ok("F", f.url, T0 + 4000, keep_validators=False)])  # a backlog left
    state = store.feed_state("F")
    assert state is not None and state.consecutive_failures == 0 and state.etag is None


def test_a_gone_feed_is_not_claimed_until_its_url_changes(store: Store) -> None:
    sync(store, [feed("F", "http://x.example/old")])
    store.record_polls(
        [
            ok(
                "F",
                "http://x.example/old",
                T0,
                status="gone",
                error="HTTP 410 Gone",
                next_check=T0 + MAX_BACKOFF,
            )
        ]
    )
    store._query("UPDATE feeds SET next_check = ?", (T0,))
    assert store.claim_due(T0 + 10, 10, "o", lease=60) == []
    state = store.feed_state("F")
    assert state is not None and state.gone
    sync(store, [feed("F", "http://x.example/new")], now=T0 + 20)  # the operator edits it
    (c,) = store.claim_due(T0 + 100, 10, "o", lease=60)
    assert c.poll_url == "http://x.example/new"


def test_a_permanent_redirect_is_polled_at_its_new_url(store: Store) -> None:
    sync(store, [feed("F", "http://x.example/old")])
    store.record_polls(
        [ok("F", "http://x.example/old", T0, moved_to="http://x.example/new", etag='"n"')]
    )
    store._query("UPDATE feeds SET next_check = ?", (T0,))
    (c,) = store.claim_due(T0 + 10, 10, "o", lease=60)
    assert (c.url, c.poll_url, c.etag) == ("http://x.example/old", "http://x.example/new", '"n"')


def test_a_database_of_schema_3_keeps_its_feeds_and_their_state(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:3]:
        db.executescript(script.script)
    db.execute("PRAGMA user_version = 3")
    db.execute(
        "INSERT INTO feeds (name, url, etag, next_check, consecutive_failures, last_error)"
        " VALUES ('F', 'http://x.example/f', '\"e\"', ?, 2, 'boom')",
        (T0 + 50,),
    )
    db.commit()
    db.close()
    store = open_store(path)
    sync(store, [feed("F", "http://x.example/f")])
    state = store.feed_state("F")
    assert state is not None and state.consecutive_failures == 2 and state.etag == '"e"'
    (c,) = store.claim_due(T0 + 60, 10, "o", lease=60)
    assert (c.name, c.due, c.etag, c.host) == ("F", T0 + 50, '"e"', "x.example")


def test_the_next_poll_keeps_the_feeds_phase() -> None:
    assert next_after_success(due=1000, started=1003, interval=60) == 1060  # 3 s late: kept
    assert next_after_success(due=1000, started=1100, interval=60) == 1160  # a whole interval


def test_server_hints_set_the_interval_within_the_operators_bounds() -> None:
    f = feed("F", interval=300)
    assert adapted_interval(f, (None, None)) == 300
    assert adapted_interval(f, (60.0, None)) == 300  # never faster than the interval
    assert adapted_interval(f, (900.0, 600.0)) == 900  # the longest hint
    assert adapted_interval(f, (86_400.0, None)) == 1800  # held to max(interval, 30 min)
    bounded = feed("G", interval=300, min_interval=30.0, max_interval=3600.0)
    assert adapted_interval(bounded, (60.0, None)) == 60
    assert adapted_interval(bounded, (7200.0, None)) == 3600


def test_failing_feeds_back_off_up_to_a_day_and_are_never_dropped() -> None:
    delays = [failure_backoff(60, n) for n in range(1, 40)]
    assert all(54 <= d <= MAX_BACKOFF for d in delays)
    assert delays[-1] >= 0.9 * MAX_BACKOFF
    assert all(b >= a * 0.9 for a, b in itertools.pairwise(delays))


def test_feed_slot_holds_the_interval_within_its_bounds() -> None:
    s = slot(feed("F", "http://Example.ORG:8080/x", interval=10, min_interval=60.0))
    assert s == FeedSlot("F", "http://Example.ORG:8080/x", "example.org", 60.0, 60.0, 1800.0)


def test_status_shows_each_feeds_health_from_its_row(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    sync(store, [feed("Wire", "http://x.example/wire"), feed("Moved", "http://x.example/old")])
    store.record_polls(
        [
            ok("Wire", "http://x.example/wire", T0, new_items=4, lateness=3.0),
            ok("Wire", "http://x.example/wire", T0 + 300, status="not_modified", lateness=1.0),
            ok("Moved", "http://x.example/old", T0, moved_to="http://x.example/new"),
        ]
    )
    store.close()
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "--db", db_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (wire,) = [line for line in result.stdout.splitlines() if "Wire:" in line]
    assert "polls 2 (304: 1, failed: 0), new items 4 (last 2027-01-15T08:00:00+00:00;" in wire
    assert "late 1.0s (mean 2.0s)" in wire and "every 300s, next 2027-01-15T08:10:00" in wire
    (moved,) = [line for line in result.stdout.splitlines() if "Moved:" in line]
    assert "MOVED to http://x.example/new (update feeds.yaml)" in moved
