"""feeds.yaml + rules.yaml -> frozen configuration objects: the front door of the package.

`yamlpos` reads YAML keeping positions; `fields` declares every key once (type, default,
secret, help) and reads values; `values` parses them into what they mean (durations,
zones, networks, digest schedules); `feeds`, `channels` and `rules` read their sections.

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config.feeds import parse_feeds, parse_metrics, parse_polling
from monitor.config.fields import read_secret
from monitor.config.rules import RulesConfig, parse_rules
from monitor.config.values import MAX_DURATION, parse_duration, parse_rate, show
from monitor.config.yamlpos import Located, load_yaml
from monitor.errors import ConfigError
from monitor.models import (
    ChannelConfig,
    EntityConfig,
    FeedConfig,
    MetricsConfig,
    PollingConfig,
    RuleConfig,
)
from monitor.suggest import did_you_mean

__all__ = [
    "FEEDS_FILE",
    "MAX_DURATION",
    "RULES_FILE",
    "Config",
    "RulesConfig",
    "load_config",
    "load_rules",
    "parse_duration",
    "parse_rate",
    "read_secret",
]

FEEDS_FILE = "feeds.yaml"
RULES_FILE = "rules.yaml"


@dataclass(frozen=True)
class Config:
    feeds: tuple[FeedConfig, ...]
    entities: Mapping[str, EntityConfig]
    channels: Mapping[str, ChannelConfig]  # enabled channels only
    rules: tuple[RuleConfig, ...]  # enabled rules only
    warnings: tuple[str, ...] = ()
    operator_channel: str | None = None
    polling: PollingConfig = field(default_factory=PollingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    disabled_rules: tuple[str, ...] = ()
    disabled_channels: tuple[str, ...] = ()


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
    rule_warnings: list[str] = []
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
        _cross_check(rules_doc, feeds, problems, rule_warnings)
    warnings = (*feed_warnings, *rules.warnings, *rule_warnings)
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
        rules.disabled_rules,
        rules.disabled_channels,
    )


def _cross_check(
    doc: Located, feeds: tuple[FeedConfig, ...], problems: list[str], warnings: list[str]
) -> None:
    """What rules.yaml says about feeds.yaml: every feed a rule names exists (a problem), and
    every tag it selects on is some feed's (a warning: the rule would see nothing from it)."""
    top = doc.value if isinstance(doc.value, dict) else {}
    raw_rules = top.get("rules")
    names = {f.name for f in feeds}
    tags = {t for f in feeds for t in f.tags}
    for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else ()):
        if not isinstance(raw, dict):
            continue
        rule = show(raw.get("name"))
        for key, known in (("feeds", names), ("tags", tags)):
            value = raw.get(key)
            listed = value if isinstance(value, list) else [value] if value is not None else []
            for j, item in enumerate(listed):
                if not isinstance(item, str | int | float) or str(item) in known:
                    continue
                where = ("rules", i, key, j) if isinstance(value, list) else ("rules", i, key)
                hint = did_you_mean(str(item), known)
                if key == "feeds":
                    problems.append(
                        doc.problem(where, f"unknown feed {show(str(item))}{hint} (rule {rule})")
                    )
                else:
                    warnings.append(
                        doc.problem(
                            where,
                            f"rule {rule}: no feed has the tag {show(str(item))}{hint}; the rule"
                            " sees no article through it",
                        )
                    )
