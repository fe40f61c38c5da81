"""YAML with positions: load a document and remember where every value came from.

Config validation reports ``file:line:col: path: message``; PyYAML's node tree carries the
marks, so the document is composed (with the C parser when available) and turned into plain
Python values alongside a map from each value's path to its 1-based (line, column).
"""

from __future__ import annotations

import hashlib
import marshal
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

PathKey = tuple[str | int, ...]


def render_path(path: PathKey) -> str:
    """``("rules", 2, "query")`` -> ``rules[2].query``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class Located:
    """A loaded YAML document: its plain value plus the position of every node by path."""

    file: str
    value: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    positioned: bool = True  # False: from the cache, `marks` are empty

    def where(self, path: PathKey) -> tuple[int, int]:
        """Position of the value at `path`, or of its nearest ancestor that has one."""
        while path not in self.marks and path:
            path = path[:-1]
        return self.marks.get(path, (1, 1))

    def problem(self, path: PathKey, message: str, *, at_key: bool = False) -> str:
        """``file:line:col: path: message``; `at_key` points at the mapping key, not its value."""
        line, col = self.key_marks[path] if at_key and path in self.key_marks else self.where(path)
        label = render_path(path)
        return (
            f"{self.file}:{line}:{col}: {label}: {message}"
            if label
            else (f"{self.file}:{line}:{col}: {message}")
        )


def _convert(node: yaml.Node, path: PathKey, located: Located, dupes: list[PathKey]) -> Any:
    located.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int):
                key = str(key)
            if key in out:
                dupes.append((*path, key))
            mark = key_node.start_mark
            located.key_marks[(*path, key)] = (mark.line + 1, mark.column + 1)
            out[key] = _convert(value_node, (*path, key), located, dupes)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(child, (*path, i), located, dupes) for i, child in enumerate(node.value)]
    return _scalar(node)


_constructor = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    """Construct one scalar by its resolved tag (no per-node cache, so big files stay small)."""
    build = _constructor.yaml_constructors.get(node.tag)
    if build is None:
        return node.value
    return build(_constructor, node)


def load_yaml(path: Path, display: str | None = None, *, cached: bool = True) -> Located:
    """Parse `path`; a syntax error becomes a ConfigError naming file, line and column.

    Large files (a newsroom's 100,000 rules) take seconds to parse, so their plain value
    is cached by content hash. A document from the cache has no positions
    (`Located.positioned` is false): when it turns out to have problems, load it again
    with `cached=False` to say where they are.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError([f"{name}: file not found"]) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{name}: cannot read: {e}"]) from e
    if not cached or len(text) < CACHE_MIN_CHARS:
        return parse_yaml(text, name)
    cache = _cache_path(text)
    try:
        value = marshal.loads(cache.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    else:
        return Located(name, value, positioned=False)
    located = parse_yaml(text, name)
    try:
        data = marshal.dumps(located.value)
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp = cache.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(data)
        temp.replace(cache)
    except (OSError, ValueError):  # unwritable cache, or values marshal can't store
        pass
    return located


CACHE_MIN_CHARS = 1_000_000


def cache_dir() -> Path:
    """$MONITOR_CACHE_DIR, systemd's $CACHE_DIRECTORY, else $XDG_CACHE_HOME/news-monitor."""
    for variable in ("MONITOR_CACHE_DIR", "CACHE_DIRECTORY"):
        if os.environ.get(variable):
            return Path(os.environ[variable].split(":")[0])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "news-monitor"


def _cache_path(text: str) -> Path:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return cache_dir() / f"yaml-{CACHE_FORMAT}-{digest}.marshal"


CACHE_FORMAT = 1


def parse_yaml(text: str, name: str) -> Located:
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        what = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise ConfigError([f"{where}: YAML syntax error: {what}"]) from e
    except yaml.YAMLError as e:
        raise ConfigError([f"{name}: YAML error: {e}"]) from e
    located = Located(name, None)
    dupes: list[PathKey] = []
    if node is not None:
        located.value = _convert(node, (), located, dupes)
    if dupes:
        message = "duplicate key (the later one would win)"
        raise ConfigError([located.problem(p, message, at_key=True) for p in dupes])
    return located
