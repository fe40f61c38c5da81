"""Plugins every test can use: the throwaway PostgreSQL server (pg_server, pg_url, db_url)."""

pytest_plugins = ["tests.support.postgres"]
