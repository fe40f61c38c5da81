"""Reusable test helpers: real loopback servers live in `receivers`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a sync test (there is no pytest-asyncio)."""
    return asyncio.run(_settled(coro))


async def _settled(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return await coro
    finally:
        # Let transports closed at the end (e.g. after a failed TLS handshake) finish closing
        # before asyncio.run closes the loop; otherwise they are collected unclosed later and
        # the ResourceWarning fails an unrelated test.
        await asyncio.sleep(0.01)
