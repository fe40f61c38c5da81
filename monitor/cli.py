"""Command line: run, check, match, explain, extract, send-test, status."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    return 0
