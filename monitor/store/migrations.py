"""Numbered migrations, one SQL file each, per backend: ``migrations/<backend>/NNNN_name.sql``.

A backend's schema version is the number of the last file applied. Files are read from the
installed package, so a wheel carries them.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"(\d{4})_(\w+)\.sql")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    script: str

    def statements(self) -> list[str]:
        """The script's statements, split where SQLite reads a statement's end (a `;` in a
        string or a comment does not split), without comment-only leftovers."""
        out: list[str] = []
        pending = ""
        for line in self.script.splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                out.append(pending.strip())
                pending = ""
        if pending.strip() and not _only_comments(pending):
            out.append(pending.strip())
        return [s for s in out if not _only_comments(s)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def load(backend: str) -> tuple[Migration, ...]:
    """The migrations of `backend` (``sqlite`` or ``postgres``), numbered 1, 2, ... in order."""
    folder = resources.files("monitor.store").joinpath("migrations", backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        m = _NAME.fullmatch(entry.name)
        if m is not None:
            found.append(Migration(int(m[1]), m[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{backend} migrations are not numbered 1..n: {numbers}")
    return tuple(found)
