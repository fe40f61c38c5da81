"""YAML with positions: load a document and remember where every value came from.

Config validation reports ``file:line:col: path: message``. The parser's events (from the C
parser when available) are turned into plain Python values here, without recursion,
alongside a map from each value's path to its 1-based (line, column). Whatever the file
holds, the outcome is the values or a ConfigError that says where:

- nesting is limited to MAX_DEPTH levels;
- an alias shares its anchor's value, and may not make the document, written out, longer
  than ``max(EXPANSION_FLOOR, EXPANSION_FACTOR * len(text))`` characters ("billion laughs");
- an alias inside the collection it names (``a: &x [*x]``) is refused;
- merge keys (``<<: *defaults``) work; tags other than YAML's plain scalar types are refused;
- a scalar that does not construct (``2020-13-45``, an integer of 5,000 digits) is a problem
  at its position.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from monitor.errors import ConfigError

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

PathKey = tuple[str | int, ...]


def render_path(path: PathKey) -> str:
    """``("rules", 2, "query")`` -> ``rules[2].query``; long keys and paths are cut short."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_short(part)}" if out else _short(part)
    return out if len(out) <= 120 else f"{out[:59]}…{out[-60:]}"


@dataclass
class Located:
    """A loaded YAML document: its plain value plus the position of every node by path."""

    file: str
    value: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    positioned: bool = True  # False: from the cache, `marks` are empty
    # a comment that starts right after a plain value on its line and reads like text
    # (`query: iran #nuclear`: no space after '#'), by the value's path: YAML dropped it
    comments: dict[PathKey, str] = field(default_factory=dict)

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


MAX_DEPTH = 100  # levels of nesting; a configuration needs fewer than 10
EXPANSION_FACTOR = 10  # aliases may make a document this many times its own size, written out,
EXPANSION_FLOOR = 1_000_000  # or this many characters, whichever is larger

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_MERGE = _TAG + "merge"
_SCALAR_TAGS = frozenset(
    _TAG + kind for kind in ("null", "bool", "int", "float", "str", "binary", "timestamp")
)
_MAP_TAGS = frozenset({None, "!", _TAG + "map"})
_SEQ_TAGS = frozenset({None, "!", _TAG + "seq"})
_HASHTAG = re.compile(r"[ \t]+(#[^\s#][^\r\n\x85\u2028\u2029]*)")  # ' #word ...' to the line's end
_NO_KEY = object()  # a mapping waiting for its next key
_MERGE_KEY = object()  # `<<`: its value is merged into the mapping, not stored under a key
_constructor = yaml.SafeLoader("")


class _Mark(Protocol):
    """Where an event is: PyYAML's and libyaml's marks both have these (0-based)."""

    line: int
    column: int
    index: int


@dataclass(slots=True)
class _Open:
    """A collection being composed."""

    value: list[Any] | dict[Any, Any]
    path: PathKey
    start: int  # index of its first character
    size_before: int  # the document's written-out size when it started
    anchor: str | None
    height: int = 1  # levels it spans so far
    key: Any = _NO_KEY
    key_mark: tuple[int, int] = (1, 1)
    merges: list[tuple[Any, _Mark]] = field(default_factory=list)


class _Composer:
    """Builds plain values from the parser's events, without recursion.

    An alias shares the value of its anchor (nothing is copied), and the document's size
    written out (every alias replaced by its anchor's text) is counted as the events arrive:
    past ``max(EXPANSION_FLOOR, EXPANSION_FACTOR * len(text))`` characters the alias that
    crossed it is refused, so no later stage can be made to walk an exponential tree or to
    repeat a long string millions of times. An alias inside the collection it names (a
    cycle) and nesting deeper than MAX_DEPTH are refused too. Merge keys (``<<: *defaults``)
    are applied as YAML 1.1 says: the mapping's own keys win, then earlier merged mappings.
    """

    def __init__(self, text: str, name: str) -> None:
        self.located = Located(name, None)
        self.budget = max(EXPANSION_FLOOR, EXPANSION_FACTOR * len(text))
        self.size = len(text)
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # name -> (value, size, height)
        self.open_anchors: dict[str, _Mark] = {}
        self.problems: list[str] = []
        self.dupes: list[PathKey] = []
        self.text = text if " #" in text or "\t#" in text else None  # None: no comment here

    def compose(self, loader: Any) -> Located:
        get_event = loader.get_event
        documents = 0
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                self.scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self.start(event, kind is MappingStartEvent)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self.end(event)
            elif kind is AliasEvent:
                self.alias(event)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    message = "a second YAML document ('---'): a configuration file holds one"
                    raise self.error(event.start_mark, message)
            elif kind is StreamEndEvent:
                break
        message = "duplicate key (the later one would win)"
        self.problems += [self.located.problem(p, message, at_key=True) for p in self.dupes]
        if self.problems:
            raise ConfigError(self.problems)
        return self.located

    def error(self, mark: _Mark, message: str) -> ConfigError:
        return ConfigError([f"{self.located.file}:{mark.line + 1}:{mark.column + 1}: {message}"])

    def awaiting_key(self) -> _Open | None:
        """The innermost collection when it is a mapping waiting for a key."""
        top = self.stack[-1] if self.stack else None
        return top if top is not None and top.key is _NO_KEY and type(top.value) is dict else None

    def set_key(self, top: _Open, key: Any, mark: _Mark) -> None:
        if type(key) is list or type(key) is dict:
            raise self.error(mark, f"a mapping key must be a plain value, not {_kind(key)}")
        top.key = key if type(key) is str or type(key) is int else str(key)
        top.key_mark = (mark.line + 1, mark.column + 1)

    def attach(self, value: Any, mark: _Mark, height: int) -> PathKey:
        """Put a value in its place (not a key: see `set_key`); its path."""
        located = self.located
        if not self.stack:
            located.value = value
            path: PathKey = ()
        else:
            top = self.stack[-1]
            if height >= top.height:
                top.height = height + 1
            container = top.value
            if type(container) is list:
                path = (*top.path, len(container))
                container.append(value)
            else:
                key, top.key = top.key, _NO_KEY
                if key is _MERGE_KEY:
                    top.merges.append((value, mark))
                    path = (*top.path, "<<")
                else:
                    path = (*top.path, key)
                    if key in container:
                        self.dupes.append(path)
                    container[key] = value
                    located.key_marks[path] = top.key_mark
        located.marks[path] = (mark.line + 1, mark.column + 1)
        return path

    def scalar(self, event: Any) -> None:
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            tag = _constructor.resolve(yaml.ScalarNode, text, event.implicit)  # type: ignore[no-untyped-call]
        top = self.awaiting_key()
        problem = None
        value: Any = text
        if tag == _STR:
            pass
        elif tag == _MERGE and top is not None:
            top.key = _MERGE_KEY
            return
        elif tag in _SCALAR_TAGS:
            node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
            try:
                value = _constructor.yaml_constructors[tag](_constructor, node)
            except (yaml.YAMLError, ValueError, KeyError, AttributeError, ArithmeticError) as e:
                kind = tag.removeprefix(_TAG)
                problem = (
                    f"not a valid {kind}: {_short(text)} ({type(e).__name__}: {_short(str(e))})"
                )
        elif tag != _MERGE:
            problem = f"unsupported tag {_tag(tag)}: use plain YAML values"
        if event.anchor is not None:
            self.define(event.anchor, event.start_mark)
            size = max(1, event.end_mark.index - event.start_mark.index)
            self.anchors[event.anchor] = (value, size, 0)
        if top is not None:
            self.set_key(top, value, event.start_mark)
            if problem:
                self.problems.append(self.error(event.start_mark, problem).problems[0])
        else:
            path = self.attach(value, event.start_mark, 0)
            if problem:
                self.problems.append(self.located.problem(path, problem))
            if self.text is not None and not event.style:  # plain: a ' #' after it is a comment
                comment = _HASHTAG.match(self.text, event.end_mark.index)
                if comment:
                    self.located.comments[path] = comment.group(1).rstrip()

    def define(self, anchor: str, mark: _Mark) -> None:
        if anchor in self.open_anchors or anchor in self.anchors:
            raise self.error(mark, f"anchor &{_short(anchor)} is defined twice: rename one")

    def start(self, event: Any, mapping: bool) -> None:
        mark = event.start_mark
        if len(self.stack) >= MAX_DEPTH:
            raise self.error(
                mark, f"nested deeper than {MAX_DEPTH} levels (a configuration needs fewer than 10)"
            )
        value: list[Any] | dict[Any, Any] = {} if mapping else []
        if self.awaiting_key() is not None:
            raise self.error(mark, f"a mapping key must be a plain value, not {_kind(value)}")
        path = self.attach(value, mark, 0)
        if event.tag not in (_MAP_TAGS if mapping else _SEQ_TAGS):
            message = f"unsupported tag {_tag(event.tag)}: use plain YAML values"
            self.problems.append(self.located.problem(path, message))
        if event.anchor is not None:
            self.define(event.anchor, mark)
            self.open_anchors[event.anchor] = mark
        self.stack.append(_Open(value, path, mark.index, self.size, event.anchor))

    def end(self, event: Any) -> None:
        done = self.stack.pop()
        if done.merges:
            self.merge(done)
        if done.anchor is not None:
            size = max(1, event.end_mark.index - done.start) + self.size - done.size_before
            self.anchors[done.anchor] = (done.value, size, done.height)
            del self.open_anchors[done.anchor]
        if self.stack and done.height >= self.stack[-1].height:
            self.stack[-1].height = done.height + 1

    def alias(self, event: Any) -> None:
        mark, name = event.start_mark, event.anchor
        where = self.next_path()
        label = f"{render_path(where)}: " if where else ""
        opened = self.open_anchors.get(name)
        if opened is not None:
            raise self.error(
                mark,
                f"{label}alias *{_short(name)} is inside the collection it names "
                f"(&{_short(name)} at line {opened.line + 1}): a collection cannot contain itself",
            )
        found = self.anchors.get(name)
        if found is None:
            raise self.error(mark, f"{label}alias *{_short(name)} names no anchor before it")
        value, size, height = found
        if len(self.stack) + height > MAX_DEPTH:
            raise self.error(
                mark,
                f"{label}alias *{_short(name)} nests the document deeper than {MAX_DEPTH} levels",
            )
        self.size += size - max(1, event.end_mark.index - mark.index)
        if self.size > self.budget:
            raise self.error(
                mark,
                f"{label}alias *{_short(name)} makes the document more than {self.budget:,} "
                f"characters long written out (the limit: {EXPANSION_FACTOR} times the file, "
                f"at least {EXPANSION_FLOOR:,}); anchors are for sharing small blocks such as "
                "defaults",
            )
        top = self.awaiting_key()
        if top is not None:
            self.set_key(top, value, mark)
        else:
            self.attach(value, mark, height)

    def next_path(self) -> PathKey:
        """Where the next value goes (for messages)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if type(top.value) is list:
            return (*top.path, len(top.value))
        if top.key is _NO_KEY:
            return top.path
        return (*top.path, "<<" if top.key is _MERGE_KEY else top.key)

    def merge(self, done: _Open) -> None:
        """``<<: *a`` or ``<<: [*a, *b]``: keys not already in the mapping, earlier first."""
        container = done.value
        assert isinstance(container, dict)
        for value, mark in done.merges:
            for source in value if type(value) is list else [value]:
                if type(source) is not dict:
                    message = f"expected a mapping to merge, got {_kind(source)}"
                    self.problems.append(self.located.problem((*done.path, "<<"), message))
                    continue
                for key, item in source.items():
                    if key not in container:
                        container[key] = item
                        path = (*done.path, key)
                        self.located.marks[path] = self.located.key_marks[path] = (
                            mark.line + 1,
                            mark.column + 1,
                        )


def _short(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, control characters escaped, for messages."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _tag(tag: str) -> str:
    """``tag:yaml.org,2002:set`` -> ``!!set``, as it is written."""
    return _short("!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    return "a list" if isinstance(value, list) else type(value).__name__


def load_yaml(path: Path, display: str | None = None, *, cached: bool = True) -> Located:
    """Parse `path`; a syntax error becomes a ConfigError naming file, line and column.

    Large files (a newsroom's 100,000 rules) take seconds to parse, so their plain value
    is cached by content hash. A document from the cache has no positions
    (`Located.positioned` is false): when it turns out to have problems, load it again
    with `cached=False` to say where they are.
    """
    name = display or str(path)
    text = _read(path, name)
    if not cached or len(text) < CACHE_MIN_CHARS:
        return parse_yaml(text, name)
    cache = _cache_path(text)
    try:
        value, comments = marshal.loads(cache.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        pass
    else:
        return Located(name, value, positioned=False, comments=comments)
    located = parse_yaml(text, name)
    try:
        data = marshal.dumps((located.value, located.comments))
        cache.parent.mkdir(parents=True, exist_ok=True)
        temp = cache.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(data)
        temp.replace(cache)
    except (OSError, ValueError):  # unwritable cache, or values marshal can't store
        pass
    return located


CACHE_MIN_CHARS = 1_000_000
MAX_FILE_BYTES = 256 << 20  # 25 times a newsroom's 100,000 rules


def _read(path: Path, name: str) -> str:
    """The file's text; a device, a FIFO or a file past MAX_FILE_BYTES is refused unread."""
    try:
        info = path.stat()  # before opening: opening a FIFO would wait for a writer
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError([f"{name}: not a regular file"])
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError([f"{name}: larger than {MAX_FILE_BYTES:,} bytes"])
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        text = path.read_bytes()[: e.start]
        line, column = text.count(b"\n") + 1, e.start - (text.rfind(b"\n") + 1) + 1
        raise ConfigError(
            [
                f"{name}:{line}:{column}: not UTF-8 text (byte 0x{e.object[e.start]:02x});"
                " save the file as UTF-8"
            ]
        ) from e
    except FileNotFoundError as e:
        raise ConfigError([f"{name}: file not found"]) from e
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name; UnicodeDecodeError
        raise ConfigError([f"{name}: cannot read: {e}"]) from e


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


CACHE_FORMAT = 3  # 2: merge keys applied, aliases shared; 3: (value, comments)


def parse_yaml(text: str, name: str) -> Located:
    """`text` as plain values with positions; any problem is a ConfigError that says where."""
    try:
        loader = _Loader(text)  # PyYAML's own reader checks the characters here
    except yaml.YAMLError as e:
        raise _yaml_error(e, text, name) from e
    try:
        return _Composer(text, name).compose(loader)
    except yaml.YAMLError as e:
        raise _yaml_error(e, text, name) from e
    finally:
        loader.dispose()


# the line breaks YAML counts lines by (its marks' line numbers follow them)
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _yaml_error(e: yaml.YAMLError, text: str, name: str) -> ConfigError:
    if isinstance(e, yaml.reader.ReaderError) and isinstance(e.character, int):
        # the first character YAML does not allow: where it first occurs (libyaml counts
        # the position in bytes, PyYAML in characters)
        at = text.find(chr(e.character))
        line = text.count("\n", 0, at) + 1
        column = at - text.rfind("\n", 0, at)
        return ConfigError(
            [f"{name}:{line}:{column}: character U+{e.character:04X} is not allowed in YAML"]
        )
    if isinstance(e, yaml.MarkedYAMLError) and (e.problem_mark or e.context_mark):
        lines = _LINE_BREAK.split(text)
        try:
            (line, column), message = _syntax_problem(e, lines)
        except IndexError:  # a mark past its line: said plainly rather than guessed at
            mark = e.problem_mark or e.context_mark
            assert mark is not None
            what = " ".join(x for x in (e.context, e.problem) if x)
            (line, column), message = (mark.line, mark.column), f"YAML cannot read this ({what})"
        return ConfigError([f"{name}:{line + 1}:{column + 1}: {message}"])
    return ConfigError([f"{name}: YAML error: {e}"])


def _syntax_problem(e: yaml.MarkedYAMLError, lines: list[str]) -> tuple[tuple[int, int], str]:
    """A YAML syntax error in an operator's words: ((line, column), 0-based; message).

    The parser's own wording ("while parsing a block collection did not find expected '-'
    indicator") names its state, not the mistake: the common mistakes are recognised from
    it and the text around, and said with the fix; anything else quotes the line.
    """
    problem_mark, context_mark = e.problem_mark, e.context_mark
    mark = problem_mark or context_mark
    assert mark is not None
    where = (mark.line, mark.column)
    problem, context = (e.problem or "").lower(), (e.context or "").lower()
    line = lines[mark.line] if mark.line < len(lines) else ""
    tab = _tab_indent(lines, mark.line)
    if tab is not None:
        return tab, "a tab is used for indentation; YAML needs spaces"
    char = line[mark.column] if mark.column < len(line) else ""
    opened = (context_mark.line, context_mark.column) if context_mark else where
    if "quoted scalar" in context and "end of stream" in problem:
        quote = lines[opened[0]][opened[1] : opened[1] + 1] or '"'
        return opened, f"this {quote} is never closed: end the value with {quote}"
    if "escape" in problem:
        return where, (
            "a backslash in double quotes starts an escape such as \\n: put the value in "
            "single quotes ('...'), or write \\\\ for one backslash"
        )
    if "flow sequence" in context or "flow mapping" in context:
        close = "]" if "sequence" in context else "}"
        return opened, (
            f"this {lines[opened[0]][opened[1]]} is never closed: end it with {close} "
            f"(and separate its items with ', ')"
        )
    if "expected '-' indicator" in problem or "block collection" in context:
        return where, (
            f"{_quoted(line)} is not an item of the list above it: start a new item with "
            "'- ', or indent it like the other keys of the item it belongs to"
        )
    if "simple key" in context and "':'" in problem:
        key_line = lines[opened[0]] if opened[0] < len(lines) else ""
        return opened, f"{_quoted(key_line)} has no ':' after its key: write `key: value`"
    if "mapping values are not allowed" in problem:
        return where, _colon_problem(lines, mark.line, mark.column)
    if "alias" in context or "anchor" in context:
        return opened, _quote_value(lines[opened[0]], opened[1])
    if "cannot start any token" in problem:
        return where, _quote_value(line, mark.column)
    if "block mapping" in context and ("expected key" in problem or "block end" in problem):
        if char == "-":
            return (
                where,
                "a '- ' list item where `key: value` was expected: indent the list under its key",
            )
        return where, (
            f"unexpected {_quoted(line[mark.column :].strip())} after a value: quote the "
            "whole value, or put it on a line of its own"
        )
    what = " ".join(x for x in (e.context, e.problem) if x)
    return where, f"YAML cannot read this line, {_quoted(line)} ({what})"


def _tab_indent(lines: list[str], upto: int) -> tuple[int, int] | None:
    """Where the first tab of an indentation is, on lines up to `upto`, or None."""
    for number in range(min(upto, len(lines) - 1), -1, -1):
        content = lines[number]
        indent = content[: len(content) - len(content.lstrip(" \t"))]
        if "\t" in indent:
            return number, indent.index("\t")
        if content.strip() and not indent:
            return None  # a line at the margin: tabs above it are not this error's
    return None


def _colon_problem(lines: list[str], number: int, column: int) -> str:
    """': ' where no key may be: inside a value (`query: title: x`), or on a line read as the
    continuation of the value above (too deep an indentation, a ':' missing above)."""
    line = lines[number]
    body = line.lstrip(" -")
    before = line[len(line) - len(body) : column]
    if ": " in before or before.endswith(":"):
        key, _, value = body.partition(": ")
        return (
            f"a ': ' inside the value {_quoted(value.strip())}: quote the whole value, "
            f'e.g. {key}: "{value.strip()[:40]}"'
        )
    return (
        f"{_quoted(line)} is read as the continuation of the line above: indent it like "
        "the other keys around it, or add the ':' missing after the key above"
    )


def _quote_value(line: str, column: int) -> str:
    """A value starting with a character YAML reserves (@ ` % * &), and how to quote it."""
    char, value = line[column : column + 1], line[column:].strip()
    key = line[:column].strip()
    quote = "'" if '"' in value else '"'
    fixed = f"{key} {quote}{_short(value, 40)}{quote}".strip()
    return f"a value cannot start with {char!r} in YAML: quote it: {fixed}"


def _quoted(line: str) -> str:
    """A line of the file for a message: stripped, cut short, quoted."""
    return repr(_short(line.strip(), 60))
