"""The shared feed server (../shared/bench/ingest/feed_server.py) as a subprocess, and a
replica of its feeds that knows which items each change injected.

The server picks the feeds a change touches with `random.sample` on its global generator.
It is started with that generator seeded, and the replica, built from the same script's
`Feeds` class and corpus, draws from a `random.Random` with the same seed: calling
`/_cycle` and the replica's `change` in step, the bench knows every injected item
(feed index, version) and when it appeared, without requesting any feed itself (which
would count as a poll). `verify()` compares the server's ETags with the replica's once
the daemon has stopped.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.support.receivers import free_port

LAUNCH = (
    "import random, runpy, sys; random.seed(int(sys.argv[1])); sys.argv = sys.argv[2:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _load_script(script: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("feed_server", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FeedServer:
    def __init__(self, shared: Path, feeds: int, *, log: Path, seed: int, max_seconds: float):
        self.script = shared / "bench/ingest/feed_server.py"
        self.corpus = shared / "corpus/feeds"
        self.feeds = feeds
        self.port = free_port()
        self.seed = seed
        self.max_seconds = max_seconds
        self.log = log
        self.injected: dict[tuple[int, int], float] = {}  # (feed, version) -> change time
        module = _load_script(self.script)
        module.random = random.Random(seed)  # type: ignore[attr-defined]
        self._replica: Any = module.Feeds(module.load_corpus(str(self.corpus)), feeds, self.port)
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/feed/{i}"

    def __enter__(self) -> FeedServer:
        command = [sys.executable, "-c", LAUNCH, str(self.seed), str(self.script), str(self.corpus)]
        command += ["--feeds", str(self.feeds), "--port", str(self.port)]
        command += ["--max-seconds", str(self.max_seconds)]
        with self.log.open("ab") as err:
            self._proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith(b"serving"):
            self.__exit__()
            raise RuntimeError(f"feed_server.py did not start (see {self.log})")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _get(self, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, target)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = json.loads(self._get("/_stats")[2])
        return stats

    def polls(self) -> list[list[float]]:
        polls: list[list[float]] = json.loads(self._get("/_polls")[2])["polls"]
        return polls

    def cycle(self, frac: float) -> tuple[float, int]:
        """Change `frac` of the feeds now; returns the time and the number of injected items."""
        before = list(self._replica.version)
        sent = time.time()
        changed = json.loads(self._get(f"/_cycle?frac={frac}")[2])["changed"]
        at = (sent + time.time()) / 2
        if self._replica.change(frac) != changed:
            raise RuntimeError("the replica of feed_server.py is out of step")
        corpus = self._replica.corpus
        fresh = [
            (i, v)
            for i, (old, v) in enumerate(zip(before, self._replica.version, strict=True))
            if v != old and corpus[i % len(corpus)][2] is not None
        ]
        self.injected.update((key, at) for key in fresh)
        return at, len(fresh)

    def verify(self, limit: int = 20) -> bool:
        """True when the server's ETags agree with the replica (feeds it changed, up to limit)."""
        changed = [i for i, v in enumerate(self._replica.version) if v][:limit]
        for i in changed:
            _, headers, _ = self._get(f"/feed/{i}", method="HEAD")
            if headers.get("ETag", "").encode() != self._replica.etag(i):
                return False
        return True
