"""feeds.yaml: the feeds, their defaults, `polling:` and `metrics:`."""

from __future__ import annotations

from collections.abc import Mapping
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
    Key("interval", "duration", 300.0, "how often to poll", f.duration),
    Key("timeout", "duration", 20.0, "limit for one HTTP request, body included", f.duration),
    Key(
        "extract",
        "true, false or {selector, remove}",
        (True, None),
        "fetch each new item's link and extract the article",
        _extract,
    ),
    Key(
        "allow_networks",
        "list of networks",
        (),
        "networks article links (and feed redirects) may resolve into",
        _networks,
    ),
    Key("min_interval", "duration", None, "the shortest interval server hints may set", _bound),
    Key("max_interval", "duration", None, "the longest interval server hints may set", _bound),
    Key("max_age", "duration or off", 3 * 86400.0, "older items never alert", _max_age),
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
        Key("url", "http(s) URL", "", "the feed's URL", f.http_url, required=True),
        *_SHARED,
        Key("tags", "list of text", (), "labels that rules can select on", f.strings),
        Key("enabled", "boolean", True, "false keeps a feed listed but not polled", f.boolean),
        Key("auth_env", "secret name", None, "a secret holding user:password", f.secret, True),
    ),
)
POLLING = Section(
    "polling",
    (
        Key("max_polls", "integer", 50, "polls in flight at once", f.integer(maximum=1000)),
        Key("per_host", "integer", 2, "polls in flight to one host", f.integer(maximum=1000)),
        Key("lease", "duration", 60.0, "how long a daemon's claims outlive it", f.duration),
    ),
)
METRICS = Section(
    "metrics",
    (Key("listen", "host:port", f"127.0.0.1:{METRICS_PORT}", "where /metrics is served", f.text),),
)
TOP = frozenset({"defaults", "feeds", "polling", "metrics"})


def parse_polling(doc: Located, problems: list[str]) -> PollingConfig:
    """The `polling:` section of feeds.yaml: polls in flight in all and to one host, and
    how long a daemon's claims outlive it."""
    c = Checker(doc, problems)
    top = doc.value if isinstance(doc.value, dict) else {}
    values = POLLING.read(c, c.mapping(top.get("polling"), ("polling",)), ("polling",))
    if values["lease"] < MIN_LEASE:
        c.fail(
            ("polling", "lease"),
            f"must be at least {MIN_LEASE:g}s (claims are renewed every quarter of it)",
        )
        values["lease"] = POLLING.default("lease")
    return PollingConfig(**values)


def parse_metrics(doc: Located, problems: list[str]) -> MetricsConfig:
    """The `metrics:` section of feeds.yaml: `off`, `on`, or `{listen: "host:port"}` (by default
    127.0.0.1:9464)."""
    c = Checker(doc, problems)
    top = doc.value if isinstance(doc.value, dict) else {}
    value = top.get("metrics")
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
        return MetricsConfig(listen=None, explicit=True)
    if value is True:  # `metrics: on`: the default address
        return MetricsConfig()
    data = c.mapping(value, ("metrics",), 'a mapping ({listen: "host:port"}) or off')
    c.unknown_keys(data, ("metrics",), METRICS.names)
    if data.get("listen") is None:
        return MetricsConfig()
    text = c.string(data["listen"], ("metrics", "listen"))
    address = _listen_address(text)
    if address is None:
        c.fail(
            ("metrics", "listen"),
            f"expected host:port (e.g. 127.0.0.1:{METRICS_PORT} or [::1]:{METRICS_PORT}),"
            f" got {show(text)}",
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


def _check_bounds(c: Checker, values: Mapping[str, Any], path: PathKey) -> None:
    low, high = values["min_interval"], values["max_interval"]
    if low is not None and high is not None and low > high:
        c.fail(
            (*path, "max_interval"),
            f"max_interval ({high:g}s) is shorter than min_interval ({low:g}s)",
        )


def parse_feeds(doc: Located, problems: list[str], warnings: list[str]) -> tuple[FeedConfig, ...]:
    """The feeds of a feeds.yaml document; problems and warnings are appended to the lists."""
    c = Checker(doc, problems)
    top = c.mapping(doc.value, ())
    c.unknown_keys(top, (), TOP)
    raw_defaults = c.mapping(top.get("defaults"), ("defaults",))
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
    raw_feeds = c.sequence(top.get("feeds"), ("feeds",))
    if "feeds" not in top:
        c.fail((), "no 'feeds:' list")
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
