"""What `monitor check` and the daemon verify beyond reading the files, said where it is.

- Every channel can send (`monitor.deliver.preflight`: notifiers built, templates rendered,
  nothing sent); a problem is positioned at the channel's key in rules.yaml.
- A failing rule example is positioned at the example.
- A running daemon does not reload to a configuration without rules or without channels
  when it has some (`reload_refusal`): an empty or truncated file would otherwise silence
  every alert. To run without rules on purpose, write `rules: []` and restart.

Positions come from reading rules.yaml again, only when there is something to say.
"""

from __future__ import annotations

from pathlib import Path

from monitor.config import RULES_FILE, Config
from monitor.config.yamlpos import Located, load_yaml
from monitor.errors import ConfigError


def channel_problems(config: Config, config_dir: Path) -> list[str]:
    """`rules.yaml:12:5: channels.desk.templates: ...` for every channel that cannot send."""
    from monitor.deliver.preflight import preflight

    found = [
        (name, key, message)
        for name, channel in sorted(config.channels.items())
        for key, message in preflight(channel)
    ]
    if not found:
        return []
    doc = _rules_doc(config_dir)
    return [
        doc.problem(("channels", name, *key), f"channel {name!r} cannot send: {message}")
        for name, key, message in found
    ]


def example_problems(
    failures: list[tuple[str, str, tuple[str, int]]], config_dir: Path
) -> list[str]:
    """Failing rule examples (`Matcher.check_examples`), each at its line in rules.yaml."""
    if not failures:
        return []
    doc = _rules_doc(config_dir)
    rules = doc.value.get("rules") if isinstance(doc.value, dict) else None
    index = {
        str(rule.get("name")): i
        for i, rule in enumerate(rules if isinstance(rules, list) else [])
        if isinstance(rule, dict)
    }
    out = []
    for name, problem, (key, number) in failures:
        at = index.get(name)
        said = f"rule {name!r}: {problem}"
        if at is None:  # not in the file as read now: say so without a position
            out.append(f"{RULES_FILE}: {said}")
        else:
            out.append(doc.problem(("rules", at, "examples", key, number), said))
    return out


def reload_refusal(running: Config, new: Config) -> list[str]:
    """Why a running daemon keeps `running` rather than switch to `new`, or []."""
    refused = []
    if running.rules and not new.rules:
        refused.append(
            f"{RULES_FILE}: the new configuration has no rules (the running one has "
            f"{len(running.rules)}): an empty or truncated file would silence every alert; "
            "to run without rules on purpose, write `rules: []` and restart the service"
        )
    if running.channels and not new.channels:
        refused.append(
            f"{RULES_FILE}: the new configuration has no channels (the running one has "
            f"{len(running.channels)}): alerts would go nowhere; to run without channels on "
            "purpose, restart the service"
        )
    return refused


def _rules_doc(config_dir: Path) -> Located:
    """rules.yaml with positions; without them when it can no longer be read."""
    try:
        return load_yaml(config_dir / RULES_FILE, RULES_FILE, cached=False)
    except ConfigError:
        return Located(RULES_FILE, None)
