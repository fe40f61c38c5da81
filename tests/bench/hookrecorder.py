"""A webhook receiver on 127.0.0.1 that records when each alert arrived and what it said.

Answers every POST with 204 at once. `arrivals` maps each injected item, (feed index,
version) parsed from the alert's title "Injected item V of feed I", to the time
(time.time()) its first alert arrived; resends (same item) keep the first time. Alerts
for other items are counted in `other`, documents that are not alerts in `non_alerts`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INJECTED = re.compile(r"Injected item (\d+) of feed (\d+)")


class HookRecorder:
    def __init__(self) -> None:
        self.arrivals: dict[tuple[int, int], float] = {}
        self.alerts = 0
        self.other = 0
        self.non_alerts = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="hooks"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def record(self, at: float, body: bytes) -> None:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        with self._lock:
            if not isinstance(doc, dict) or doc.get("type") != "alert":
                self.non_alerts += 1
                return
            self.alerts += 1
            found = INJECTED.search(str(doc.get("article", {}).get("title", "")))
            if found is None:
                self.other += 1
                return
            key = (int(found.group(2)), int(found.group(1)))
            self.arrivals.setdefault(key, at)

    def snapshot(self) -> dict[tuple[int, int], float]:
        with self._lock:
            return dict(self.arrivals)

    def __enter__(self) -> HookRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler_for(recorder: HookRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            at = time.time()
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            recorder.record(at, body)
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
