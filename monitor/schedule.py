"""When a channel's digest goes out: every `1h` on the hour, or on a crontab schedule."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.config import parse_duration


def next_digest(spec: str, now: float, timezone: str = "UTC") -> float:
    """The first digest time strictly after `now` (Unix seconds).

    A duration (`30m`, `1h`, `1d`) means every that long, aligned to the clock in the
    channel's time zone (`1h`: on the hour; `1d`: at midnight). Anything else is a crontab
    line (`0 8 * * 1-5`: weekdays at 08:00), evaluated in the channel's time zone.
    """
    tz = ZoneInfo(timezone)
    try:
        period = parse_duration(spec)
    except ValueError:
        trigger = CronTrigger.from_crontab(spec, timezone=tz)
        fire = trigger.get_next_fire_time(None, datetime.fromtimestamp(now + 1, tz))
        if fire is None:
            raise ValueError(f"digest schedule {spec!r} never fires") from None
        return float(fire.timestamp())
    offset = datetime.fromtimestamp(now, tz).utcoffset()
    shift = offset.total_seconds() if offset else 0.0
    local = now + shift
    return (math.floor(local / period) + 1) * period - shift
