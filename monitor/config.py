"""feeds.yaml + rules.yaml -> frozen configuration objects.

Every problem is collected (not just the first) and reported as
``file:line:col: path: message`` in one ConfigError, so `monitor check` can list them all.
Secrets never live in the YAML: channels and feeds name an environment variable
(`password_env`, `secret_env`, `urls_env`, `auth_env`), looked up in the environment, else as
a file of that name under ``$CREDENTIALS_DIRECTORY`` (systemd's LoadCredential=). Every secret
value read is registered with `monitor.redact`, so no log line, stored error or notice shows it.

Whatever the files hold, loading ends in the configuration or a ConfigError: values of the
wrong type, non-finite or huge numbers and long strings are problems, not exceptions, and a
value quoted in a message is cut short (`_show`).
"""

from __future__ import annotations

import gc
import glob
import ipaddress
import math
import os
import re
import reprlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from monitor import redact
from monitor.errors import ConfigError, QueryError
from monitor.models import (
    METRICS_PORT,
    ChannelConfig,
    EntityConfig,
    ExtractOverride,
    FeedConfig,
    MetricsConfig,
    PollingConfig,
    RateLimit,
    RuleConfig,
    RuleExamples,
    SmtpConfig,
)
from monitor.yamlpos import Located, PathKey, load_yaml

FEEDS_FILE = "feeds.yaml"
RULES_FILE = "rules.yaml"
NO_RULES = "the file has no rules; write `rules: []` if you mean to alert on nothing"

# fullmatch on stripped text. Linear: neighbouring parts match disjoint characters (digits,
# '.', spaces, unit letters), so a text splits into them one way only and a failed match
# gives each character back at most once. main's `\s*(unit)?\s*$` tried every split of a
# run of spaces between its two \s*: 100,000 spaces took 66 s.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
MAX_DURATION = 366 * 86400.0  # the longest interval, timeout or digest period: a year
_ENTITY_ID = re.compile(r"[a-z0-9_-]+")  # fullmatch; one class, one pass: linear
_SECRET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")  # fullmatch; at most 255 steps


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
_CHANNEL_TYPES = ("email", "webhook", "file", "apprise")


@dataclass(frozen=True)
class RulesConfig:
    entities: Mapping[str, EntityConfig]
    channels: Mapping[str, ChannelConfig]
    rules: tuple[RuleConfig, ...]
    warnings: tuple[str, ...] = ()
    operator_channel: str | None = None


@dataclass(frozen=True)
class Config:
    feeds: tuple[FeedConfig, ...]
    entities: Mapping[str, EntityConfig]
    channels: Mapping[str, ChannelConfig]
    rules: tuple[RuleConfig, ...]
    warnings: tuple[str, ...] = ()
    operator_channel: str | None = None
    polling: PollingConfig = field(default_factory=PollingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


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
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {_show(value)}")
    if not seconds > 0:  # also NaN
        raise ValueError(f"expected a positive duration, got {_show(value)}")
    if seconds > limit:
        raise ValueError(f"expected a duration of at most {limit / 86400:g}d, got {_show(value)}")
    return seconds


def _show(value: Any) -> str:
    """`value` for a message: quoted like repr, cut to about 80 characters and two levels."""
    return _REPR.repr(value)


def read_secret(name: str) -> str | None:
    """A secret by name: the environment first, then $CREDENTIALS_DIRECTORY/<name>.

    None when neither has it; OSError or UnicodeDecodeError when the file cannot be read.
    """
    value = os.environ.get(name)
    if value:
        return value
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        path = Path(cred_dir) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    return None


class _Checker:
    """Reads values out of a Located document, collecting problems instead of raising."""

    def __init__(self, doc: Located, problems: list[str], base: Path | None = None) -> None:
        self.doc = doc
        self.problems = problems
        # relative paths in the file resolve against this, once, at parse time: the
        # daemon and every command then agree whatever their working directory
        self.base = Path(os.path.abspath(base or Path.cwd()))

    def under_base(self, value: str) -> str:
        """A path from the file (``~`` expanded) made absolute against `base`."""
        return str(self.base / os.path.expanduser(value))

    def fail(self, path: PathKey, message: str, *, at_key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, at_key=at_key))

    def mapping(self, value: Any, path: PathKey, what: str = "a mapping") -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected {what}, got {_kind(value)}")
            return {}
        return value

    def sequence(self, value: Any, path: PathKey) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {_kind(value)}")
            return []
        return value

    def strings(self, value: Any, path: PathKey) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        out = []
        for i, item in enumerate(self.sequence(value, path)):
            if isinstance(item, str | int | float) and not isinstance(item, bool):
                out.append(str(item))
            else:
                self.fail((*path, i), f"expected a string, got {_kind(item)}")
        return tuple(out)

    def string(self, value: Any, path: PathKey, *, required: bool = True) -> str:
        if value is None:
            if required:
                self.fail(path, "is required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(path, f"expected a string, got {_kind(value)}")
            return ""
        return str(value)

    def boolean(self, value: Any, path: PathKey, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_show(value)}")
            return default
        return value

    def integer(
        self, value: Any, path: PathKey, default: int, minimum: int = 1, maximum: int | None = None
    ) -> int:
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            wanted = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            self.fail(path, f"expected an integer {wanted}, got {_show(value)}")
            return default
        return value

    def duration(self, value: Any, path: PathKey, default: float) -> float:
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as e:
            self.fail(path, str(e))
            return default

    def unknown_keys(self, data: Mapping[str, Any], path: PathKey, known: set[str]) -> None:
        for key in data:
            if key not in known:
                hint = _closest(str(key), known)
                suggestion = f" (did you mean {hint!r}?)" if hint else ""
                self.fail((*path, key), f"unknown key{suggestion}", at_key=True)

    def secret(self, data: Mapping[str, Any], key: str, path: PathKey) -> str | None:
        """The value of the secret `data[key]` names, registered for redaction."""
        env_name = data.get(key)
        if env_name is None:
            return None
        name = self.string(env_name, (*path, key))
        if not name:
            return None
        if not _SECRET_NAME.fullmatch(name):
            self.fail(
                (*path, key),
                f"expected the name of an environment variable or credential file "
                f"(letters, digits, '_', '.', '-'), got {_show(name)}",
            )
            return None
        try:
            value = read_secret(name)
        except OSError as e:
            self.fail((*path, key), f"secret {name!r}: cannot read its file: {e.strerror}")
            return None
        except UnicodeDecodeError:  # its message would quote bytes of the secret
            self.fail((*path, key), f"secret {name!r}: its file is not UTF-8 text")
            return None
        if value is None:
            self.fail(
                (*path, key),
                f"secret {name!r} is not set in the environment or $CREDENTIALS_DIRECTORY",
            )
        else:
            redact.register_secrets([value])
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _closest(word: str, options: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.75)
    return found[0] if found else None


def _http_url(c: _Checker, value: Any, path: PathKey) -> str:
    """An http(s) URL; a password in it is registered for redaction."""
    url = c.string(value, path)
    if url:
        parts = _url_parts(url)
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            c.fail(path, f"expected an http(s) URL, got {_show(url)}")
        elif parts.password:
            redact.register_secrets([parts.password, unquote(parts.password)])
    return url


def _url_parts(url: str) -> SplitResult | None:
    """`url` split, or None when it cannot be (a bad IPv6 literal, a port out of range)."""
    try:
        parts = urlsplit(url)
        return None if parts.port == 0 else parts
    except ValueError:
        return None


# --------------------------------------------------------------------------- feeds.yaml

_FEED_KEYS = {
    "name",
    "url",
    "interval",
    "timeout",
    "extract",
    "tags",
    "allow_networks",
    "enabled",
    "auth_env",
    "min_interval",
    "max_interval",
    "max_age",
}
_DEFAULT_KEYS = {
    "interval",
    "timeout",
    "extract",
    "allow_networks",
    "min_interval",
    "max_interval",
    "max_age",
}
_POLLING_KEYS = {"max_polls", "per_host", "lease"}
MIN_LEASE = 2.0  # a claim renewed every quarter of this; shorter would be all renewals
MAX_AGE_LIMIT = 100 * 366 * 86400.0  # max_age may reach further back than other durations
_OFF = ("off", "never", "none")


def parse_polling(doc: Located, problems: list[str]) -> PollingConfig:
    """The `polling:` section of feeds.yaml: polls in flight in all and to one host, and
    how long a daemon's claims outlive it."""
    c = _Checker(doc, problems)
    top = doc.value if isinstance(doc.value, dict) else {}
    data = c.mapping(top.get("polling"), ("polling",))
    c.unknown_keys(data, ("polling",), _POLLING_KEYS)
    default = PollingConfig()
    return PollingConfig(
        max_polls=c.integer(
            data.get("max_polls"), ("polling", "max_polls"), default.max_polls, maximum=1000
        ),
        per_host=c.integer(
            data.get("per_host"), ("polling", "per_host"), default.per_host, maximum=1000
        ),
        lease=_lease(c, data.get("lease"), default.lease),
    )


_METRICS_KEYS = {"listen"}


def parse_metrics(doc: Located, problems: list[str]) -> MetricsConfig:
    """The `metrics:` section of feeds.yaml: `off`, `on`, or `{listen: "host:port"}` (by default
    127.0.0.1:9464)."""
    c = _Checker(doc, problems)
    top = doc.value if isinstance(doc.value, dict) else {}
    value = top.get("metrics")
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return MetricsConfig(listen=None, explicit=True)
    if value is True:  # `metrics: on`: the default address
        return MetricsConfig()
    data = c.mapping(value, ("metrics",), 'a mapping ({listen: "host:port"}) or off')
    c.unknown_keys(data, ("metrics",), _METRICS_KEYS)
    if data.get("listen") is None:
        return MetricsConfig()
    text = c.string(data["listen"], ("metrics", "listen"))
    address = _listen_address(text)
    if address is None:
        c.fail(
            ("metrics", "listen"),
            f"expected host:port (e.g. 127.0.0.1:{METRICS_PORT} or [::1]:{METRICS_PORT}),"
            f" got {_show(text)}",
        )
        return MetricsConfig()
    return MetricsConfig(listen=address, explicit=True)


def _listen_address(text: str) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port` -> (host, port); None when it is neither."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return None
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host, int(port)


def _lease(c: _Checker, value: Any, default: float) -> float:
    """`lease`: how long a claim of a daemon that stopped answering holds (at least 2 s)."""
    lease = c.duration(value, ("polling", "lease"), default)
    if lease < MIN_LEASE:
        c.fail(
            ("polling", "lease"),
            f"must be at least {MIN_LEASE:g}s (claims are renewed every quarter of it)",
        )
        return default
    return lease


def _max_age(c: _Checker, value: Any, path: PathKey, default: float | None) -> float | None:
    """`max_age`: a duration (up to a century), or `off` (items of any age alert)."""
    if value is None:
        return default
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    try:
        return parse_duration(value, limit=MAX_AGE_LIMIT)
    except ValueError as e:
        c.fail(path, f"{e} (or off)")
        return default


def _bounds(
    c: _Checker,
    data: Mapping[str, Any],
    path: PathKey,
    low: float | None,
    high: float | None,
) -> tuple[float | None, float | None]:
    """`min_interval` and `max_interval` of a feed (or of defaults), inheriting `low`/`high`."""
    if "min_interval" in data:
        low = c.duration(data["min_interval"], (*path, "min_interval"), 0.0) or None
    if "max_interval" in data:
        high = c.duration(data["max_interval"], (*path, "max_interval"), 0.0) or None
    if low is not None and high is not None and low > high:
        c.fail(
            (*path, "max_interval"),
            f"max_interval ({high:g}s) is shorter than min_interval ({low:g}s)",
        )
    return low, high


def parse_feeds(doc: Located, problems: list[str], warnings: list[str]) -> tuple[FeedConfig, ...]:
    """The feeds of a feeds.yaml document; problems and warnings are appended to the lists."""
    c = _Checker(doc, problems)
    top = c.mapping(doc.value, ())
    c.unknown_keys(top, (), {"defaults", "feeds", "polling", "metrics"})
    defaults = c.mapping(top.get("defaults"), ("defaults",))
    c.unknown_keys(defaults, ("defaults",), _DEFAULT_KEYS | {"auth_env"})
    if "auth_env" in defaults:
        c.fail(
            ("defaults", "auth_env"),
            "auth_env is per feed: in defaults it would send the credentials to every feed's "
            "host (share it between feeds with a YAML anchor or `<<:` merge)",
            at_key=True,
        )
    d_interval = c.duration(defaults.get("interval"), ("defaults", "interval"), 300.0)
    d_timeout = c.duration(defaults.get("timeout"), ("defaults", "timeout"), 20.0)
    d_extract, d_override = _extract_setting(c, defaults.get("extract"), ("defaults", "extract"))
    d_networks = _networks(c, defaults.get("allow_networks"), ("defaults", "allow_networks"))
    d_low, d_high = _bounds(c, defaults, ("defaults",), None, None)
    d_max_age = _max_age(c, defaults.get("max_age"), ("defaults", "max_age"), 3 * 86400.0)

    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    raw_feeds = c.sequence(top.get("feeds"), ("feeds",))
    if "feeds" not in top:
        c.fail((), "no 'feeds:' list")
    for i, raw in enumerate(raw_feeds):
        path: PathKey = ("feeds", i)
        data = c.mapping(raw, path)
        if not data:
            continue
        c.unknown_keys(data, path, _FEED_KEYS)
        name = c.string(data.get("name"), (*path, "name"))
        url = _http_url(c, data.get("url"), (*path, "url"))
        if name in seen:
            first = f"first at feeds[{seen[name]}]"
            c.fail((*path, "name"), f"duplicate feed name {_show(name)} ({first})")
        seen[name] = i
        extract, override = (
            _extract_setting(c, data["extract"], (*path, "extract"))
            if "extract" in data
            else (d_extract, d_override)
        )
        networks = d_networks + _networks(c, data.get("allow_networks"), (*path, "allow_networks"))
        interval = c.duration(data.get("interval"), (*path, "interval"), d_interval)
        low, high = _bounds(c, data, path, d_low, d_high)
        feeds.append(
            FeedConfig(
                name=name,
                url=url,
                interval=interval,
                min_interval=low,
                max_interval=high,
                max_age=_max_age(c, data.get("max_age"), (*path, "max_age"), d_max_age),
                timeout=c.duration(data.get("timeout"), (*path, "timeout"), d_timeout),
                extract=extract,
                extract_override=override,
                tags=c.strings(data.get("tags"), (*path, "tags")),
                allow_networks=networks,
                enabled=c.boolean(data.get("enabled"), (*path, "enabled"), True),
                auth=_feed_auth(c, data, path, url, warnings),
            )
        )
    return tuple(feeds)


def _feed_auth(
    c: _Checker, data: Mapping[str, Any], path: PathKey, url: str, warnings: list[str]
) -> tuple[str, str] | None:
    """`auth_env`: the secret it names, `user:password`, as (user, password) for basic auth.

    Credentials written into the URL work too, but show wherever the URL is printed: a
    warning says so, and another when either kind would cross the network in plain http.
    """
    parts = _url_parts(url) if url else None
    in_url = parts is not None and parts.username is not None
    if in_url:
        warnings.append(
            c.doc.problem(
                (*path, "url"),
                "the URL carries credentials, which show wherever the URL is printed; "
                "put user:password in a secret and name it with auth_env",
            )
        )
    secret = c.secret(data, "auth_env", path)
    if secret is None:
        auth = None
    else:
        user, colon, password = secret.partition(":")
        if not colon:
            name = str(data["auth_env"])
            c.fail((*path, "auth_env"), f"secret {name!r} must hold user:password (no ':' in it)")
            return None
        if in_url:
            c.fail((*path, "auth_env"), "credentials both in the URL and in auth_env: keep one")
            return None
        redact.register_secrets([password])
        auth = (user, password)
    if (auth or in_url) and parts is not None and parts.scheme == "http":
        warnings.append(
            c.doc.problem(
                (*path, "url"), "basic auth credentials would cross the network in plain http"
            )
        )
    return auth


def _extract_setting(c: _Checker, value: Any, path: PathKey) -> tuple[bool, ExtractOverride | None]:
    if value is None:
        return True, None
    if isinstance(value, bool):
        return value, None
    data = c.mapping(value, path, "true, false or {selector, remove}")
    c.unknown_keys(data, path, {"selector", "remove"})
    selector = c.string(data.get("selector"), (*path, "selector"), required=False) or None
    return True, ExtractOverride(selector, c.strings(data.get("remove"), (*path, "remove")))


def _networks(c: _Checker, value: Any, path: PathKey) -> tuple[str, ...]:
    out = []
    for i, net in enumerate(c.strings(value, path)):
        try:
            out.append(str(ipaddress.ip_network(net, strict=False)))
        except ValueError:
            c.fail((*path, i), f"expected a network such as 127.0.0.0/8, got {_show(net)}")
    return tuple(out)


# --------------------------------------------------------------------------- rules.yaml

_RULE_KEYS = {
    "name",
    "query",
    "channels",
    "feeds",
    "tags",
    "languages",
    "min_mentions",
    "description",
    "examples",
    "max_alerts",
}
_BASIC_RULE_KEYS = {"name", "query", "channels"}
_COMMON_CHANNEL_KEYS = {"type", "digest", "templates"}
_CHANNEL_KEYS: dict[str, set[str]] = {
    "email": _COMMON_CHANNEL_KEYS | {"to", "from", "smtp", "timezone"},
    "webhook": _COMMON_CHANNEL_KEYS | {"url", "secret_env", "timeout"},
    "file": _COMMON_CHANNEL_KEYS | {"path"},
    "apprise": _COMMON_CHANNEL_KEYS | {"urls", "urls_env", "timeout"},
}
# fullmatch on stripped text. Linear for the reason _DURATION is: the optional window must
# start with a digit or '.', so the spaces around it split one way only. main's
# `/\s*(\d*...)?\s*(unit)` let both \s* share a run of spaces: 100,000 took 93 s.
_RATE = re.compile(r"(\d+)\s*/\s*(?:(\d+(?:\.\d+)?|\.\d+)\s*)?(s|m|h|d)")
_SMTP_KEYS = {"host", "port", "starttls", "tls", "username", "password_env", "timeout"}


def _parse_entities(c: _Checker, value: Any, path: PathKey, into: dict[str, EntityConfig]) -> None:
    for key, raw in c.mapping(value, path).items():
        eid = str(key)
        epath = (*path, key)
        if not _ENTITY_ID.fullmatch(eid):
            c.fail(epath, "entity ids use lowercase letters, digits, '-' and '_'", at_key=True)
            continue
        if eid in into:
            c.fail(epath, f"entity {_show(eid)} is defined twice")
        data = c.mapping(raw, epath, "{aliases: [...], exact: [...]}")
        c.unknown_keys(data, epath, {"aliases", "exact", "description"})
        aliases = c.strings(data.get("aliases"), (*epath, "aliases"))
        exact = c.strings(data.get("exact"), (*epath, "exact"))
        if not aliases and not exact:
            c.fail(epath, "an entity needs at least one alias or exact form")
        into[eid] = EntityConfig(eid, aliases, exact)


def parse_rate(value: Any) -> RateLimit:
    """`20/h`, `5/30m`, `100/d` -> RateLimit(count, window seconds)."""
    m = _RATE.fullmatch(value.strip()) if isinstance(value, str) else None
    count = int(m.group(1)) if m and len(m.group(1)) <= 9 else 0
    window = float(m.group(2) or 1) * _UNITS[m.group(3)] if m else 0.0
    if count < 1 or not 0 < window <= MAX_DURATION:
        raise ValueError(f"expected a limit such as 20/h or 5/30m, got {_show(value)}")
    return RateLimit(count, window)


MAX_CRONTAB_CHARS = 200  # apscheduler's crontab parser takes 0.7 s on 160,000 characters


def check_digest(spec: str) -> None:
    """A digest schedule is a duration (`1h`: every hour, on the hour) or a crontab line."""
    try:
        parse_duration(spec)
        return
    except ValueError:
        pass
    from apscheduler.triggers.cron import CronTrigger

    wanted = "expected a duration such as 1h or a crontab line such as '0 8 * * *'"
    if len(spec) > MAX_CRONTAB_CHARS:
        raise ValueError(f"{wanted}, got {len(spec):,} characters")
    try:
        CronTrigger.from_crontab(spec)
    except ValueError as e:
        raise ValueError(f"{wanted}, got {_show(spec)}") from e


def _parse_channel(c: _Checker, name: str, raw: Any, path: PathKey) -> ChannelConfig | None:
    data = c.mapping(raw, path)
    kind = data.get("type")
    if kind not in _CHANNEL_TYPES:
        c.fail((*path, "type"), f"expected one of {', '.join(_CHANNEL_TYPES)}, got {_show(kind)}")
        return None
    c.unknown_keys(data, path, _CHANNEL_KEYS[kind])
    channel = _parse_channel_type(c, name, kind, data, path)
    digest = c.string(data.get("digest"), (*path, "digest"), required=False) or None
    if digest:
        try:
            check_digest(digest)
        except ValueError as e:
            c.fail((*path, "digest"), str(e))
    templates = c.string(data.get("templates"), (*path, "templates"), required=False) or None
    if templates:
        templates = c.under_base(templates)
        if not _is_dir(templates):
            c.fail((*path, "templates"), f"no such directory {_show(templates)}")
    return replace(channel, digest=digest, templates_dir=templates)


def _is_dir(path: str) -> bool:
    try:
        return Path(path).is_dir()
    except OSError:  # a name too long for the file system, a permission
        return False


def _parse_channel_type(
    c: _Checker, name: str, kind: str, data: Mapping[str, Any], path: PathKey
) -> ChannelConfig:
    if kind == "email":
        smtp_raw = c.mapping(data.get("smtp"), (*path, "smtp"))
        spath = (*path, "smtp")
        c.unknown_keys(smtp_raw, spath, _SMTP_KEYS)
        smtp = SmtpConfig(
            host=c.string(smtp_raw.get("host", "localhost"), (*spath, "host")),
            port=c.integer(smtp_raw.get("port"), (*spath, "port"), 25, maximum=65535),
            starttls=c.boolean(smtp_raw.get("starttls"), (*spath, "starttls"), False),
            tls=c.boolean(smtp_raw.get("tls"), (*spath, "tls"), False),
            username=c.string(smtp_raw.get("username"), (*spath, "username"), required=False)
            or None,
            password=c.secret(smtp_raw, "password_env", spath),
            timeout=c.duration(smtp_raw.get("timeout"), (*spath, "timeout"), 60.0),
        )
        if smtp.username and not (smtp.starttls or smtp.tls):
            c.fail(
                spath, "credentials would be sent in plain text; set starttls: true or tls: true"
            )
        to = c.strings(data.get("to"), (*path, "to"))
        if not to:
            c.fail((*path, "to"), "at least one recipient is required")
        tz = c.string(data.get("timezone", "UTC"), (*path, "timezone"))
        _check_timezone(c, tz, (*path, "timezone"))
        return ChannelConfig(
            name=name,
            type="email",
            to=to,
            sender=c.string(data.get("from"), (*path, "from")),
            smtp=smtp,
            timezone=tz,
        )
    if kind == "webhook":
        return ChannelConfig(
            name=name,
            type="webhook",
            url=_http_url(c, data.get("url"), (*path, "url")),
            secret=c.secret(data, "secret_env", path),
            timeout=c.duration(data.get("timeout"), (*path, "timeout"), 30.0),
        )
    if kind == "file":
        file = c.string(data.get("path"), (*path, "path"))
        return ChannelConfig(name=name, type="file", path=c.under_base(file) if file else file)
    urls = c.strings(data.get("urls"), (*path, "urls"))
    from_env = c.secret(data, "urls_env", path)
    if from_env:
        urls += tuple(u for u in from_env.split() if u)
    redact.register_secrets(urls)  # an Apprise URL holds its service's token or password
    if not urls:
        c.fail(path, "an apprise channel needs urls (or urls_env naming a secret)")
    return ChannelConfig(
        name=name,
        type="apprise",
        apprise_urls=urls,
        timeout=c.duration(data.get("timeout"), (*path, "timeout"), 30.0),
    )


def _check_timezone(c: _Checker, tz: str, path: PathKey) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.fail(path, f"unknown time zone {_show(tz)}")


def _parse_rule(
    c: _Checker,
    raw: Any,
    path: PathKey,
    entity_ids: set[str],
    channel_names: set[str] | None,
    validate: Callable[[str, set[str], bool], list[str]],
    warnings: list[str],
) -> RuleConfig | None:
    data = c.mapping(raw, path)
    if not data:
        c.fail(path, "expected a rule {name, query, ...}")
        return None
    c.unknown_keys(data, path, _RULE_KEYS)
    name = c.string(data.get("name"), (*path, "name"))
    query = c.string(data.get("query"), (*path, "query"))
    label = (*path, "query")
    if query:
        filtered = any(data.get(key) for key in ("feeds", "tags", "languages"))
        try:
            for w in validate(query, entity_ids, filtered):
                warnings.append(c.doc.problem(label, f"rule {_show(name)}: {w}"))
        except QueryError as e:
            c.fail(label, str(e))
    channels = c.strings(data["channels"], (*path, "channels")) if "channels" in data else ()
    if channel_names is not None:
        for i, ch in enumerate(channels):
            if ch not in channel_names:
                c.fail((*path, "channels", i), f"unknown channel {_show(ch)}")
    if data.keys() <= _BASIC_RULE_KEYS:  # most rules of a large file: nothing else to read
        return RuleConfig(name=name, query=query, channels=channels)
    max_alerts = None
    if data.get("max_alerts") is not None:
        try:
            max_alerts = parse_rate(data["max_alerts"])
        except ValueError as e:
            c.fail((*path, "max_alerts"), str(e))
    ex = c.mapping(data.get("examples"), (*path, "examples"))
    c.unknown_keys(ex, (*path, "examples"), {"match", "no_match"})
    return RuleConfig(
        name=name,
        query=query,
        channels=channels,
        feeds=c.strings(data.get("feeds"), (*path, "feeds")),
        tags=c.strings(data.get("tags"), (*path, "tags")),
        languages=tuple(x.lower() for x in c.strings(data.get("languages"), (*path, "languages"))),
        min_mentions=c.integer(data.get("min_mentions"), (*path, "min_mentions"), 1),
        description=c.string(data.get("description"), (*path, "description"), required=False),
        max_alerts=max_alerts,
        examples=RuleExamples(
            match=c.strings(ex.get("match"), (*path, "examples", "match")),
            no_match=c.strings(ex.get("no_match"), (*path, "examples", "no_match")),
        ),
    )


def parse_rules(
    doc: Located,
    problems: list[str],
    *,
    need_channels: bool = True,
    base: Path | None = None,
) -> RulesConfig:
    """Entities, channels and rules from a rules.yaml document (plus its includes).

    `include:` globs resolve against `base` (the rules file's directory).
    """
    from monitor.match import validate_query

    base = base if base is not None else Path(doc.file).parent
    c = _Checker(doc, problems, base)
    top = c.mapping(doc.value, ())
    c.unknown_keys(top, (), {"include", "entities", "channels", "rules", "operator_channel"})
    if top.get("rules") is None:  # an empty or truncated file; `rules: []` says it is meant
        c.fail(("rules",), NO_RULES)
    entities: dict[str, EntityConfig] = {}
    included: set[str] = set()
    for i, pattern in enumerate(c.strings(top.get("include"), ("include",))):
        matched = sorted(glob.glob(c.under_base(pattern)))
        if not matched:
            c.fail(
                ("include", i) if isinstance(top.get("include"), list) else ("include",),
                f"no file matches {_show(pattern)}",
            )
        for file in matched:
            if file in included:  # a file two patterns match is read once
                continue
            included.add(file)
            try:
                inc = load_yaml(Path(file), cached=False)  # gazetteers: small, positions kept
            except ConfigError as e:
                problems.extend(e.problems)
                continue
            ic = _Checker(inc, problems)
            inc_top = ic.mapping(inc.value, ())
            ic.unknown_keys(inc_top, (), {"entities"})
            _parse_entities(ic, inc_top.get("entities"), ("entities",), entities)
    _parse_entities(c, top.get("entities"), ("entities",), entities)

    channels: dict[str, ChannelConfig] = {}
    for name, raw in c.mapping(top.get("channels"), ("channels",)).items():
        channel = _parse_channel(c, str(name), raw, ("channels", name))
        if channel:
            channels[str(name)] = channel
    operator = top.get("operator_channel")
    if operator is not None and (not isinstance(operator, str) or operator not in channels):
        c.fail(("operator_channel",), f"unknown channel {_show(operator)}")

    warnings: list[str] = []
    rules: list[RuleConfig] = []
    seen: dict[str, int] = {}
    ids = set(entities)
    known_channels = set(channels) if need_channels else None
    for i, raw in enumerate(c.sequence(top.get("rules"), ("rules",))):
        before = len(problems)
        rule = _parse_rule(c, raw, ("rules", i), ids, known_channels, validate_query, warnings)
        if rule is None:
            continue
        if rule.name:  # name the rule in its problems: operators know rules by name
            problems[before:] = [f"{p} (rule {_show(rule.name)})" for p in problems[before:]]
        if rule.name in seen:
            c.fail(
                ("rules", i, "name"),
                f"duplicate rule name {_show(rule.name)} (first at rules[{seen[rule.name]}])",
            )
        seen[rule.name] = i
        rules.append(rule)
    return RulesConfig(entities, channels, tuple(rules), tuple(warnings), operator)


def load_rules(path: Path, *, need_channels: bool = False, cached: bool = True) -> RulesConfig:
    """Load one rules file on its own (for `monitor match`); raises ConfigError."""
    with _gc_paused():
        return _load_rules(path, need_channels=need_channels, cached=cached)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading creates hundreds of thousands of objects and frees none: skip collections."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_rules(path: Path, *, need_channels: bool, cached: bool) -> RulesConfig:
    problems: list[str] = []
    doc = load_yaml(path, cached=cached)
    rules = parse_rules(doc, problems, need_channels=need_channels, base=path.parent)
    if (problems or rules.warnings) and not doc.positioned:
        return _load_rules(path, need_channels=need_channels, cached=False)  # to say where
    if problems:
        raise ConfigError(problems)
    return rules


def load_config(config_dir: Path, *, cached: bool = True) -> Config:
    """Load and cross-check feeds.yaml and rules.yaml; raises ConfigError listing every problem.

    A large file may come from the parse cache without positions; if it has anything to
    report, it is parsed again so every message says where.
    """
    with _gc_paused():
        return _load_config(config_dir, cached=cached)


def _load_config(config_dir: Path, *, cached: bool) -> Config:
    problems: list[str] = []
    feed_warnings: list[str] = []
    feeds: tuple[FeedConfig, ...] = ()
    polling = PollingConfig()
    metrics = MetricsConfig()
    rules = RulesConfig({}, {}, ())
    positioned = True
    try:
        feeds_doc = load_yaml(config_dir / FEEDS_FILE, FEEDS_FILE, cached=cached)
        positioned = feeds_doc.positioned
        feeds = parse_feeds(feeds_doc, problems, feed_warnings)
        polling = parse_polling(feeds_doc, problems)
        metrics = parse_metrics(feeds_doc, problems)
    except ConfigError as e:
        problems.extend(e.problems)
    try:
        rules_doc = load_yaml(config_dir / RULES_FILE, RULES_FILE, cached=cached)
    except ConfigError as e:
        problems.extend(e.problems)
    else:
        positioned = positioned and rules_doc.positioned
        rules = parse_rules(rules_doc, problems, base=config_dir)
        feed_names = {f.name for f in feeds}
        for i, rule in enumerate(rules.rules):
            for name in rule.feeds:
                if name not in feed_names:
                    problems.append(
                        rules_doc.problem(
                            ("rules", i, "feeds"),
                            f"rule {_show(rule.name)}: unknown feed {_show(name)}",
                        )
                    )
    warnings = (*feed_warnings, *rules.warnings)
    if (problems or warnings) and not positioned:
        return _load_config(config_dir, cached=False)
    if problems:
        raise ConfigError(problems)
    return Config(
        feeds,
        rules.entities,
        rules.channels,
        rules.rules,
        warnings,
        rules.operator_channel,
        polling,
        metrics,
    )
