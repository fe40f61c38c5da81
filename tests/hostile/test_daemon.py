"""The running daemon under hostile load: one feed's slow links never delay another feed's
alert, and CPU bombs never stall the event loop (the systemd watchdog keeps being pinged).
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.procs import environment
from tests.support.site import FeedEntry, NewsSite, Resource, rss_feed

ROOT = Path(__file__).resolve().parents[2]
STORY = "Tehran denied hosting al-Qaida leaders, the ministry said on Tuesday."


def page(text: str) -> str:
    return "<html><body><article>" + f"<p>{STORY} {text}</p>" * 10 + "</article></body></html>"


def bomb_page(bomb: str) -> str:
    """A story with a CPU bomb inside, once: the page stays under the 10 MB cap, so it is
    parsed, extracted and matched, not refused."""
    return "<html><body>" + bomb + page("Bomb.")[len("<html><body>") :]


def write_config(
    directory: Path, feeds: dict[str, str], alerts: Path, intervals: dict[str, str] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    every = intervals or {}
    lines = "\n".join(
        f'  - {{name: "{n}", url: "{u}", interval: {every.get(n, "1h")}}}' for n, u in feeds.items()
    )
    (directory / "feeds.yaml").write_text(
        "defaults: {interval: 1h, timeout: 20s, allow_networks: [127.0.0.0/8]}\n"
        f"feeds:\n{lines}\n"
    )
    (directory / "rules.yaml").write_text(
        textwrap.dedent(
            f"""\
            entities:
              iran: {{aliases: [Iran, Tehran]}}
              al-qaida: {{aliases: [al-Qaida, al-Qaeda]}}
            channels:
              log: {{type: file, path: "{alerts}"}}
            rules:
              - {{name: iran-al-qaida, query: '@iran NEAR/20 @al-qaida', channels: [log]}}
              - {{name: iran-uranium, query: 'Iran NEAR/s uranium', channels: [log]}}
            """
        )
    )
    return directory


def alerted(alerts: Path) -> dict[str, float]:
    """Feed name -> when (time.time) its first alert line was written."""
    if not alerts.exists():
        return {}
    out: dict[str, float] = {}
    for line in alerts.read_text().splitlines():
        payload = json.loads(line)
        out.setdefault(payload["article"]["source"], time.time())
    return out


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_slow_links_of_one_feed_do_not_delay_another_feeds_alert(tmp_path: Path) -> None:
    """Before: one Semaphore(4) for every feed's pages: 40 links answering in 3 s delayed
    another feed's alert from 10 s to 33 s.

    Slow's 40 pages take 3 s each. Once Slow is fetching them, a story appears in Fast
    (polled every 5 s): its alert must come within a poll or two, not after Slow's 30 s."""
    alerts = tmp_path / "alerts.jsonl"
    with NewsSite() as site:
        slow = []
        for n in range(40):
            body = page(f"Slow {n}.").encode()
            url = site.put(f"/slow/{n}", Resource(body, "text/html", delay=3))
            slow.append(FeedEntry(f"Slow {n}", url, f"s{n}", STORY))
        fast_url = site.add_page("/fast", page("Fast."))
        feeds = {
            "Slow": site.add_feed("/slow.xml", rss_feed("Slow", slow)),
            "Fast": site.add_feed("/fast.xml", rss_feed("Fast", [])),
        }
        config = write_config(tmp_path / "config", feeds, alerts, intervals={"Fast": "5s"})
        env = environment(MONITOR_DB=str(tmp_path / "m.db"), PYTHONPATH=str(ROOT))
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def slow_requests() -> int:
            return sum(len(site.requests_for(f"/slow/{n}")) for n in range(40))

        try:
            assert wait_until(lambda: slow_requests() >= 4, 60), "Slow never fetched a page"
            site.add_feed("/fast.xml", rss_feed("Fast", [FeedEntry("Fast", fast_url, "f")]))
            published = time.time()
            assert wait_until(lambda: "Fast" in alerted(alerts), 60), "no alert from Fast"
            fast_after = alerted(alerts)["Fast"] - published
            slow_done = len(_titles(alerts)) - 1
        finally:
            daemon.send_signal(signal.SIGTERM)
            output, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, output[-3000:]
    print(f"Fast alerted {fast_after:.1f} s after its story appeared; Slow had {slow_done} of 40")
    assert fast_after < 15, f"Fast alerted {fast_after:.1f}s after\n{output[-3000:]}"
    assert slow_done < 40  # Slow was still working through its own links


def test_cpu_bombs_never_stall_the_event_loop(tmp_path: Path) -> None:
    """Before: a page of 200,000 stray closing tags held the event loop for 67 s, past any
    watchdog: systemd would kill and restart the service, which fetched it again."""
    alerts = tmp_path / "alerts.jsonl"
    bombs = {
        "tags": "<div></span>" * 200_000,
        "nested": "<div>" * 200_000 + "</div>" * 200_000,
        "dots": "." * 100_000,
        "sentences": "Iran nuclear uranium. " * 16_000,
    }
    notify = str(tmp_path / "notify.sock")
    with NewsSite() as site, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(notify)
        sock.settimeout(10)
        entries = [
            FeedEntry(f"Bomb {name}", site.add_page(f"/bomb/{name}", bomb_page(body)), name, STORY)
            for name, body in bombs.items()
        ]
        feeds = {"Bombs": site.add_feed("/bombs.xml", rss_feed("Bombs", entries))}
        config = write_config(tmp_path / "config", feeds, alerts)
        env = environment(
            MONITOR_DB=str(tmp_path / "m.db"),
            PYTHONPATH=str(ROOT),
            NOTIFY_SOCKET=notify,
            WATCHDOG_USEC="1000000",  # a ping a second (never more often)
        )
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pings: list[float] = []
        try:
            deadline = time.monotonic() + 90
            # until every bomb alerted, and over at least 6 pings (one a second)
            while time.monotonic() < deadline and (
                len(_titles(alerts)) < len(bombs) or len(pings) < 6
            ):
                if sock.recv(4096) == b"WATCHDOG=1":
                    pings.append(time.monotonic())
        finally:
            daemon.send_signal(signal.SIGTERM)
            output, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, output[-3000:]
    assert sorted(_titles(alerts)) == sorted(f"Bomb {name}" for name in bombs), output[-3000:]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    print(f"{len(pings)} watchdog pings, longest gap {max(gaps):.2f} s")
    assert len(pings) > 4 and max(gaps) < 3.0, (
        f"longest gap between watchdog pings {max(gaps):.1f}s"
    )


def _titles(alerts: Path) -> set[str]:
    if not alerts.exists():
        return set()
    return {json.loads(line)["article"]["title"] for line in alerts.read_text().splitlines()}
