"""The few figures the service reports to systemd (``STATUS=``), counted cheaply.

`service_counts` runs every 30 s on the store thread, so it reads only what an index or a
small table answers: the feeds table (one row per feed) for the feeds failing now, and the
outbox's ``(status, next_attempt_at)`` index for the alerts waiting to be sent. It never
counts seen items, articles or matches (`AdminStore.counts` does, for `monitor status`).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.store.protocols import Store
from monitor.store.sql import SqlStore


@dataclass(frozen=True)
class ServiceCounts:
    failing_feeds: int  # feeds in force whose last poll failed
    pending_alerts: int  # alerts not yet sent (waiting for their first try or a retry)


def service_counts(store: Store) -> ServiceCounts:
    assert isinstance(store, SqlStore)  # every backend is one
    ((failing,),) = store._query(
        "SELECT count(*) FROM feeds WHERE active = 1 AND consecutive_failures > 0"
    )
    ((pending,),) = store._query("SELECT count(*) FROM outbox WHERE status = 'pending'")
    return ServiceCounts(failing_feeds=int(failing), pending_alerts=int(pending))
