"""The one line the service shows in `systemctl status` (systemd's ``STATUS=``).

For example ``2,013 feeds, 3 failing, 12 alerts pending, rules reloaded 10:42``: the feeds in
force (and how many feeds.yaml disables, when any), those whose last poll failed, the alerts
waiting to be sent, and the last configuration event with its local time: ``started``,
``rules reloaded`` or ``reload rejected`` (the previous configuration stays in force; the
journal has the problems). The daemon refreshes it every `REFRESH` seconds and after each
reload.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from monitor.store.summary import ServiceCounts

REFRESH = 30.0  # seconds between STATUS= updates

ConfigEvent = Literal["started", "rules reloaded", "reload rejected"]


@dataclass(frozen=True)
class ConfigState:
    event: ConfigEvent
    at: float  # Unix seconds


def status_line(feeds: int, disabled: int, counts: ServiceCounts, config: ConfigState) -> str:
    parts = [f"{feeds:,} feed{'' if feeds == 1 else 's'}"]
    if disabled:
        parts.append(f"{disabled:,} disabled")
    parts.append(f"{counts.failing_feeds:,} failing")
    pending = counts.pending_alerts
    parts.append(f"{pending:,} alert{'' if pending == 1 else 's'} pending")
    parts.append(f"{config.event} {time.strftime('%H:%M', time.localtime(config.at))}")
    return ", ".join(parts)
