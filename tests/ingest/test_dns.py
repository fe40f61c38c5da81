"""Article hosts are looked up once per host at a time, answers and failures are kept for a
while, and lookups never run on the executor the HTTP client connects with."""

from __future__ import annotations

import asyncio
import threading

import pytest

from monitor.dns import NEGATIVE_TTL, POSITIVE_TTL, CachingResolver, system_lookup


class Counting:
    """The system's resolver, counting its calls (and the threads they ran on)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.threads: set[str] = set()
        self.delay = delay

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        self.threads.add(threading.current_thread().name)
        if self.delay:
            threading.Event().wait(self.delay)  # a slow name server
        return system_lookup(host, port)


def test_concurrent_lookups_of_one_host_are_one_lookup() -> None:
    lookup = Counting(delay=0.2)
    resolver = CachingResolver(lookup)

    async def main() -> list[list[str]]:
        return await asyncio.gather(*(resolver("localhost", 80) for _ in range(50)))

    answers = asyncio.run(main())
    assert lookup.calls == ["localhost"]
    assert all(a == answers[0] and "127.0.0.1" in a for a in answers)
    assert all(t.startswith("monitor-dns") for t in lookup.threads)
    resolver.close()


def test_failures_are_kept_for_a_while_then_asked_again() -> None:
    now = [1000.0]
    lookup = Counting()
    resolver = CachingResolver(lookup, clock=lambda: now[0])

    async def ask(host: str) -> None:
        await resolver(host, 443)

    for _ in range(3):
        with pytest.raises(OSError):
            asyncio.run(ask("no-such-host.invalid"))
    assert lookup.calls == ["no-such-host.invalid"]
    now[0] += NEGATIVE_TTL + 1
    with pytest.raises(OSError):
        asyncio.run(ask("no-such-host.invalid"))
    assert len(lookup.calls) == 2
    asyncio.run(ask("localhost"))
    now[0] += POSITIVE_TTL - 1
    asyncio.run(ask("localhost"))
    assert lookup.calls.count("localhost") == 1
    now[0] += 2
    asyncio.run(ask("localhost"))
    assert lookup.calls.count("localhost") == 2
    resolver.close()


def test_slow_lookups_leave_the_default_executor_free() -> None:
    resolver = CachingResolver(Counting(delay=1.0))

    async def main() -> float:
        loop = asyncio.get_running_loop()
        slow = [asyncio.ensure_future(resolver(f"h{i}.localhost", 80)) for i in range(20)]
        await asyncio.sleep(0.05)
        started = loop.time()
        await loop.getaddrinfo("127.0.0.1", 80)  # what the HTTP client does to connect
        waited = loop.time() - started
        await asyncio.gather(*slow, return_exceptions=True)
        return waited

    assert asyncio.run(main()) < 0.5
    resolver.close()
