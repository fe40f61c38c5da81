"""rules.yaml: entities (and their include files), channels, rules."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from monitor.config import fields as f
from monitor.config.channels import parse_channel
from monitor.config.fields import Checker, Key, Section
from monitor.config.values import parse_language, parse_rate, show
from monitor.config.yamlpos import Located, PathKey, load_yaml
from monitor.errors import ConfigError, QueryError
from monitor.models import ChannelConfig, EntityConfig, RuleConfig, RuleExamples
from monitor.suggest import did_you_mean

_ENTITY_ID = re.compile(r"[a-z0-9_-]+")  # fullmatch; one class, one pass: linear


def _languages(c: Checker, value: Any, path: PathKey, default: Any) -> tuple[str, ...]:
    codes: list[str] = []
    for i, written in enumerate(c.strings(value, path)):
        try:
            codes.append(parse_language(written))
        except ValueError as e:
            c.fail((*path, i) if isinstance(value, list) else path, str(e))
    return tuple(codes)


def _as_written(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    """The value as written, checked by its section once what it refers to is read."""
    return value


def _examples(c: Checker, value: Any, path: PathKey, default: Any) -> RuleExamples:
    ex = c.mapping(value, path)
    c.unknown_keys(ex, path, {"match", "no_match"})
    return RuleExamples(
        match=c.strings(ex.get("match"), (*path, "match")),
        no_match=c.strings(ex.get("no_match"), (*path, "no_match")),
    )


RULE = Section(
    "rule",
    (
        Key("name", "text", "", "unique name", f.required_text, required=True),
        Key(
            "query",
            "rule language",
            "",
            "what to match (see [Rules](#rules) and [docs/rules.md](docs/rules.md))",
            f.required_text,
            required=True,
        ),
        Key(
            "channels",
            "list of channel names",
            (),
            "where its alerts go: at least one",
            f.strings,
        ),
        Key("feeds", "list of feed names", (), "only articles from these feeds", f.strings),
        Key(
            "tags",
            "list of tags",
            (),
            "only articles from feeds with one of these tags",
            f.strings,
        ),
        Key(
            "languages",
            "list of language codes",
            (),
            "only articles in these languages (e.g. `[en, fr]`)",
            _languages,
        ),
        Key(
            "min_mentions",
            "integer",
            1,
            "matches needed in one article",
            f.integer(),
        ),
        Key("description", "text", "", "shown in alerts", f.text),
        Key(
            "max_alerts",
            "rate: `20/h`, `5/30m`, `100/d`",
            None,
            "caps the alerts the rule sends each channel in any such window; matches beyond it"
            " are not dropped but listed together in one summary message at the end of the"
            " window",
            f.parsed(parse_rate),
            shown="no cap",
        ),
        Key(
            "examples",
            "`{match: [...], no_match: [...]}`",
            RuleExamples(),
            "short texts `monitor check` runs the rule on, so its meaning stays pinned",
            _examples,
            shown="—",
        ),
        Key(
            "enabled",
            "boolean",
            True,
            "`false`: checked by `monitor check`, never matched",
            f.boolean,
        ),
    ),
)
_BASIC_RULE_KEYS = frozenset({"name", "query", "channels"})
ENTITY = Section(
    "entity",
    (
        Key(
            "aliases",
            "list of text",
            (),
            "forms matched regardless of case and accents",
            f.strings,
        ),
        Key(
            "exact",
            "list of text",
            (),
            "forms matched only with the same case (acronyms such as AQ, IS, WHO that are also"
            " ordinary words)",
            f.strings,
        ),
        Key("description", "text", "", "what it is", f.text),
    ),
)
FILE = Section(
    "top",
    (
        Key(
            "include",
            "list of file patterns",
            (),
            "shared gazetteers: files holding an `entities:` map, relative to the directory of"
            " rules.yaml (e.g. `entities/*.yaml`)",
            f.strings,
        ),
        Key(
            "entities",
            "mapping",
            MappingProxyType({}),
            "what `@id` in a query stands for, by id (lowercase letters, digits, `-` and `_`):"
            " each a mapping of the keys whose place says *entity*",
            f.mapping,
        ),
        Key(
            "channels",
            "mapping",
            MappingProxyType({}),
            "where alerts go, by name: each a mapping of the channel keys below",
            f.mapping,
        ),
        Key(
            "rules",
            "list",
            None,
            "the rules, each a mapping of the keys whose place says *rule*; a file without"
            " rules is an error unless it says `rules: []`",
            f.sequence,
            required=True,
        ),
        Key(
            "operator_channel",
            "channel name",
            None,
            "a channel for notices about the service itself (see below)",
            _as_written,
        ),
    ),
)
TOP = FILE.names
NO_RULES = "the file has no rules; write `rules: []` if you mean to alert on nothing"


@dataclass(frozen=True)
class RulesConfig:
    entities: Mapping[str, EntityConfig]
    channels: Mapping[str, ChannelConfig]  # enabled channels only
    rules: tuple[RuleConfig, ...]  # enabled rules only, naming enabled channels only
    warnings: tuple[str, ...] = ()
    operator_channel: str | None = None
    disabled_rules: tuple[str, ...] = ()
    disabled_channels: tuple[str, ...] = ()


def _parse_entities(c: Checker, value: Any, path: PathKey, into: dict[str, EntityConfig]) -> None:
    for key, raw in c.mapping(value, path).items():
        eid = str(key)
        epath = (*path, key)
        if not _ENTITY_ID.fullmatch(eid):
            fixed = re.sub(r"[^a-z0-9_-]+", "-", eid.strip().lower()).strip("-")
            hint = f": write {fixed} (and @{fixed} in queries)" if fixed else ""
            c.fail(
                epath, f"entity ids use lowercase letters, digits, '-' and '_'{hint}", at_key=True
            )
            continue
        if eid in into:
            c.fail(epath, f"entity {show(eid)} is defined twice")
        data = c.mapping(raw, epath, "{aliases: [...], exact: [...]}")
        values = ENTITY.read(c, data, epath)
        if not values["aliases"] and not values["exact"]:
            c.fail(epath, "an entity needs at least one alias or exact form")
        into[eid] = EntityConfig(eid, values["aliases"], values["exact"])


def _parse_rule(
    c: Checker,
    raw: Any,
    path: PathKey,
    entity_ids: set[str],
    validate: Callable[[str, set[str], bool], list[str]],
    warnings: list[str],
) -> RuleConfig | None:
    data = c.mapping(raw, path)
    if not data:
        c.fail(path, "expected a rule {name, query, ...}")
        return None
    if data.keys() <= _BASIC_RULE_KEYS:  # most rules of a large file: nothing else to read
        name = c.string(data.get("name"), (*path, "name"))
        query = c.string(data.get("query"), (*path, "query"))
        channels = c.strings(data["channels"], (*path, "channels")) if "channels" in data else ()
        rule = RuleConfig(name=name, query=query, channels=channels)
    else:
        rule = RuleConfig(**RULE.read(c, data, path))
    if rule.query:
        filtered = bool(rule.feeds or rule.tags or rule.languages)
        label = (*path, "query")
        lost = c.lost_comment(label, rule.query)
        if lost:
            warnings.append(c.doc.problem(label, f"rule {show(rule.name)}: {lost}"))
        try:
            for w in validate(rule.query, entity_ids, filtered):
                warnings.append(c.doc.problem(label, f"rule {show(rule.name)}: {w}"))
        except QueryError as e:
            c.fail(label, str(e))
    return rule


def _check_channels(
    c: Checker,
    rule: RuleConfig,
    data: Any,
    path: PathKey,
    channels: Mapping[str, ChannelConfig],
    warnings: list[str],
) -> RuleConfig:
    """The rule's channels exist; a rule that alerts nowhere is a problem, one whose
    channels are all disabled a warning. The rule keeps only its enabled channels."""
    if not rule.channels:
        if rule.enabled:
            where = (*path, "channels") if isinstance(data, dict) and "channels" in data else path
            example = next(iter(sorted(channels)), "NAME")
            c.fail(where, f"this rule alerts nowhere; add channels: [{example}]")
        return rule
    for i, name in enumerate(rule.channels):
        if name not in channels:
            hint = did_you_mean(name, channels)
            if not hint:
                known = ", ".join(sorted(channels)) or "none defined"
                hint = f"; the channels are: {known}"
            where = (
                (*path, "channels", i)
                if isinstance(data.get("channels"), list)
                else (*path, "channels")
            )
            c.fail(where, f"unknown channel {show(name)}{hint}")
    enabled = tuple(n for n in rule.channels if n in channels and channels[n].enabled)
    if rule.enabled and not enabled and all(n in channels for n in rule.channels):
        warnings.append(
            c.doc.problem(
                (*path, "channels"),
                f"rule {show(rule.name)}: every channel it names is disabled"
                f" ({', '.join(rule.channels)}); it alerts nowhere until one is enabled",
            )
        )
    return replace(rule, channels=enabled) if enabled != rule.channels else rule


def parse_rules(
    doc: Located,
    problems: list[str],
    *,
    need_channels: bool = True,
    base: Path | None = None,
) -> RulesConfig:
    """Entities, channels and rules from a rules.yaml document (plus its includes).

    `include:` globs resolve against `base` (the rules file's directory). Disabled rules
    and channels are checked like the others, then left out.
    """
    from monitor.match import validate_query

    base = base if base is not None else Path(doc.file).parent
    c = Checker(doc, problems, base)
    top = c.mapping(doc.value, ())
    c.unknown_keys(top, (), TOP)
    if top.get("rules") is None:  # an empty or truncated file; `rules: []` says it is meant
        c.fail(("rules",), NO_RULES)
    entities: dict[str, EntityConfig] = {}
    _parse_includes(c, top, entities)
    _parse_entities(c, top.get("entities"), ("entities",), entities)

    channels: dict[str, ChannelConfig] = {}
    for name, raw in FILE.value(c, top, (), "channels").items():
        channel = parse_channel(c, str(name), raw, ("channels", name))
        if channel:
            channels[str(name)] = channel
    warnings: list[str] = []
    operator = _operator_channel(c, top, channels, warnings)

    rules: list[RuleConfig] = []
    seen: dict[str, int] = {}
    ids = set(entities)
    for i, raw in enumerate(FILE.value(c, top, (), "rules") or ()):
        before = len(problems)
        path: PathKey = ("rules", i)
        rule = _parse_rule(c, raw, path, ids, validate_query, warnings)
        if rule is None:
            continue
        if need_channels:
            rule = _check_channels(c, rule, raw, path, channels, warnings)
        if rule.name:  # name the rule in its problems: operators know rules by name
            problems[before:] = [f"{p} (rule {show(rule.name)})" for p in problems[before:]]
        if rule.name in seen:
            c.fail(
                ("rules", i, "name"),
                f"duplicate rule name {show(rule.name)} (first at rules[{seen[rule.name]}])",
            )
        seen[rule.name] = i
        rules.append(rule)
    return RulesConfig(
        entities,
        {n: ch for n, ch in channels.items() if ch.enabled},
        tuple(r for r in rules if r.enabled),
        tuple(warnings),
        operator,
        tuple(r.name for r in rules if not r.enabled),
        tuple(n for n, ch in channels.items() if not ch.enabled),
    )


def _operator_channel(
    c: Checker, top: Mapping[str, Any], channels: Mapping[str, ChannelConfig], warnings: list[str]
) -> str | None:
    """`operator_channel`: an enabled channel's name, or None. A disabled one is a warning
    (notices would go nowhere), an unknown one a problem."""
    name = FILE.value(c, top, (), "operator_channel")
    if name is None:
        return None
    where = ("operator_channel",)
    if not isinstance(name, str) or name not in channels:
        hint = did_you_mean(name, channels) if isinstance(name, str) else ""
        c.fail(where, f"unknown channel {show(name)}{hint}")
        return None
    if not channels[name].enabled:
        warnings.append(
            c.doc.problem(
                where,
                f"channel {show(name)} is disabled: notices about the service go nowhere until"
                " it is enabled (or name another channel)",
            )
        )
        return None
    return name


def _parse_includes(c: Checker, top: Mapping[str, Any], entities: dict[str, EntityConfig]) -> None:
    included: set[str] = set()
    for i, pattern in enumerate(FILE.value(c, top, (), "include")):
        matched = sorted(glob.glob(c.under_base(pattern)))
        if not matched:
            c.fail(
                ("include", i) if isinstance(top.get("include"), list) else ("include",),
                f"no file matches {show(pattern)}",
            )
        for file in matched:
            if file in included:  # a file two patterns match is read once
                continue
            included.add(file)
            try:
                inc = load_yaml(Path(file), cached=False)  # gazetteers: small, positions kept
            except ConfigError as e:
                c.problems.extend(e.problems)
                continue
            ic = Checker(inc, c.problems)
            inc_top = ic.mapping(inc.value, ())
            ic.unknown_keys(inc_top, (), {"entities"})
            _parse_entities(ic, inc_top.get("entities"), ("entities",), entities)
