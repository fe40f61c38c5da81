"""Field declarations: each configuration key once, with its type, default, whether it names
a secret, and its help, and the reader that parses it. A `Section` reads a YAML mapping
through its keys (unknown keys are problems with a did-you-mean), fills in defaults, and
is what `check`'s redaction looks at and what the README's key tables are rendered from
(`monitor.config.reference`).

`Checker` reads values out of a positioned document, collecting problems instead of raising.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from monitor import redact
from monitor.config.values import kind, parse_duration, show
from monitor.config.yamlpos import Located, PathKey
from monitor.suggest import did_you_mean

_SECRET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")  # fullmatch; at most 255 steps


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


class Checker:
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
            self.fail(path, f"expected {what}, got {kind(value)}")
            return {}
        return value

    def sequence(self, value: Any, path: PathKey) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {kind(value)}")
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
                self.fail((*path, i), f"expected a string, got {kind(item)}")
        return tuple(out)

    def string(self, value: Any, path: PathKey, *, required: bool = True) -> str:
        if value is None:
            if required:
                self.fail(path, "is required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(path, f"expected a string, got {kind(value)}")
            return ""
        return str(value)

    def boolean(self, value: Any, path: PathKey, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {show(value)}")
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
            self.fail(path, f"expected an integer {wanted}, got {show(value)}")
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

    def parsed(self, value: Any, path: PathKey, parse: Callable[[str], Any], default: Any) -> Any:
        """`parse(value)` of a string value; its ValueError is a problem at `path`."""
        text = self.string(value, path, required=False)
        if not text:
            return default
        try:
            return parse(text)
        except ValueError as e:
            self.fail(path, str(e))
            return default

    def lost_comment(self, path: PathKey, value: str, *, url: bool = False) -> str | None:
        """What to say when YAML read the end of the plain value at `path` as a comment
        (`query: iran #nuclear` is the query `iran`); None when nothing was lost. In a `url`
        the comment was meant as its fragment, without the space."""
        comment = self.doc.comments.get(path)
        if comment is None:
            return None
        lost = "everything after ' #' is a comment in YAML"
        if url:
            return f"{lost}: to keep the fragment {show(comment)}, write it without the space"
        meant = f"{value} {comment}"
        if len(meant) > 60:
            meant = meant[:59] + "…"
        quoted = f'"{meant}"' if '"' not in meant else "'" + meant.replace("'", "''") + "'"
        return f"{lost}: quote the value to keep {show(comment)}: {path[-1]}: {quoted}"

    def unknown_keys(self, data: Mapping[str, Any], path: PathKey, known: Iterable[str]) -> None:
        known = set(known)
        for key in data:
            if key not in known:
                self.fail((*path, key), f"unknown key{did_you_mean(str(key), known)}", at_key=True)

    def secret(self, value: Any, path: PathKey) -> str | None:
        """The value of the secret `value` names, registered for redaction."""
        if value is None:
            return None
        name = self.string(value, path)
        if not name:
            return None
        if not _SECRET_NAME.fullmatch(name):
            self.fail(
                path,
                f"expected the name of an environment variable or credential file "
                f"(letters, digits, '_', '.', '-'), got {show(name)}",
            )
            return None
        try:
            secret = read_secret(name)
        except OSError as e:
            self.fail(path, f"secret {name!r}: cannot read its file: {e.strerror}")
            return None
        except UnicodeDecodeError:  # its message would quote bytes of the secret
            self.fail(path, f"secret {name!r}: its file is not UTF-8 text")
            return None
        if secret is None:
            self.fail(
                path, f"secret {name!r} is not set in the environment or $CREDENTIALS_DIRECTORY"
            )
        else:
            redact.register_secrets([secret])
        return secret

    def http_url(self, value: Any, path: PathKey) -> str:
        """An http(s) URL; a password in it is registered for redaction."""
        url = self.string(value, path)
        if url:
            parts = url_parts(url)
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                self.fail(path, f"expected an http(s) URL, got {show(url)}")
            elif parts.password:
                redact.register_secrets([parts.password, unquote(parts.password)])
        return url


def url_parts(url: str) -> SplitResult | None:
    """`url` split, or None when it cannot be (a bad IPv6 literal, a port out of range)."""
    try:
        parts = urlsplit(url)
        return None if parts.port == 0 else parts
    except ValueError:
        return None


# --------------------------------------------------------------------------- declarations

Reader = Callable[[Checker, Any, PathKey, Any], Any]
SECRET_NAME = "secret name"  # the type of a key that names a secret rather than holding it


@dataclass(frozen=True)
class Key:
    """One configuration key. `read(checker, value, path, default)` parses a value that is
    present; `attr` is the field of the config type it fills (default: `name`)."""

    name: str
    type: str  # how it is written, in words
    default: Any
    help: str
    read: Reader
    secret: bool = False  # names a secret: its value is never shown
    attr: str | None = None
    required: bool = False  # absent: "is required" (and `default` stands in)
    shown: str | None = None  # the default in the README's words, when the value cannot say
    # it (one computed from other keys, a structure)

    @property
    def field(self) -> str:
        return self.attr or self.name


@dataclass(frozen=True)
class Section:
    """The keys one YAML mapping may hold (`where`: feed, defaults, rule, smtp, ...)."""

    where: str
    keys: tuple[Key, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(k.name for k in self.keys)

    def key(self, name: str) -> Key:
        return next(k for k in self.keys if k.name == name)

    def default(self, name: str) -> Any:
        return self.key(name).default

    def value(self, c: Checker, data: Mapping[str, Any], path: PathKey, name: str) -> Any:
        """The key `name` of `data` parsed, or its default when absent (for mappings such as
        a file's top level, whose keys are read one by one, each by its own parser)."""
        key = self.key(name)
        if name not in data:
            return key.default
        return key.read(c, data[name], (*path, name), key.default)

    def read(
        self,
        c: Checker,
        data: Mapping[str, Any],
        path: PathKey,
        *,
        defaults: Mapping[str, Any] | None = None,
        extra: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Every declared key of `data` parsed, by field name; absent keys get `defaults`
        (by field name), else their declared default. Keys in `extra` are read elsewhere."""
        c.unknown_keys(data, path, self.names | set(extra))
        out: dict[str, Any] = {}
        for key in self.keys:
            default = defaults.get(key.field, key.default) if defaults else key.default
            if key.name in data:
                out[key.field] = key.read(c, data[key.name], (*path, key.name), default)
            else:
                if key.required:
                    c.fail((*path, key.name), "is required")
                out[key.field] = default
        return out


# readers


def duration(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.duration(value, path, default)


def boolean(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.boolean(value, path, default)


def text(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.string(value, path, required=False) or default


def required_text(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.string(value, path)


def strings(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.strings(value, path)


def mapping(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.mapping(value, path)


def sequence(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.sequence(value, path)


def secret(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.secret(value, path)


def http_url(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    return c.http_url(value, path)


@dataclass(frozen=True)
class IntegerReader:
    """Reads an integer within bounds; the README's key table shows them."""

    minimum: int
    maximum: int | None

    def __call__(self, c: Checker, value: Any, path: PathKey, default: Any) -> Any:
        return c.integer(value, path, default, self.minimum, self.maximum)


def integer(minimum: int = 1, maximum: int | None = None) -> Reader:
    return IntegerReader(minimum, maximum)


def parsed(parse: Callable[[str], Any]) -> Reader:
    def read(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
        return c.parsed(value, path, parse, default)

    return read


def file_path(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    """A path, relative to the configuration file's directory."""
    name = c.string(value, path)
    return Path(c.under_base(name)) if name else default


def directory(c: Checker, value: Any, path: PathKey, default: Any) -> Any:
    """An existing directory, relative to the configuration file's directory."""
    name = c.string(value, path, required=False)
    if not name:
        return default
    found = Path(c.under_base(name))
    if not _is_dir(found):
        c.fail(path, f"no such directory {show(str(found))}")
    return found


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long for the file system, a permission
        return False


def secret_keys(sections: Iterable[Section]) -> frozenset[str]:
    """The keys that name secrets (their values are never shown)."""
    return frozenset(k.name for s in sections for k in s.keys if k.secret)
