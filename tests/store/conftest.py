"""Fixtures for the store tests that open several stores on one database (as several daemons
do)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from monitor.store import Store, open_store


@pytest.fixture
def stores(db_url: str) -> Iterator[Callable[[], Store]]:
    """Opens one more store on the test's database; all are closed at the end."""
    opened: list[Store] = []

    def one() -> Store:
        store = open_store(db_url)
        opened.append(store)
        return store

    yield one
    for store in opened:
        store.close()
