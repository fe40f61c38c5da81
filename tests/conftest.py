"""Fixtures every test can use: the throwaway PostgreSQL server (pg_server, pg_url, db_url)
and `store`, a state database on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.store import Store, open_store

pytest_plugins = ["tests.support.postgres"]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A state database on each backend (see `db_url`), closed after the test."""
    opened = open_store(db_url)
    yield opened
    opened.close()
