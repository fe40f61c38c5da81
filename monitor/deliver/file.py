"""File delivery: one JSON object (the webhook payload) per line, appended.

A batch (digest or summary) is ONE line: the batch payload, which lists its alerts.
Each line is one `write` of a whole line to a descriptor opened with O_APPEND, then
fsync'd, so concurrent writers and crashes never interleave or split lines. A channel sends
one line at a time, so a resend after a crash between the write and its record in the
outbox finds its line last in the file and is not written again. (Should another process
append to the same file in between, the line would repeat: readers can deduplicate on `id`.)
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from monitor.deliver.render import batch_payload, webhook_payload
from monitor.errors import DeliveryError
from monitor.models import Alert, Batch, DeliveryResult, FileChannel


class FileNotifier:
    def __init__(self, channel: FileChannel) -> None:
        self.channel = channel
        self._path = channel.path

    async def send(self, alert: Alert) -> DeliveryResult:
        return await self._append(webhook_payload(alert))

    async def send_batch(self, batch: Batch) -> DeliveryResult:
        return await self._append(batch_payload(batch))

    async def _append(self, payload: dict[str, Any]) -> DeliveryResult:
        line = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        try:
            await asyncio.to_thread(append_line, self._path, (line + "\n").encode())
        except OSError as e:
            raise DeliveryError(f"could not append to {self._path}", self.channel.name) from e
        return DeliveryResult(detail=str(self._path))

    async def aclose(self) -> None:
        """Nothing to release: the file is opened and closed for every line."""


def path_problem(path: Path) -> str | None:
    """Why lines can never be appended to `path`, or None. A missing directory is made at the
    first send: its nearest existing ancestor must be a directory this user may write in."""
    try:
        if path.is_dir():
            return f"{path} is a directory: name a file in it"
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            return f"{parent} is not a directory, so {path} cannot be created"
        if path.exists():
            return None if os.access(path, os.W_OK) else f"{path} is not writable by this user"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{path} cannot be created: {parent} is not writable by this user"
    except OSError as e:  # a name too long, a loop of links
        return f"{path} cannot be used: {e.strerror}"
    return None


def append_line(path: Path, data: bytes) -> None:
    """Append the line `data` with one write and fsync it (and the directory when the file is
    new), unless it is already the file's last line: then it was written before a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    try:
        fd, readable = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640), True
    except PermissionError:  # a file we may only write to: append without the check
        fd, readable = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640), False
    try:
        if readable and _ends_with_line(fd, data):
            return
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write: {written} of {len(data)} bytes (disk full?)")
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _ends_with_line(fd: int, line: bytes) -> bool:
    """Whether the file ends with `line` as a whole line (at the start or after a newline)."""
    size = os.fstat(fd).st_size
    if size < len(line):
        return False
    start = size - len(line)
    tail = os.pread(fd, len(line) + 1, start - 1) if start else b"\n" + os.pread(fd, size, 0)
    return tail == b"\n" + line
