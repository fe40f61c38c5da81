"""The README's configuration key tables, rendered from the declarations in `fields`,
`feeds`, `rules` and `channels`: each key's place, value, default and help, so the tables
cannot drift from what the parser reads. tests/core/test_docs.py checks that README.md holds
exactly these tables between their markers; after changing a declaration, rewrite them with

    .venv/bin/python -m monitor.config.reference --write README.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor.config import channels, feeds, rules
from monitor.config.fields import SECRET_NAME, IntegerReader, Key, Section

WRITE_COMMAND = ".venv/bin/python -m monitor.config.reference --write README.md"
NAMES_A_SECRET = (
    "; names an environment variable or a file in `$CREDENTIALS_DIRECTORY` holding it,"
    " never the value itself"
)
REDACTED = "; `monitor check` and the logs never show it"

# each table: its sections, each with the place the README gives its keys
TABLES: dict[str, tuple[tuple[str, Section], ...]] = {
    "feeds": (
        ("top", feeds.FILE),
        ("feed", feeds.FEED),
        ("defaults", feeds.DEFAULTS),
        ("`polling`", feeds.POLLING),
        ("`metrics`", feeds.METRICS),
    ),
    "rules": (
        ("top", rules.FILE),
        ("entity", rules.ENTITY),
        ("rule", rules.RULE),
    ),
    "channels": (
        ("every channel", Section("channel", channels.COMMON)),
        *(
            (
                kind,
                Section(section.where, tuple(k for k in section.keys if k not in channels.COMMON)),
            )
            for kind, (_, section) in channels.KINDS.items()
        ),
        ("email `smtp`", channels.SMTP),
    ),
}
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def render(name: str) -> str:
    """The markdown table `name` (a key of TABLES)."""
    places: dict[int, list[str]] = {}
    keys: list[Key] = []
    for place, section in TABLES[name]:
        for key in section.keys:
            if id(key) not in places:
                places[id(key)] = []
                keys.append(key)
            places[id(key)].append(place)
    lines = ["| key | where | value | default | meaning |", "|---|---|---|---|---|"]
    for key in keys:
        cells = (
            f"`{key.name}`",
            ", ".join(places[id(key)]),
            _value(key),
            _default(key),
            key.help + _secret_note(key),
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _secret_note(key: Key) -> str:
    if not key.secret:
        return ""
    return NAMES_A_SECRET if key.type == SECRET_NAME else REDACTED


def _value(key: Key) -> str:
    if isinstance(key.read, IntegerReader):
        low, high = key.read.minimum, key.read.maximum
        return f"integer, {low} to {high}" if high is not None else f"integer ≥ {low}"
    return key.type


def _default(key: Key) -> str:
    """The default as the README says it: declared (`shown`) or said from the value."""
    value = key.default
    if key.required:
        return "required"
    if key.shown is not None:
        return key.shown
    if value is None or value == "" or value == () or (isinstance(value, Mapping) and not value):
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if "duration" in key.type and isinstance(value, int | float):
        return f"`{_duration(value)}`"
    if isinstance(value, int | str):
        return f"`{value}`"
    raise TypeError(f"{key.name}: declare how its default reads in the README (Key.shown)")


def _duration(seconds: float) -> str:
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- keys:{name} -->", f"<!-- /keys:{name} -->"


def between(text: str, name: str) -> str | None:
    """What `text` holds between the markers of table `name` (None: no such markers)."""
    start, end = markers(name)
    found = re.search(f"{re.escape(start)}\n(.*?){re.escape(end)}", text, re.DOTALL)
    return found.group(1) if found else None


def rewrite(text: str) -> tuple[str, list[str]]:
    """`text` with every table rewritten between its markers; the names of tables whose
    markers it lacks."""
    missing = []
    for name in TABLES:
        if between(text, name) is None:
            missing.append(name)
            continue
        start, end = markers(name)
        block = f"{start}\n{between(text, name)}{end}"
        text = text.replace(block, f"{start}\n{render(name)}{end}", 1)
    return text, missing


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.config.reference",
        description="Print the README's configuration key tables, or rewrite them in a file.",
    )
    parser.add_argument("--write", metavar="FILE", type=Path, help="rewrite the tables in FILE")
    args = parser.parse_args(argv)
    if args.write is None:
        for name in TABLES:
            start, end = markers(name)
            print(f"{start}\n{render(name)}{end}\n")
        return 0
    text, missing = rewrite(args.write.read_text(encoding="utf-8"))
    if missing:
        for name in missing:
            start, end = markers(name)
            print(f"{args.write}: no {start} ... {end} block", file=sys.stderr)
        return 1
    args.write.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
