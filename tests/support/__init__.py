"""Reusable test helpers: real loopback servers live in `receivers`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a sync test (there is no pytest-asyncio)."""
    return asyncio.run(coro)
