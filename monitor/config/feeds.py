"""feeds.yaml: the feeds, their defaults, `polling:` and `metrics:`."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from monitor import redact
from monitor.config import fields as f
from monitor.config.fields import Checker, Key, Section, url_parts
from monitor.config.values import parse_duration, parse_network, show
from monitor.config.yamlpos import Located, PathKey
from monitor.models import METRICS_PORT, ExtractOverride, FeedConfig, MetricsConfig, PollingConfig

MIN_LEASE = 2.0  # a claim renewed every quarter of this; shorter would be all renewals
MAX_AGE_LIMIT = 100 * 366 * 86400.0  # max_age may reach further back than other durations
_OFF = ("off", "never", "none")


def _max_age(c: Checker, value: Any, path: PathKey, default: Any) -> float | None:
    """`max_age`: a duration (up to a century), or `off` (items of any age alert)."""
    if value is None:
        return default  # type: ignore[no-any-return]
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    try:
        return parse_duration(value, limit=MAX_AGE_LIMIT)
    except ValueError as e:
        c.fail(path, f"{e} (or off)")
        return default  # type: ignore[no-any-return]


def _bound(c: Checker, value: Any, path: PathKey, default: Any) -> float | None:
    return c.duration(value, path, 0.0) or None


def _extract(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    """`extract`: true, false or {selector, remove} -> (extract, override)."""
    if value is None:
        return (True, None)
    if isinstance(value, bool):
        return (value, None)
    data = c.mapping(value, path, "true, false or {selector, remove}")
    c.unknown_keys(data, path, {"selector", "remove"})
    selector = c.string(data.get("selector"), (*path, "selector"), required=False) or None
    return (True, ExtractOverride(selector, c.strings(data.get("remove"), (*path, "remove"))))


def _networks(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    out = []
    for i, net in enumerate(c.strings(value, path)):
        try:
            out.append(parse_network(net))
        except ValueError as e:
            c.fail((*path, i), str(e))
    return tuple(out)


_SHARED = (
    Key(
        "interval",
        "duration",
        300.0,
        "how often to poll; a failing feed backs off (doubling, up to 24 h)",
        f.duration,
    ),
    Key("timeout", "duration", 20.0, "limit for one HTTP request, body included", f.duration),
    Key(
        "extract",
        "`true`, `false` or `{selector, remove}`",
        (True, None),
        "`true`: fetch each new item's link and extract the article; `false`: match on the"
        ' feed\'s own text; `{selector: "div.story-body", remove: [".related"]}`:'
        " site-specific extraction",
        _extract,
        shown="`true`",
    ),
    Key(
        "allow_networks",
        "list of networks",
        (),
        "networks article links (and feed redirects) may resolve into (see below); a feed's"
        " list adds to the one in `defaults`",
        _networks,
    ),
    Key(
        "min_interval",
        "duration",
        None,
        "the shortest interval the server's hints (`Cache-Control: max-age`, `Expires`,"
        " RSS `<ttl>`) may set",
        _bound,
        shown="`interval`",
    ),
    Key(
        "max_interval",
        "duration",
        None,
        "the longest interval the server's hints may set",
        _bound,
        shown="the larger of `interval` and 30m",
    ),
    Key(
        "max_age",
        "duration or `off`",
        3 * 86400.0,
        "items published longer ago are recorded as seen and never alert (`off`: no limit);"
        " undated items alert",
        _max_age,
    ),
)
DEFAULTS = Section("defaults", _SHARED)
FEED = Section(
    "feed",
    (
        Key(
            "name",
            "text",
            "",
            "unique name; rules and alerts refer to it",
            f.required_text,
            required=True,
        ),
        Key(
            "url",
            "http(s) URL",
            "",
            "the feed: RSS 0.9x/1.0/2.0, Atom or JSON Feed",
            f.http_url,
            required=True,
        ),
        *_SHARED,
        Key("tags", "list of text", (), "labels that rules can select on", f.strings),
        Key("enabled", "boolean", True, "`false` keeps a feed listed but not polled", f.boolean),
        Key(
            "auth_env",
            f.SECRET_NAME,
            None,
            "`user:password` for a feed behind HTTP basic auth (see below); per feed, never in"
            " `defaults`",
            f.secret,
            True,
        ),
    ),
)
POLLING = Section(
    "polling",
    (
        Key(
            "max_polls",
            "integer",
            50,
            "polls in flight at once, in all (see"
            " [Polling](#polling-schedule-limits-and-feed-health))",
            f.integer(maximum=1000),
        ),
        Key(
            "per_host", "integer", 2, "polls in flight at once to one host", f.integer(maximum=1000)
        ),
        Key(
            "lease",
            "duration",
            60.0,
            f"how long a daemon's claims outlive it, at least {MIN_LEASE:g}s (see"
            " [Scaling out](#scaling-out))",
            f.duration,
        ),
    ),
)
METRICS = Section(
    "metrics",
    (
        Key(
            "listen",
            "host:port",
            f"127.0.0.1:{METRICS_PORT}",
            f'where `/metrics` and `/healthz` are served (IPv6 as `"[::1]:{METRICS_PORT}"`)',
            f.text,
        ),
    ),
)


def _polling(c: Checker, value: Any, path: PathKey, default: Any) -> PollingConfig:
    values = POLLING.read(c, c.mapping(value, path), path)
    if values["lease"] < MIN_LEASE:
        c.fail(
            (*path, "lease"),
            f"must be at least {MIN_LEASE:g}s (claims are renewed every quarter of it)",
        )
        values["lease"] = POLLING.default("lease")
    return PollingConfig(**values)


def _metrics(c: Checker, value: Any, path: PathKey, default: Any) -> MetricsConfig:
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return MetricsConfig(listen=None, explicit=True)
    if value is True:  # `metrics: on`: the default address
        return MetricsConfig()
    data = c.mapping(value, path, 'a mapping ({listen: "host:port"}) or off')
    c.unknown_keys(data, path, METRICS.names)
    if data.get("listen") is None:
        return MetricsConfig()
    text = c.string(data["listen"], (*path, "listen"))
    address = _listen_address(text)
    if address is None:
        c.fail(
            (*path, "listen"),
            f"expected host:port (e.g. 127.0.0.1:{METRICS_PORT} or [::1]:{METRICS_PORT}),"
            f" got {show(text)}",
        )
        return MetricsConfig()
    return MetricsConfig(listen=address, explicit=True)


FILE = Section(
    "top",
    (
        Key(
            "defaults",
            "mapping",
            MappingProxyType({}),
            "values every feed inherits: the keys whose place says *defaults*; a feed's own"
            " value wins",
            f.mapping,
        ),
        Key(
            "feeds",
            "list",
            (),
            "the feeds, each a mapping of the keys whose place says *feed*",
            f.sequence,
            required=True,
        ),
        Key(
            "polling",
            "`{max_polls, per_host, lease}`",
            PollingConfig(),
            "how many polls run at once, and how long a daemon's claims last",
            _polling,
            shown="`{max_polls: 50, per_host: 2, lease: 1m}`",
        ),
        Key(
            "metrics",
            "`{listen}`, `on` or `off`",
            MetricsConfig(),
            "where `/metrics` and `/healthz` are served (see [Metrics and health]"
            "(#metrics-and-health)); an address written here that cannot be listened on stops"
            " `monitor run` with exit status 78; the default, if taken (a second daemon on the"
            " host), is logged (`metrics_not_served`) and skipped; a new address takes effect"
            " at restart",
            _metrics,
            shown=f"`on`: `127.0.0.1:{METRICS_PORT}`",
        ),
    ),
)
TOP = FILE.names


def parse_polling(doc: Located, problems: list[str]) -> PollingConfig:
    """The `polling:` section of feeds.yaml: polls in flight in all and to one host, and
    how long a daemon's claims outlive it."""
    c = Checker(doc, problems)
    top = doc.value if isinstance(doc.value, dict) else {}
    polling: PollingConfig = FILE.value(c, top, (), "polling")
    return polling


def parse_metrics(doc: Located, problems: list[str]) -> MetricsConfig:
    """The `metrics:` section of feeds.yaml: `off`, `on`, or `{listen: "host:port"}` (by default
    127.0.0.1:9464)."""
    c = Checker(doc, problems)
    top = doc.value if isinstance(doc.value, dict) else {}
    metrics: MetricsConfig = FILE.value(c, top, (), "metrics")
    return metrics


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


def _check_bounds(c: Checker, values: Mapping[str, Any], path: PathKey) -> None:
    low, high = values["min_interval"], values["max_interval"]
    if low is not None and high is not None and low > high:
        c.fail(
            (*path, "max_interval"),
            f"max_interval ({high:g}s) is shorter than min_interval ({low:g}s)",
        )


NO_FEEDS = "the list of feeds is empty; write `feeds: []` if you mean to poll nothing"


def parse_feeds(doc: Located, problems: list[str], warnings: list[str]) -> tuple[FeedConfig, ...]:
    """The feeds of a feeds.yaml document; problems and warnings are appended to the lists."""
    c = Checker(doc, problems)
    top = c.mapping(doc.value, ())
    c.unknown_keys(top, (), TOP)
    raw_defaults = FILE.value(c, top, (), "defaults")
    if "auth_env" in raw_defaults:
        c.fail(
            ("defaults", "auth_env"),
            "auth_env is per feed: in defaults it would send the credentials to every feed's "
            "host (share it between feeds with a YAML anchor or `<<:` merge)",
            at_key=True,
        )
    defaults = DEFAULTS.read(c, raw_defaults, ("defaults",), extra={"auth_env"})
    _check_bounds(c, defaults, ("defaults",))

    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    raw_feeds = FILE.value(c, top, (), "feeds")
    if "feeds" not in top:
        c.fail((), "no 'feeds:' list")
    elif top["feeds"] is None:  # a truncated file; `feeds: []` says it is meant
        c.fail(("feeds",), NO_FEEDS)
    elif top["feeds"] == []:
        warnings.append(c.doc.problem(("feeds",), "an empty list polls nothing: no rule can alert"))
    for i, raw in enumerate(raw_feeds):
        path: PathKey = ("feeds", i)
        data = c.mapping(raw, path)
        if not data:
            continue
        before = len(problems)
        values = FEED.read(c, data, path, defaults=defaults)
        name = values["name"]
        if name in seen:
            c.fail(
                (*path, "name"), f"duplicate feed name {show(name)} (first at feeds[{seen[name]}])"
            )
        seen[name] = i
        _check_bounds(c, values, path)
        values["allow_networks"] = defaults["allow_networks"] + (
            values["allow_networks"] if "allow_networks" in data else ()
        )
        values["extract"], values["extract_override"] = values["extract"]
        values["auth"] = _feed_auth(c, data, path, values.pop("auth_env"), warnings)
        lost = c.lost_comment((*path, "url"), values["url"], url=True)
        if lost:
            warnings.append(c.doc.problem((*path, "url"), f"feed {show(name)}: {lost}"))
        if name:  # name the feed in its problems: operators know feeds by name
            problems[before:] = [f"{p} (feed {show(name)})" for p in problems[before:]]
        feeds.append(FeedConfig(**values))
    return tuple(feeds)


def _feed_auth(
    c: Checker, data: Mapping[str, Any], path: PathKey, secret: str | None, warnings: list[str]
) -> tuple[str, str] | None:
    """`auth_env`: the secret it names, `user:password`, as (user, password) for basic auth.

    Credentials written into the URL work too, but show wherever the URL is printed: a
    warning says so, and another when either kind would cross the network in plain http.
    """
    url = data.get("url")
    parts = url_parts(url) if isinstance(url, str) and url else None
    in_url = parts is not None and parts.username is not None
    if in_url:
        warnings.append(
            c.doc.problem(
                (*path, "url"),
                "the URL carries credentials, which show wherever the URL is printed; "
                "put user:password in a secret and name it with auth_env",
            )
        )
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
