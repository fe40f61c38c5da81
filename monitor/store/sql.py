"""The SQL both backends share: every query of every role, written once.

The statements are in the SQL that SQLite 3.35+ and PostgreSQL 13+ both read (``?``
placeholders, which the PostgreSQL backend turns into its own; ``INSERT … ON CONFLICT DO
NOTHING``; ``RETURNING``). Where the two differ, a backend says how in a few class
attributes (`LEAST`, `GREATEST`, `ROW_ORDER`, `SKIP_LOCKED`) or by overriding one method
(`_claim_feeds`, `_serialise_channels`). A backend supplies the connection: `_query` for
reads and `_tx` for one write transaction, committed whole or rolled back whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from monitor.deliver.ids import alert_id
from monitor.models import (
    Alert,
    Claim,
    Document,
    FeedSlot,
    FeedState,
    Item,
    Match,
    PollOutcome,
)
from monitor.store.inbox import InboxQueries
from monitor.store.protocols import NoiseView, Outcome, Planner
from monitor.store.rows import (
    AttemptRow,
    ChannelActivity,
    DaemonInfo,
    DaemonRow,
    ItemProblemRow,
    NoticeState,
    OutboxRow,
    Queued,
    Renewal,
    RuleActivity,
    StoredArticle,
)

# Item problems keep this much of an error message (the text can come from a stranger's page).
ERROR_CHARS = 2000


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Conn(Protocol):
    """The part of a DB-API connection the shared SQL uses, inside a transaction."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _kept_row(s: FeedSlot, now: float, due: float) -> tuple[Any, ...]:
    """`sync_feeds`' parameters for a feed already scheduled (see its UPDATE)."""
    return (
        s.host,
        s.interval,
        s.min_interval,
        s.max_interval,
        due,
        now + s.max_interval,
        due,
        s.name,
    )


def follow_up_id(alert: Alert) -> str:
    """The id of the alert telling `alert`'s story again for the feeds it lists, once the
    first alert of that story went out without them (stable, like every alert id)."""
    return alert_id("\x1f".join((alert.article_id, *alert.sources)), alert.channel)


def _alerts(alerts: Sequence[Alert | Queued]) -> Iterator[Alert]:
    return (a if isinstance(a, Alert) else a.alert for a in alerts)


def send_now(alert: Alert, view: NoiseView) -> Queued:
    """The plan without a noise policy: every alert goes out on its own, now."""
    return Queued(alert)


class _TxNoise:
    """`NoiseView` on an open transaction."""

    def __init__(self, db: Conn) -> None:
        self._db = db

    def recent_alerts(self, rule: str, channel: str, *, since: float) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM alert_rules WHERE rule = ? AND channel = ? AND created >= ?"
            " AND batched = 0",
            (rule, channel, since),
        ).fetchone()
        return int(row[0])

    def batch_due(self, channel: str, batch: str) -> float | None:
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM outbox WHERE channel = ? AND batch = ?"
            " AND status = 'pending' AND lease_until IS NULL",
            (channel, batch),
        ).fetchone()
        return float(row[0]) if row is not None and row[0] is not None else None


class SqlStore(InboxQueries):
    """Every role's SQL over a backend's connection (see the module docstring)."""

    LEAST = "min"  # the two-argument minimum and maximum of the dialect
    GREATEST = "max"
    ROW_ORDER = "rowid"  # the outbox's insertion order
    SKIP_LOCKED = ""  # how a claiming SELECT passes over rows another transaction holds
    concurrency = 1

    readonly: bool

    @property
    def location(self) -> str:
        raise NotImplementedError

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _tx(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def _take_turns(self, db: Conn, subjects: Sequence[str]) -> None:
        """Make concurrent transactions about the same `subjects` take turns until commit
        (the noise policy counts, then inserts; a sync reads, then writes). SQLite's write
        lock already does."""

    @property
    def schema_version(self) -> int:
        raise NotImplementedError

    def integrity_check(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ feeds

    _FEED_COLUMNS = (
        "name, url, etag, last_modified, last_success, last_attempt, next_check,"
        " consecutive_failures, last_error, interval, last_status, moved_to, gone, active,"
        " polls, not_modified, new_items, last_new_item, failures, last_lateness, lateness_sum"
    )

    def feed_state(self, name: str) -> FeedState | None:
        rows = self._query(f"SELECT {self._FEED_COLUMNS} FROM feeds WHERE name = ?", (name,))
        return self._feed_row(rows[0]) if rows else None

    def feed_states(self) -> list[FeedState]:
        rows = self._query(f"SELECT {self._FEED_COLUMNS} FROM feeds ORDER BY name")
        return [self._feed_row(r) for r in rows]

    @staticmethod
    def _feed_row(r: tuple[Any, ...]) -> FeedState:
        polls = int(r[14])
        return FeedState(
            name=r[0],
            url=r[1],
            etag=r[2],
            last_modified=r[3],
            last_success=_ts(r[4]),
            last_attempt=_ts(r[5]),
            next_check=_ts(r[6]),
            consecutive_failures=r[7],
            last_error=r[8],
            interval=r[9],
            last_status=r[10],
            moved_to=r[11],
            gone=bool(r[12]),
            active=bool(r[13]),
            polls=polls,
            not_modified=r[15],
            new_items=r[16],
            last_new_item=_ts(r[17]),
            failures=r[18],
            last_lateness=r[19],
            mean_lateness=r[20] / polls if polls else None,
        )

    def failing_since(self, name: str) -> datetime | None:
        rows = self._query("SELECT failing_since FROM feeds WHERE name = ?", (name,))
        return _ts(rows[0][0]) if rows else None

    def sync_feeds(
        self,
        feeds: Sequence[FeedSlot],
        *,
        now: float,
        first_due: Callable[[FeedSlot, int], float],
    ) -> int:
        """Make the feeds table hold exactly these feeds as active (a start or a reload).

        A feed new to the table is first due at `first_due(slot, count)` (`count`: how many
        are placed at once), so that due times spread out rather than all falling at once.
        A feed whose URL changed in feeds.yaml starts afresh (validators, a permanent
        redirect, a 410 are forgotten) and is due at `first_due` too. Stored due times of
        the others stay (a restart resumes the schedule, backoffs included), but a feed in
        good health is due within one `slot.max_interval` (the operator shortened it).
        Feeds no longer listed are kept (their history) but never claimed. Returns how many
        feeds were added.
        """
        wanted = {slot.name: slot for slot in sorted(feeds, key=lambda slot: slot.name)}
        least, greatest = self.LEAST, self.GREATEST
        with self._tx() as db:
            self._take_turns(db, ["sync_feeds"])  # daemons starting together: one at a time
            stored = {
                r[0]: (r[1], r[2])
                for r in db.execute("SELECT name, url, active FROM feeds").fetchall()
            }
            # rows are written in name order, as `record_polls` writes them: no deadlock
            retired = sorted(n for n, (_, active) in stored.items() if active and n not in wanted)
            db.executemany("UPDATE feeds SET active = 0 WHERE name = ?", [(n,) for n in retired])
            added = [s for s in wanted.values() if s.name not in stored]
            moved = [s for s in wanted.values() if s.name in stored and stored[s.name][0] != s.url]
            placed = len(added) + len(moved)
            db.executemany(
                "INSERT INTO feeds (name, url, host, interval, next_check, active)"
                " VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                [(s.name, s.url, s.host, s.interval, first_due(s, placed)) for s in added],
            )
            db.executemany(
                "UPDATE feeds SET url = ?, host = ?, interval = ?, next_check = ?, active = 1,"
                " etag = NULL, last_modified = NULL, moved_to = NULL, gone = 0, body_hash = NULL,"
                " consecutive_failures = 0, failing_since = NULL, last_error = NULL"
                " WHERE name = ?",
                [(s.url, s.host, s.interval, first_due(s, placed), s.name) for s in moved],
            )
            kept = [s for s in wanted.values() if s.name in stored and stored[s.name][0] == s.url]
            db.executemany(
                "UPDATE feeds SET active = 1, host = ?,"
                f" interval = {least}({greatest}({greatest}(coalesce(ttl, 0), ?), ?), ?),"
                " next_check = CASE WHEN next_check IS NULL THEN ?"
                "   WHEN next_check > ? AND consecutive_failures = 0"
                "   AND coalesce(last_status, '') != 'rate_limited' THEN ? ELSE next_check END"
                " WHERE name = ?",
                [_kept_row(s, now, first_due(s, 1)) for s in kept],
            )
        return len(added)

    def claim_due(
        self,
        now: float,
        limit: int,
        owner: str,
        *,
        lease: float,
        per_host: int | None = None,
        skip_hosts: Sequence[str] = (),
        names: Sequence[str] = (),
    ) -> list[Claim]:
        """Take up to `limit` feeds due by `now`, earliest first, for `owner` until `now +
        lease` (another owner cannot take them meanwhile; a lease left by a process that
        died runs out): at most `per_host` of one host, none of `skip_hosts`. With `names`,
        those feeds, due or not (``run --once``).

        On PostgreSQL the same statement selects with FOR UPDATE SKIP LOCKED.
        """
        if names:
            where = f"name IN ({','.join('?' * len(names))})"
            params: list[Any] = [*names]
        else:
            where = "next_check <= ?"
            params = [now]
        if skip_hosts:
            where += f" AND coalesce(host, '') NOT IN ({','.join('?' * len(skip_hosts))})"
            params += skip_hosts
        with self._tx() as db:
            rows = self._claim_feeds(
                db, where, [owner, now + lease, *params, now, per_host or limit, limit]
            )
        claims = [
            Claim(
                name=r[0],
                url=r[1],
                poll_url=r[2],
                due=r[3] if r[3] is not None else now,
                interval=r[4] or 0.0,
                etag=r[5],
                last_modified=r[6],
                failures=r[7],
                body_hash=r[8],
                host=r[9],
                ttl=r[10],
            )
            for r in rows
        ]
        claims.sort(key=lambda c: c.due)
        return claims

    def _claim_feeds(self, db: Conn, where: str, params: list[Any]) -> list[Any]:
        """Lease the due feeds `where` selects (parameters: owner, lease end, `where`'s own,
        now, per host, limit); returns their claim columns."""
        return db.execute(
            "UPDATE feeds SET claimed_by = ?, lease_until = ? WHERE name IN ("
            " SELECT name FROM (SELECT name, next_check, row_number() OVER"
            "   (PARTITION BY host ORDER BY next_check) AS nth"
            f"  FROM feeds WHERE active = 1 AND gone = 0 AND {where}"
            "  AND (lease_until IS NULL OR lease_until <= ?)) AS due"
            " WHERE nth <= ? ORDER BY next_check LIMIT ?)"
            f" RETURNING {self._CLAIM_COLUMNS}",
            params,
        ).fetchall()

    _CLAIM_COLUMNS = (
        "name, url, coalesce(moved_to, url), next_check, interval, etag, last_modified,"
        " consecutive_failures, body_hash, coalesce(host, ''), ttl"
    )

    def record_polls(self, outcomes: Sequence[PollOutcome], *, owner: str | None = None) -> int:
        """Write what polls did (a batch, one transaction) and free their claims.

        With `owner`, a poll whose feed is claimed by another daemon now (this one's lease
        ran out, and the other took the feed over) is left out: the row is the other's; so is
        a "postponed" one (a claim handed back unpolled) whose claim is no longer this
        owner's: another daemon may have polled the feed since. Returns how many outcomes
        were written.
        """
        written = 0
        with self._tx() as db:
            for o in sorted(outcomes, key=lambda o: o.name):  # rows locked in name order
                written += self._record_poll(db, o, owner)
        return written

    @staticmethod
    def _record_poll(db: Conn, o: PollOutcome, owner: str | None) -> int:
        cur = db.execute(
            "INSERT INTO feeds (name, url, next_check, interval) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET next_check = excluded.next_check,"
            " interval = excluded.interval, claimed_by = NULL, lease_until = NULL"
            " WHERE CAST(? AS TEXT) IS NULL OR feeds.claimed_by = ?"
            " OR (feeds.claimed_by IS NULL AND ? != 'postponed')",
            (o.name, o.url, o.next_check, o.interval, owner, owner, o.status),
        )
        if not cur.rowcount:
            return 0
        if o.status == "postponed":
            return 1
        db.execute(
            "UPDATE feeds SET last_attempt = ?, last_status = ?, polls = polls + 1,"
            " last_lateness = ?, lateness_sum = lateness_sum + ?,"
            " moved_to = coalesce(?, moved_to) WHERE name = ?",
            (o.started, o.status, o.lateness, o.lateness, o.moved_to, o.name),
        )
        if o.status in ("ok", "not_modified", "unchanged"):
            keep = int(o.keep_validators)
            db.execute(
                "UPDATE feeds SET last_success = ?, consecutive_failures = 0,"
                " failing_since = NULL, last_error = NULL,"
                " not_modified = not_modified + ?,"
                " new_items = new_items + ?,"
                " last_new_item = CASE WHEN ? > 0 THEN ? ELSE last_new_item END,"
                " etag = CASE WHEN ? = 0 THEN NULL WHEN ? = 1 THEN ? ELSE coalesce(?, etag) END,"
                " last_modified = CASE WHEN ? = 0 THEN NULL WHEN ? = 1 THEN ?"
                "   ELSE coalesce(?, last_modified) END,"
                " body_hash = CASE WHEN ? = 0 THEN NULL ELSE coalesce(?, body_hash) END,"
                " ttl = CASE WHEN ? = 1 THEN ? ELSE ttl END"
                " WHERE name = ?",
                (
                    o.started,
                    int(o.status == "not_modified"),
                    o.new_items,
                    o.new_items,
                    o.started,
                    keep,
                    int(o.moved_to is not None),
                    o.etag,
                    o.etag,
                    keep,
                    int(o.moved_to is not None),
                    o.last_modified,
                    o.last_modified,
                    keep,
                    o.body_hash,
                    int(o.status == "ok"),
                    o.ttl,
                    o.name,
                ),
            )
        elif o.status == "failed":
            db.execute(
                "UPDATE feeds SET consecutive_failures = consecutive_failures + 1,"
                " failures = failures + 1, failing_since = coalesce(failing_since, ?),"
                " last_error = ? WHERE name = ?",
                (o.started, o.error, o.name),
            )
        else:  # rate_limited, gone: told, not counted as failures
            db.execute(
                "UPDATE feeds SET last_error = ?, gone = ? WHERE name = ?",
                (o.error, int(o.status == "gone"), o.name),
            )
        return 1

    # ------------------------------------------------------------------ items

    def unseen(self, feed: str, keys: Iterable[str]) -> list[str]:
        """The keys of `feed` not processed before, in the order given."""
        wanted = list(dict.fromkeys(keys))
        seen: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0]
                for r in self._query(
                    f"SELECT item_key FROM seen_items WHERE feed = ? AND item_key IN ({marks})",
                    (feed, *chunk),
                )
            )
        return [k for k in wanted if k not in seen]

    def mark_seen(self, feed: str, items: Sequence[tuple[str, str]], *, now: float) -> None:
        """Record (item key, article id) pairs of `feed` as seen without reading them (items
        older than the feed's max_age)."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO seen_items (feed, item_key, article_id, first_seen)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(feed, key, article, now) for key, article in items],
            )

    def record_item(
        self,
        item: Item,
        doc: Document,
        matches: Sequence[Match],
        evidence: Sequence[dict[str, Any]],
        alerts: Sequence[Alert | Queued],
        *,
        now: float,
        plan: Planner | None = None,
        sketch: Sequence[int] = (),
    ) -> list[str]:
        """Record a processed item, its article, matches and outbox rows in one transaction.

        Each `Alert` is planned by `plan` (the noise policy: now, in a digest, or in a rule's
        summary) inside this transaction, on counts no other recorder can change before it
        commits; a `Queued` goes in as it is. Returns the ids of alerts newly queued (an
        alert id already in the outbox, e.g. the same article reached through another feed,
        is not queued twice). An item another daemon recorded first (its claim ran out while
        it worked) is left as that daemon recorded it: nothing is queued.
        """
        queued: list[str] = []
        planner = plan or send_now
        with self._tx() as db:
            first = db.execute(
                "INSERT INTO seen_items (feed, item_key, article_id, first_seen)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (item.feed, item.key, doc.id, now),
            )
            if not first.rowcount:
                return []
            db.execute(
                "INSERT INTO articles (id, feed, url, title, text, published, language,"
                " partial, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    doc.id,
                    item.feed,
                    doc.url,
                    doc.title,
                    doc.text,
                    _epoch(doc.published),
                    doc.language,
                    int(doc.partial),
                    now,
                ),
            )
            db.executemany(
                "INSERT INTO sketches (hash, article_id, created) SELECT ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM sketches WHERE article_id = ? AND hash = ?)",
                [(h, doc.id, now, doc.id, h) for h in sketch],
            )
            for match, ev in zip(matches, evidence, strict=True):
                db.execute(
                    "INSERT INTO matches (article_id, rule, evidence, created)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (doc.id, match.rule, json.dumps(ev, ensure_ascii=False), now),
                )
            self._take_turns(
                db, [f"channel:{c}" for c in sorted({a.channel for a in _alerts(alerts)})]
            )
            view = _TxNoise(db)
            for a in alerts:
                q = a if isinstance(a, Queued) else planner(a, view)
                if self._insert(db, q, now):
                    queued.append(q.alert.id)
                elif not self._add_sources(db, q.alert):
                    # that alert is out already: this feed's item is told on its own
                    later = replace(q, alert=replace(q.alert, id=follow_up_id(q.alert)))
                    if self._insert(db, later, now):
                        queued.append(later.alert.id)
        return queued

    @staticmethod
    def _insert(db: Conn, q: Queued, now: float) -> bool:
        alert = q.alert
        cur = db.execute(
            "INSERT INTO outbox (id, channel, article_id, payload, batch, created,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                alert.id,
                alert.channel,
                alert.article_id,
                json.dumps(alert.to_dict(), ensure_ascii=False),
                q.batch,
                now,
                q.due if q.due is not None else now,
            ),
        )
        if not cur.rowcount:
            return False
        db.executemany(
            "INSERT INTO alert_rules (alert_id, channel, rule, batched, created)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(alert.id, alert.channel, r.name, int(q.batch is not None), now) for r in alert.rules],
        )
        return True

    @staticmethod
    def _add_sources(db: Conn, alert: Alert) -> bool:
        """The same article through another feed: list that feed on the alert not yet sent.
        False when the alert is being sent or was sent (the feed cannot join it)."""
        row = db.execute(
            "SELECT payload FROM outbox WHERE id = ? AND status = 'pending'"
            " AND lease_until IS NULL",
            (alert.id,),
        ).fetchone()
        if row is None:
            return False
        payload = json.loads(row[0])
        sources = list(payload.get("sources") or [payload.get("source")])
        new = [s for s in alert.sources if s not in sources]
        if new:
            payload["sources"] = sources + new
            db.execute(
                "UPDATE outbox SET payload = ? WHERE id = ?",
                (json.dumps(payload, ensure_ascii=False), alert.id),
            )
        return True

    def article_taken(self, feed: str, article_id: str, item_key: str) -> bool:
        """Whether another item of `feed` was already recorded as article `article_id`."""
        rows = self._query(
            "SELECT 1 FROM seen_items WHERE feed = ? AND article_id = ? AND item_key != ? LIMIT 1",
            (feed, article_id, item_key),
        )
        return bool(rows)

    def near_duplicate(self, sketch: Sequence[int], *, since: float, min_shared: int) -> str | None:
        """A recent article whose text sketch shares at least `min_shared` values."""
        if not sketch:
            return None
        marks = ",".join("?" * len(sketch))
        rows = self._query(
            f"SELECT article_id, count(DISTINCT hash) AS shared FROM sketches"
            f" WHERE hash IN ({marks}) AND created >= ? GROUP BY article_id"
            " HAVING count(DISTINCT hash) >= ? ORDER BY shared DESC, min(created), article_id"
            " LIMIT 1",
            (*sketch, since, min_shared),
        )
        return str(rows[0][0]) if rows else None

    def enqueue(self, alert: Alert | Queued, *, now: float) -> bool:
        """Queue one alert on its own (a notice, a test); False if already queued."""
        q = alert if isinstance(alert, Queued) else Queued(alert)
        with self._tx() as db:
            return self._insert(db, q, now)

    # ------------------------------------------------------------------ notices

    def notice_state(self, subject: str) -> NoticeState:
        rows = self._query(
            "SELECT subject, failures, since, notified, last_error FROM notices WHERE subject = ?",
            (subject,),
        )
        return NoticeState(*rows[0]) if rows else NoticeState(subject)

    def save_notice_state(self, state: NoticeState, notice: Alert | None, *, now: float) -> None:
        """Store a subject's failure state and, in the same transaction, queue its notice."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO notices (subject, failures, since, notified, last_error)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET"
                " failures = excluded.failures, since = excluded.since,"
                " notified = excluded.notified, last_error = excluded.last_error",
                (state.subject, state.failures, state.since, state.notified, state.last_error),
            )
            if notice is not None:
                self._insert(db, Queued(notice), now)

    # ------------------------------------------------------------------ item problems

    def record_item_problem(
        self,
        feed: str,
        item_key: str,
        *,
        stage: str,
        error: str,
        outcome: Outcome,
        now: float,
        article_id: str | None = None,
        mark_seen: bool = False,
    ) -> int:
        """Record why an item could not be processed whole; returns how many times it has had
        a problem (the pipeline can give up on it after a few).

        `outcome` is ``partial`` (still matched on the feed's own text) or ``failed`` (not
        matched). The latest problem per (feed, item key) is kept. `mark_seen` also records
        the key as seen, in the same transaction, so the item is not tried again.
        """
        if len(error) > ERROR_CHARS:
            error = error[: ERROR_CHARS - 1] + "\u2026"
        with self._tx() as db:
            if mark_seen:
                db.execute(
                    "INSERT INTO seen_items (feed, item_key, article_id, first_seen)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (feed, item_key, article_id or "", now),
                )
            db.execute(
                "INSERT INTO item_problems (feed, item_key, stage, outcome, error, article_id,"
                " first_at, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (feed, item_key) DO UPDATE SET stage = excluded.stage,"
                " outcome = excluded.outcome, error = excluded.error,"
                " article_id = coalesce(excluded.article_id, item_problems.article_id),"
                " at = excluded.at, occurrences = item_problems.occurrences + 1",
                (feed, item_key, stage, outcome, error, article_id, now, now),
            )
            (count,) = db.execute(
                "SELECT occurrences FROM item_problems WHERE feed = ? AND item_key = ?",
                (feed, item_key),
            ).fetchone()
        return int(count)

    PROBLEMS_SCHEMA = 1  # the schema that made item_problems (a read-only store may be older)
    DAEMONS_SCHEMA = 1  # the schema that made daemons
    STEERING_SCHEMA = 1  # the schema that made rule_mutes and channel_pauses

    def item_problems(self, feed: str | None = None, *, limit: int = 20) -> list[ItemProblemRow]:
        """The latest item problems, newest first (of one feed, or of all)."""
        if self.schema_version < self.PROBLEMS_SCHEMA:
            return []
        cols = "feed, item_key, stage, outcome, error, article_id, first_at, at, occurrences"
        if feed is None:
            rows = self._query(
                f"SELECT {cols} FROM item_problems ORDER BY at DESC, feed, item_key LIMIT ?",
                (limit,),
            )
        else:
            rows = self._query(
                f"SELECT {cols} FROM item_problems WHERE feed = ?"
                " ORDER BY at DESC, item_key LIMIT ?",
                (feed, limit),
            )
        return [ItemProblemRow(*r) for r in rows]

    def item_problem_counts(self, *, since: float) -> dict[str, tuple[int, int]]:
        """Per feed, items with a problem recorded since `since`: (partial, failed)."""
        if self.schema_version < self.PROBLEMS_SCHEMA:
            return {}
        rows = self._query(
            "SELECT feed, sum(CASE WHEN outcome = 'partial' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) FROM item_problems"
            " WHERE at >= ? GROUP BY feed ORDER BY feed",
            (since,),
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def prune(self, *, before: float) -> int:
        """Forget article text, matches, item problems and settled deliveries older than
        `before`.

        Seen-item keys are kept (they stop an old item still in a feed from alerting again),
        and nothing that is still waiting to be sent is touched. Returns articles removed.
        """
        with self._tx() as db:
            old = (
                "SELECT id FROM articles WHERE created < ? AND id NOT IN"
                " (SELECT article_id FROM outbox WHERE status = 'pending')"
            )
            db.execute(f"DELETE FROM matches WHERE article_id IN ({old})", (before,))
            db.execute("DELETE FROM sketches WHERE created < ?", (before,))
            cur = db.execute(f"DELETE FROM articles WHERE id IN ({old})", (before,))
            settled = "SELECT id FROM outbox WHERE status != 'pending' AND created < ?"
            for table, column in (("delivery_attempts", "alert_id"), ("alert_rules", "alert_id")):
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({settled})", (before,))
            db.execute("DELETE FROM outbox WHERE status != 'pending' AND created < ?", (before,))
            db.execute("DELETE FROM item_problems WHERE at < ?", (before,))
            db.execute("DELETE FROM daemons WHERE coalesce(stopped, heartbeat) < ?", (before,))
            return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        out = {"seen_items": 0, "articles": 0, "matches": 0}
        for table in out:
            out[table] = int(self._query(f"SELECT count(*) FROM {table}")[0][0])
        for status, n in self._query("SELECT status, count(*) FROM outbox GROUP BY status"):
            out[f"outbox_{status}"] = int(n)
        return out

    # ------------------------------------------------------------------ outbox

    _OUTBOX_COLS = (
        "id, channel, article_id, payload, batch, status, attempts, created, next_attempt_at,"
        " sent_at, last_error"
    )

    @staticmethod
    def _outbox_row(r: tuple[Any, ...]) -> OutboxRow:
        return OutboxRow(
            id=r[0],
            channel=r[1],
            article_id=r[2],
            alert=Alert.from_dict(json.loads(r[3])),
            batch=r[4],
            status=r[5],
            attempts=r[6],
            created=r[7],
            next_attempt_at=r[8],
            sent_at=r[9],
            last_error=r[10],
        )

    _DUE = (
        "status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)"
    )

    def claim_next(
        self, channel: str, *, now: float, lease: float, owner: str = ""
    ) -> list[OutboxRow]:
        """Lease what `channel` sends next, for `owner` until `now + lease`: its oldest due
        alert, or the whole batch it is in.

        The lease is committed before anything is sent: if the daemon dies mid-send the rows
        become due again when the lease runs out (or at once, when a daemon on its host
        finds it gone) and go out with the same ids.
        """
        order = f"ORDER BY next_attempt_at, created, {self.ROW_ORDER}"
        with self._tx() as db:
            if db.execute("SELECT 1 FROM channel_pauses WHERE channel = ?", (channel,)).fetchone():
                return []  # paused: its alerts wait, due, until it is resumed
            first = db.execute(
                f"SELECT {self._OUTBOX_COLS} FROM outbox WHERE channel = ? AND {self._DUE}"
                f" {order} LIMIT 1{self.SKIP_LOCKED}",
                (channel, now, now),
            ).fetchone()
            if first is None:
                return []
            rows = [first]
            if first[4] is not None:
                rows = db.execute(
                    f"SELECT {self._OUTBOX_COLS} FROM outbox WHERE channel = ? AND batch = ?"
                    f" AND {self._DUE} ORDER BY created, {self.ROW_ORDER}{self.SKIP_LOCKED}",
                    (channel, first[4], now, now),
                ).fetchall()
            db.executemany(
                "UPDATE outbox SET claimed_by = ?, lease_until = ?, attempts = attempts + 1"
                f" WHERE id = ? AND {self._DUE}",
                [(owner, now + lease, r[0], now, now) for r in rows],
            )
        return [replace(self._outbox_row(r), attempts=r[6] + 1) for r in rows]

    # ------------------------------------------------------------------ daemons

    def register_daemon(self, daemon: DaemonInfo, *, now: float, lease: float) -> None:
        """Record a daemon that starts (its id is new: host, pid and a random part); it counts
        as live while it beats at least every `lease` seconds."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO daemons (id, host, pid, version, config_hash, started, heartbeat,"
                " lease) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " config_hash = excluded.config_hash, heartbeat = excluded.heartbeat,"
                " lease = excluded.lease, stopped = NULL",
                (
                    daemon.id,
                    daemon.host,
                    daemon.pid,
                    daemon.version,
                    daemon.config_hash,
                    now,
                    now,
                    lease,
                ),
            )

    def heartbeat(self, daemon: DaemonInfo, *, now: float, lease: float) -> Renewal:
        """The daemon is alive: note it, and renew every claim it still holds to `now +
        lease` (a claim already run out stays out: another daemon may have it). A row being
        written at that moment (a poll's outcome, a send's, another daemon's sync) is passed
        over rather than waited for, and is not renewed. Returns what was renewed."""
        until = now + lease
        renewed: dict[str, list[Any]] = {}
        with self._tx() as db:
            db.execute(
                "UPDATE daemons SET heartbeat = ?, lease = ?, config_hash = ? WHERE id = ?",
                (now, lease, daemon.config_hash, daemon.id),
            )
            for table, key in (("feeds", "name"), ("outbox", "id")):
                renewed[table] = db.execute(
                    f"UPDATE {table} SET lease_until = {self.GREATEST}(lease_until, ?)"
                    f" WHERE {key} IN (SELECT {key} FROM {table}"
                    f" WHERE claimed_by = ? AND lease_until > ?{self.SKIP_LOCKED})"
                    f" RETURNING {key}",
                    (until, daemon.id, now),
                ).fetchall()
        return Renewal(frozenset(r[0] for r in renewed["feeds"]), len(renewed["outbox"]))

    def retire_daemon(self, daemon_id: str, *, now: float) -> int:
        """A daemon that stops cleanly hands back what it holds, so others take it at once.
        Returns how many claims were released."""
        with self._tx() as db:
            db.execute("UPDATE daemons SET stopped = ? WHERE id = ?", (now, daemon_id))
            return self._release(db, "claimed_by = ?", (daemon_id,))

    def release_dead(self, host: str, alive: Callable[[int], bool], *, now: float) -> int:
        """Hand back the claims of daemons of `host` whose process is gone (`alive(pid)`
        is False): a daemon restarted after a crash takes its work back at once instead of
        waiting for the leases to run out. Returns how many claims were released."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, pid FROM daemons WHERE host = ? AND stopped IS NULL", (host,)
            ).fetchall()
            dead = [r[0] for r in rows if not alive(int(r[1]))]
            released = 0
            for daemon_id in dead:
                db.execute("UPDATE daemons SET stopped = ? WHERE id = ?", (now, daemon_id))
                released += self._release(db, "claimed_by = ?", (daemon_id,))
            return released

    @staticmethod
    def _release(db: Conn, where: str, params: Sequence[Any]) -> int:
        cur = db.execute(
            f"UPDATE feeds SET claimed_by = NULL, lease_until = NULL WHERE {where}", params
        )
        released = cur.rowcount
        cur = db.execute(
            "UPDATE outbox SET claimed_by = NULL, lease_until = NULL"
            f" WHERE status = 'pending' AND {where}",
            params,
        )
        return released + cur.rowcount

    def daemons(self, *, now: float, within: float | None = None) -> list[DaemonRow]:
        """Live daemons, newest first, with the claims each holds: not stopped, and beaten
        within their lease (a daemon that stopped beating has lost its claims by then), or
        within `within` seconds when given."""
        if self.schema_version < self.DAEMONS_SCHEMA:
            return []
        rows = self._query(
            "SELECT d.id, d.host, d.pid, d.version, d.config_hash, d.started, d.heartbeat,"
            " d.stopped, d.reloaded, d.reload_problems,"
            " (SELECT count(*) FROM feeds f WHERE f.claimed_by = d.id AND f.lease_until > ?),"
            " (SELECT count(*) FROM outbox o WHERE o.claimed_by = d.id AND o.lease_until > ?"
            "  AND o.status = 'pending')"
            " FROM daemons d WHERE d.stopped IS NULL"
            " AND d.heartbeat >= ? - coalesce(CAST(? AS DOUBLE PRECISION), d.lease)"
            " ORDER BY d.started DESC, d.id",
            (now, now, now, within),
        )
        return [
            DaemonRow(
                id=r[0],
                host=r[1],
                pid=int(r[2]),
                version=r[3],
                config_hash=r[4],
                started=r[5],
                heartbeat=r[6],
                stopped=r[7],
                reloaded=r[8],
                reload_problems=tuple(json.loads(r[9])) if r[9] else (),
                feeds_held=int(r[10]),
                alerts_held=int(r[11]),
            )
            for r in rows
        ]

    def mark_sent(self, ids: Sequence[str], *, now: float, status_code: int | None) -> None:
        """The channel accepted these (one alert, or one batch): never send them again."""
        self._settle(
            ids,
            "sent",
            "status = 'sent', sent_at = ?, last_error = NULL",
            (now,),
            now=now,
            status_code=status_code,
            error=None,
        )

    def mark_retry(
        self,
        ids: Sequence[str],
        *,
        now: float,
        next_attempt_at: float,
        error: str,
        status_code: int | None,
    ) -> None:
        self._settle(
            ids,
            "retry",
            "next_attempt_at = ?, last_error = ?",
            (next_attempt_at, error),
            now=now,
            status_code=status_code,
            error=error,
        )

    def mark_failed(
        self, ids: Sequence[str], *, now: float, error: str, status_code: int | None
    ) -> None:
        self._settle(
            ids,
            "failed",
            "status = 'failed', last_error = ?",
            (error,),
            now=now,
            status_code=status_code,
            error=error,
        )

    def _settle(
        self,
        ids: Sequence[str],
        outcome: str,
        assignments: str,
        values: tuple[Any, ...],
        *,
        now: float,
        status_code: int | None,
        error: str | None,
    ) -> None:
        """End the lease on `ids` with `outcome`, in one transaction, recording each attempt."""
        with self._tx() as db:
            for alert_id in ids:
                db.execute(
                    f"UPDATE outbox SET {assignments}, lease_until = NULL, claimed_by = NULL"
                    " WHERE id = ? AND status = 'pending'",
                    (*values, alert_id),
                )
                self._attempt(db, alert_id, now, outcome, status_code, error)

    @staticmethod
    def _attempt(
        db: Conn,
        alert_id: str,
        now: float,
        outcome: str,
        status_code: int | None,
        error: str | None,
    ) -> None:
        db.execute(
            "INSERT INTO delivery_attempts (alert_id, channel, at, outcome, status_code, error)"
            " SELECT id, channel, ?, ?, ?, ? FROM outbox WHERE id = ?",
            (now, outcome, status_code, error, alert_id),
        )

    def record_reload(self, daemon_id: str, *, now: float, problems: Sequence[str]) -> None:
        """What the daemon's last reload did: took (no problems) or was rejected with these."""
        with self._tx() as db:
            db.execute(
                "UPDATE daemons SET reloaded = ?, reload_problems = ?, heartbeat = ? WHERE id = ?",
                (now, json.dumps(list(problems)) if problems else None, now, daemon_id),
            )

    def rule_activity(self, *, now: float) -> list[RuleActivity]:
        """Per rule that matched in the last week: matches and alerts in the last day and week,
        and its last match."""
        day, week = now - 86400, now - 7 * 86400
        found: dict[str, list[Any]] = {}
        for rule, m_day, m_week, last in self._query(
            "SELECT rule, sum(CASE WHEN created >= ? THEN 1 ELSE 0 END), count(*), max(created)"
            " FROM matches WHERE created >= ? GROUP BY rule",
            (day, week),
        ):
            found[rule] = [int(m_day), int(m_week), 0, 0, float(last)]
        for rule, a_day, a_week in self._query(
            "SELECT rule, sum(CASE WHEN created >= ? THEN 1 ELSE 0 END), count(*)"
            " FROM alert_rules WHERE created >= ? GROUP BY rule",
            (day, week),
        ):
            entry = found.setdefault(rule, [0, 0, 0, 0, None])
            entry[2:4] = [int(a_day), int(a_week)]
        return [RuleActivity(rule, *values) for rule, values in sorted(found.items())]

    def items_per_feed(self, *, since: float) -> dict[str, int]:
        """Items read (articles recorded) per feed since `since`."""
        rows = self._query(
            "SELECT feed, count(*) FROM articles WHERE created >= ? GROUP BY feed", (since,)
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def channel_activity(self, *, now: float) -> list[ChannelActivity]:
        """Per channel with alerts: pending, failed, and sent in the last day."""
        rows = self._query(
            "SELECT channel, sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),"
            " sum(CASE WHEN status = 'sent' AND sent_at >= ? THEN 1 ELSE 0 END)"
            " FROM outbox GROUP BY channel ORDER BY channel",
            (now - 86400,),
        )
        return [ChannelActivity(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    # ------------------------------------------------------------------ steering

    def mute_rule(self, rule: str, *, until: float, now: float) -> None:
        """No alerts from `rule` until `until` (its matches are still recorded)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO rule_mutes (rule, until, at) VALUES (?, ?, ?)"
                " ON CONFLICT (rule) DO UPDATE SET until = excluded.until, at = excluded.at",
                (rule, until, now),
            )

    def unmute_rule(self, rule: str) -> bool:
        """Lift a mute; False when `rule` was not muted."""
        with self._tx() as db:
            return bool(db.execute("DELETE FROM rule_mutes WHERE rule = ?", (rule,)).rowcount)

    def muted_rules(self, *, now: float) -> dict[str, float]:
        """The rules muted at `now`, with when each mute ends."""
        if self.schema_version < self.STEERING_SCHEMA:
            return {}
        rows = self._query("SELECT rule, until FROM rule_mutes WHERE until > ?", (now,))
        return {str(r[0]): float(r[1]) for r in rows}

    def pause_channel(self, channel: str, *, now: float) -> bool:
        """Hold `channel`'s alerts (they queue, nothing is lost); False if already paused."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO channel_pauses (channel, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (channel, now),
            )
            return bool(cur.rowcount)

    def resume_channel(self, channel: str) -> bool:
        """Send `channel`'s alerts again; False when it was not paused."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM channel_pauses WHERE channel = ?", (channel,))
            return bool(cur.rowcount)

    def paused_channels(self) -> dict[str, float]:
        """Paused channels, with since when."""
        if self.schema_version < self.STEERING_SCHEMA:
            return {}
        return {
            str(r[0]): float(r[1]) for r in self._query("SELECT channel, since FROM channel_pauses")
        }

    def send_now(
        self, *, now: float, alert_id: str | None = None, channel: str | None = None
    ) -> int:
        """Make pending alerts due now (one alert, or all of a channel), instead of at their
        next backoff step; returns how many. One being sent right now is left to its send."""
        where = "status = 'pending' AND (lease_until IS NULL OR lease_until <= ?)"
        params: list[Any] = [now, now]
        if alert_id is not None:
            where += " AND id = ?"
            params.append(alert_id)
        if channel is not None:
            where += " AND channel = ?"
            params.append(channel)
        with self._tx() as db:
            cur = db.execute(f"UPDATE outbox SET next_attempt_at = ? WHERE {where}", params)
            return int(cur.rowcount)

    def alert_status(self, alert_id: str) -> str | None:
        """An alert's delivery status (pending, sent, failed), or None for an unknown id."""
        rows = self._query("SELECT status FROM outbox WHERE id = ?", (alert_id,))
        return str(rows[0][0]) if rows else None

    def retry_failed(self, alert_id: str | None = None, *, now: float) -> int:
        """Put failed alerts (one, or all) back in the queue; returns how many."""
        with self._tx() as db:
            if alert_id is None:
                cur = db.execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = ?"
                    " WHERE status = 'failed'",
                    (now,),
                )
            else:
                cur = db.execute(
                    "UPDATE outbox SET status = 'pending', next_attempt_at = ?"
                    " WHERE id = ? AND status = 'failed'",
                    (now, alert_id),
                )
            return int(cur.rowcount)

    def outbox(self, status: str | None = None, limit: int = 50) -> list[OutboxRow]:
        if status:
            rows = self._query(
                f"SELECT {self._OUTBOX_COLS} FROM outbox WHERE status = ?"
                " ORDER BY created DESC LIMIT ?",
                (status, limit),
            )
        else:
            rows = self._query(
                f"SELECT {self._OUTBOX_COLS} FROM outbox ORDER BY created DESC LIMIT ?", (limit,)
            )
        return [self._outbox_row(r) for r in rows]

    def attempts(self, alert_id: str) -> list[AttemptRow]:
        rows = self._query(
            "SELECT alert_id, channel, at, outcome, status_code, error FROM delivery_attempts"
            " WHERE alert_id = ? ORDER BY id",
            (alert_id,),
        )
        return [AttemptRow(*r) for r in rows]

    def next_due(self) -> float | None:
        """When the earliest pending alert is due (None when nothing is pending)."""
        rows = self._query(
            f"SELECT min({self.GREATEST}(next_attempt_at, coalesce(lease_until, 0))) FROM outbox"
            " WHERE status = 'pending'"
            " AND channel NOT IN (SELECT channel FROM channel_pauses)"
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    # ------------------------------------------------------------------ replay

    def articles_since(
        self, since: float, *, until: float, limit: int, after_id: str = ""
    ) -> list[StoredArticle]:
        """Up to `limit` stored articles recorded from `since` to `until`, in id order after
        `after_id`: one page, so that a replay over every stored article never holds more
        than a page of them (the next page starts after the last id of this one)."""
        rows = self._query(
            "SELECT id, feed, url, title, text, published, language, partial, created"
            " FROM articles WHERE id > ? AND created >= ? AND created <= ? ORDER BY id LIMIT ?",
            (after_id, since, until, limit),
        )
        return [
            StoredArticle(
                Document(
                    id=r[0],
                    feed=r[1],
                    url=r[2],
                    title=r[3],
                    text=r[4],
                    published=_ts(r[5]),
                    language=r[6],
                    partial=bool(r[7]),
                ),
                float(r[8]),
            )
            for r in rows
        ]

    def alerted_rules(self, article_ids: Sequence[str]) -> set[tuple[str, str, str]]:
        """(article, rule, channel) for every rule already alerted on a channel about one of
        `article_ids`: queued, sent or failed, on its own or in a batch."""
        found: set[tuple[str, str, str]] = set()
        wanted = list(dict.fromkeys(article_ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._query(
                "SELECT o.article_id, r.rule, r.channel FROM outbox o"
                " JOIN alert_rules r ON r.alert_id = o.id"
                f" WHERE o.article_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((str(r[0]), str(r[1]), str(r[2])) for r in rows)
        return found

    def queue_alerts(self, alerts: Sequence[Alert], *, now: float, plan: Planner) -> list[str]:
        """Queue alerts about articles recorded before (a replay), in one transaction, each
        planned by `plan` (the noise policy, as for an item being recorded). Returns the ids
        newly queued: an id already in the outbox is not queued again."""
        queued: list[str] = []
        with self._tx() as db:
            self._take_turns(db, [f"channel:{c}" for c in sorted({a.channel for a in alerts})])
            view = _TxNoise(db)
            for alert in alerts:
                q = plan(alert, view)
                if self._insert(db, q, now):
                    queued.append(q.alert.id)
        return queued

    def pending_by_channel(self) -> dict[str, int]:
        """How many alerts wait to be sent, per channel (`news_monitor_alerts_pending`)."""
        rows = self._query(
            "SELECT channel, count(*) FROM outbox WHERE status = 'pending' GROUP BY channel"
        )
        return {str(r[0]): int(r[1]) for r in rows}
