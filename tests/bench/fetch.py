"""Hostile HTTP cases against a tree's `monitor.fetch`: time, peak memory, event loop, outcome.

    python tests/bench/fetch.py [--tree PATH] [--case NAME ...] 2>/dev/null

Serves each case from a real local site on 127.0.0.1 (tests/support/site.py) and runs the
client in a child process whose `monitor` package comes from --tree (default: this tree), so
the same cases measure main's code and a branch's. For each case it prints the wall time of
the fetch, the child's peak RSS (ru_maxrss from os.wait4; about 60 MB of it is interpreter
and imports, see the `baseline` case), the peak that tracemalloc saw allocated during the
fetch, the longest gap of a 10 ms ticker task (how long the event loop was held) and the
outcome: the exception type and message, or `ok <bytes>`. A password in a shown message is
flagged. Each child fetches a small feed first, unmeasured (imports done on first use).
Nothing leaves the machine: every case is a local server or a URL that fails before any
connection. The site's threads print a traceback when a client hangs up mid-body;
`2>/dev/null` hides them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.site import NewsSite, Resource, compressed_zeros  # noqa: E402

SECRET = "hunter2-Sw0rdfish"
MIB = 1 << 20
CHILD = r"""
import asyncio, json, sys, time, tracemalloc
import monitor.fetch as fetch

kind, url, timeout, warm = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), sys.argv[4]

async def main():
    fetcher = fetch.Fetcher()
    await fetcher.fetch_feed(warm, timeout=5)  # first-request imports and setup, not measured
    gaps = [0.0]
    async def tick():
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps[0] = max(gaps[0], now - last - 0.01)
            last = now
    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        if kind == "feed":
            result = await fetcher.fetch_feed(url, timeout=timeout)
        else:
            loopback = (ip_network("127.0.0.0/8"),)
            result = await fetcher.fetch_page(url, timeout=timeout, allow_networks=loopback)
        outcome = f"ok {len(result.body)} bytes"
    except BaseException as e:
        outcome = f"{type(e).__name__}: {e}"
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    await asyncio.sleep(0.05)  # the ticker records the gap that ends here
    ticker.cancel()
    await fetcher.aclose()
    print(json.dumps({"seconds": elapsed, "gap": gaps[0], "outcome": outcome, "peak": peak,
                      "module": fetch.__file__}))

asyncio.run(main())
"""


def gzip(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def handcrafted(head: str, body: Iterable[bytes] = ()) -> Callable[[], Iterable[bytes]]:
    def pieces() -> Iterator[bytes]:
        yield head.replace("\n", "\r\n").encode() + b"\r\n"
        yield from body

    return pieces


def endless() -> Iterator[bytes]:
    while True:
        yield b"x" * 65536


@dataclass
class Case:
    kind: str  # feed or page
    path: str  # what the site serves, or a whole URL when it starts with http
    resource: Resource | None = None
    timeout: float = 10.0


def redirect(location: str) -> Resource:
    return Resource(b"", "text/html", status=302, headers={"Location": location})


def cases() -> dict[str, Case]:
    feed = b"<rss version='2.0'><channel><title>t</title></channel></rss>"
    xml = "application/rss+xml"
    bomb = gzip(compressed_zeros(1024))
    return {
        "baseline": Case("feed", "/feed", Resource(feed, xml)),
        "link port 99999": Case("page", "http://127.0.0.1:99999/a"),
        "link http://[x/": Case("page", "http://[x/"),
        "link bad IDNA host": Case("page", "http://xn--ls8h\u2603.example/"),
        "link with CR/LF": Case("page", "http://127.0.0.1:{port}/a\r\nX-Injected: 1"),
        "link with NUL": Case("page", "http://127.0.0.1:{port}/a\x00b"),
        "link empty host": Case("page", "http:///a"),
        "link 100 KB long": Case("page", "http://127.0.0.1:{port}/" + "a" * 100_000),
        "Location port 99999": Case("page", "/r1", redirect("http://127.0.0.1:99999/")),
        "Location http://[x/": Case("page", "/r2", redirect("http://[x/")),
        "Location bad IDNA (UTF-8)": Case(
            "page",
            "/r3",
            Resource(
                b"",
                "",
                raw=handcrafted(
                    "HTTP/1.1 302 Found\nLocation: http://a\u2603b.example/\nContent-Length: 0\n"
                ),
            ),
        ),
        "Location with NUL": Case(
            "page",
            "/r4",
            Resource(
                b"", "", raw=handcrafted("HTTP/1.1 302 Found\nLocation: /a\0b\nContent-Length: 0\n")
            ),
        ),
        "feed gzip,gzip 1 GiB": Case(
            "feed", "/bomb", Resource(bomb, xml, headers={"Content-Encoding": "gzip, gzip"})
        ),
        "page deflate 1 GiB": Case(
            "page",
            "/deflate",
            Resource(
                compressed_zeros(1024, "zlib"), "text/html", headers={"Content-Encoding": "deflate"}
            ),
        ),
        "page raw deflate 1 GiB": Case(
            "page",
            "/rawdeflate",
            Resource(
                compressed_zeros(1024, "raw"), "text/html", headers={"Content-Encoding": "deflate"}
            ),
        ),
        "feed gzip x3 1 GiB": Case(
            "feed",
            "/triple",
            Resource(gzip(bomb), xml, headers={"Content-Encoding": "gzip, gzip, gzip"}),
        ),
        "feed Content-Encoding br": Case(
            "feed", "/br", Resource(feed, xml, headers={"Content-Encoding": "br"})
        ),
        "feed CL 1000, 5 MB sent": Case(
            "feed",
            "/cl-small",
            Resource(
                b"",
                "",
                raw=handcrafted("HTTP/1.1 200 OK\nContent-Length: 1000\n", [b"x" * 5_000_000]),
            ),
        ),
        "feed CL 5000, 100 sent, close": Case(
            "feed",
            "/cl-big",
            Resource(
                b"", "", raw=handcrafted("HTTP/1.1 200 OK\nContent-Length: 5000\n", [b"x" * 100])
            ),
        ),
        "feed endless, no length": Case(
            "feed",
            "/endless",
            Resource(b"", "", raw=handcrafted("HTTP/1.1 200 OK\nConnection: close\n", endless())),
        ),
        "page slow drip": Case(
            "page", "/drip", Resource(b"y" * 4096, "text/html", drip=0.2), timeout=1.0
        ),
        "page 30 MB": Case("page", "/big", Resource(b"z" * 30_000_000, "text/html")),
        "feed 302 to 0.0.0.0 (this host)": Case(
            "feed", "/zero", redirect("http://0.0.0.0:{port}/private"), timeout=3.0
        ),
        "feed with password, 500": Case(
            "feed",
            f"http://ed:{SECRET}@127.0.0.1:{{port}}/fail",
            Resource(b"no", "text/plain", status=500),
        ),
    }


def run_case(tree: Path, site: NewsSite, name: str, case: Case) -> dict[str, object]:
    site.put("/private", Resource(b"private", "text/plain"))
    warm = site.put("/warm", Resource(b"<rss/>", "application/rss+xml"))
    if case.resource is not None and "Location" in case.resource.headers:
        location = case.resource.headers["Location"].replace("{port}", str(site.port))
        case.resource.headers["Location"] = location
    if case.path.startswith("http"):
        url = case.path.replace("{port}", str(site.port))
        if case.resource is not None:
            site.put("/fail", case.resource)
    else:
        assert case.resource is not None
        url = site.put(case.path, case.resource)
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, case.kind, json.dumps(url), str(case.timeout), warm],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode(errors="replace")
    proc.stdout.close()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    try:
        result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        result = {"seconds": float("nan"), "gap": float("nan"), "peak": 0, "outcome": out[-300:]}
    result["rss_mb"] = usage.ru_maxrss / 1024
    result["case"] = name
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--case", action="append")
    args = parser.parse_args()
    table = cases()
    names = args.case or list(table)
    with NewsSite() as site:
        for name in names:
            result = run_case(args.tree.resolve(), site, name, table[name])
            outcome = str(result["outcome"]).replace("\n", "\\n")
            if SECRET in outcome:
                outcome = "[PASSWORD SHOWN] " + outcome
            print(
                f"{name:32} {result['seconds']:6.2f}s rss {result['rss_mb']:5.0f} MB"
                f" traced {int(result['peak']) / MIB:6.1f} MB"
                f" gap {result['gap']:6.2f}s  {outcome[:150]}",
                flush=True,
            )


if __name__ == "__main__":
    main()
