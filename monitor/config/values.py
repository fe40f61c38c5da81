"""Configuration values parsed into what they mean, once: durations, rate limits, time zones,
networks, digest schedules. Each parser raises ValueError with the operator's message;
nothing downstream parses the text again.

Values quoted in messages are cut short (`show`), whatever the file holds.
"""

from __future__ import annotations

import ipaddress
import math
import re
import reprlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from monitor.addresses import IPNetwork
from monitor.models import RateLimit

# fullmatch on stripped text. Linear: neighbouring parts match disjoint characters (digits,
# '.', spaces, unit letters), so a text splits into them one way only and a failed match
# gives each character back at most once. main's `\s*(unit)?\s*$` tried every split of a
# run of spaces between its two \s*: 100,000 spaces took 66 s.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
MAX_DURATION = 366 * 86400.0  # the longest interval, timeout or digest period: a year
# fullmatch on stripped text. Linear for the reason _DURATION is: the optional window must
# start with a digit or '.', so the spaces around it split one way only. main's
# `/\s*(\d*...)?\s*(unit)` let both \s* share a run of spaces: 100,000 took 93 s.
_RATE = re.compile(r"(\d+)\s*/\s*(?:(\d+(?:\.\d+)?|\.\d+)\s*)?(s|m|h|d)")
MAX_CRONTAB_CHARS = 200  # apscheduler's crontab parser takes 0.7 s on 160,000 characters
# crontab numbers weekdays from Sunday (0 or 7); APScheduler 3 from Monday (0): numbers
# are given to it as names, so `1-5` is Monday to Friday as crontab(5) says
_WEEKDAY_NUMBER = re.compile(r"(?<![/\d])\d+")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _ShortRepr(reprlib.Repr):
    """reprlib's cut-short repr, also for integers too long for repr (past 4,300 digits)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 80
        self.maxlevel = 2

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 1_000:
            return f"an integer of {x.bit_length():,} bits"
        return super().repr_int(x, level)


_REPR = _ShortRepr()


def show(value: Any) -> str:
    """`value` for a message: quoted like repr, cut to about 80 characters and two levels."""
    return _REPR.repr(value)


def kind(value: Any) -> str:
    """What a YAML value is, in words."""
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def parse_duration(value: Any, *, limit: float = MAX_DURATION) -> float:
    """`30s`, `5m`, `1h`, `1d`, `250ms` or a number of seconds -> seconds (> 0, <= `limit`,
    a year unless given)."""
    m = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if m:
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an integer beyond any float
            seconds = math.inf
    else:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {show(value)}")
    if not seconds > 0:  # also NaN
        raise ValueError(f"expected a positive duration, got {show(value)}")
    if seconds > limit:
        raise ValueError(f"expected a duration of at most {limit / 86400:g}d, got {show(value)}")
    return seconds


def parse_rate(value: Any) -> RateLimit:
    """`20/h`, `5/30m`, `100/d` -> RateLimit(count, window seconds)."""
    m = _RATE.fullmatch(value.strip()) if isinstance(value, str) else None
    count = int(m.group(1)) if m and len(m.group(1)) <= 9 else 0
    window = float(m.group(2) or 1) * _UNITS[m.group(3)] if m else 0.0
    if count < 1 or not 0 < window <= MAX_DURATION:
        raise ValueError(f"expected a limit such as 20/h or 5/30m, got {show(value)}")
    return RateLimit(count, window)


def parse_network(text: str) -> IPNetwork:
    """`127.0.0.0/8`, `10.1.2.3`, `::1/128` -> the network."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError as e:
        raise ValueError(f"expected a network such as 127.0.0.0/8, got {show(text)}") from e


def _weekday_name(m: re.Match[str]) -> str:
    number = int(m.group()) if len(m.group()) <= 2 else len(_WEEKDAYS)
    return _WEEKDAYS[number] if number < len(_WEEKDAYS) else m.group()


@dataclass(frozen=True)
class DigestSchedule:
    """When a channel's digest goes out, in the channel's time zone: every `period` seconds
    aligned to the local clock (`1h`: on the hour; `1d`: at midnight), or on a crontab line
    (`0 8 * * 1-5`: weekdays at 08:00). Parsed once from the channel's `digest:`."""

    spec: str
    zone: ZoneInfo
    period: float | None = None
    trigger: CronTrigger | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, spec: str, zone: ZoneInfo) -> DigestSchedule:
        """A duration (`1h`) or a crontab line; ValueError says what to write."""
        try:
            return cls(spec, zone, period=parse_duration(spec))
        except ValueError:
            pass
        wanted = "expected a duration such as 1h or a crontab line such as '0 8 * * *'"
        if len(spec) > MAX_CRONTAB_CHARS:
            raise ValueError(f"{wanted}, got {len(spec):,} characters")
        fields = spec.split()
        try:
            if len(fields) != 5:
                raise ValueError(f"{len(fields)} fields")
            minute, hour, day, month, weekday = fields
            trigger = CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=_WEEKDAY_NUMBER.sub(_weekday_name, weekday),
                timezone=zone,
            )
        except ValueError as e:
            raise ValueError(f"{wanted}, got {show(spec)}") from e
        return cls(spec, zone, trigger=trigger)

    def next_after(self, now: float) -> float:
        """The first digest time strictly after `now` (Unix seconds)."""
        if self.trigger is not None:
            fire = self.trigger.get_next_fire_time(None, datetime.fromtimestamp(now + 1, self.zone))
            if fire is None:
                raise ValueError(f"digest schedule {self.spec!r} never fires")
            return float(fire.timestamp())
        assert self.period is not None
        offset = datetime.fromtimestamp(now, self.zone).utcoffset()
        shift = offset.total_seconds() if offset else 0.0
        return (math.floor((now + shift) / self.period) + 1) * self.period - shift


# ISO 639-1: the codes articles carry (a page's declared language, or py3langid's guess)
_ISO_639_1 = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv"
    " cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr"
    " ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw"
    " ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv"
    " ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr"
    " ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi"
    " yo za zh zu"
)
LANGUAGE_CODES = frozenset(_ISO_639_1.split())
# what an operator may write instead of a code
LANGUAGE_NAMES = {
    "arabic": "ar", "chinese": "zh", "dutch": "nl", "english": "en", "farsi": "fa",
    "french": "fr", "german": "de", "greek": "el", "hebrew": "he", "hindi": "hi",
    "italian": "it", "japanese": "ja", "korean": "ko", "kurdish": "ku", "pashto": "ps",
    "persian": "fa", "polish": "pl", "portuguese": "pt", "russian": "ru", "spanish": "es",
    "swedish": "sv", "turkish": "tr", "ukrainian": "uk", "urdu": "ur",
}  # fmt: skip


def parse_language(text: str) -> str:
    """`en`, `EN`, `en-GB` -> `en`: the ISO 639-1 code articles are compared by."""
    written = text.strip().lower()
    code = written.replace("_", "-").split("-", 1)[0]
    if code in LANGUAGE_CODES:
        return code
    named = LANGUAGE_NAMES.get(written)
    hint = f": write {named}" if named else "; write a code such as en, fr, ar or fa"
    raise ValueError(f"expected an ISO 639-1 language code, got {show(text)}{hint}")


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone name -> the zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        from zoneinfo import available_timezones

        from monitor.suggest import did_you_mean

        hint = did_you_mean(name, available_timezones()) if isinstance(name, str) else ""
        raise ValueError(
            f"unknown time zone {show(name)}{hint}; write an IANA name such as Europe/Berlin or UTC"
        ) from e
