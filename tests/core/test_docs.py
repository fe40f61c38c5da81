"""The README documents every configuration key and every command (and opens with the two);
its key tables are the ones the declarations render."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from monitor.cli import build_parser
from monitor.config import channels, feeds, reference, rules

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def config_keys() -> set[str]:
    """Every key the declarations in monitor/config/ know."""
    sections = [feeds.FEED, feeds.DEFAULTS, feeds.POLLING, feeds.METRICS, channels.SMTP]
    sections += [rules.RULE, rules.ENTITY, *(section for _, section in channels.KINDS.values())]
    keys = {k.name for s in sections for k in s.keys} | set(feeds.TOP) | set(rules.TOP)
    return keys | {"selector", "remove", "match", "no_match"}


@pytest.mark.parametrize("key", sorted(config_keys()))
def test_every_config_key_is_documented(key: str) -> None:
    assert f"`{key}" in README or f"{key}:" in README, f"README does not mention `{key}`"


@pytest.mark.parametrize("table", sorted(reference.TABLES))
def test_the_key_tables_are_rendered_from_the_declarations(table: str) -> None:
    start, end = reference.markers(table)
    found = reference.between(README, table)
    assert found is not None, f"README.md has no {start} ... {end} block"
    assert found == reference.render(table), (
        f"README.md's {table} key table differs from the declarations in monitor/config/;"
        f" rewrite it with: {reference.WRITE_COMMAND}"
    )


def test_every_declared_key_is_in_a_key_table() -> None:
    tabled = {k.name for sections in reference.TABLES.values() for _, s in sections for k in s.keys}
    assert config_keys() - tabled == {"selector", "remove", "match", "no_match"}


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_is_documented(command: str) -> None:
    assert f"`monitor {command}" in README


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    lines = [ln.split("#")[0].strip() for ln in first_block.splitlines() if ln.strip()]
    assert lines[1:] == ["make run", "make test"]
