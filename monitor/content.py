"""Content codings (gzip, deflate) undone by us, in small steps, with a hard cap on output.

The HTTP client hands the body over as it came off the wire; `BodyDecoder` undoes the codings
that Content-Encoding lists, the last applied first. Nothing is ever decoded whole: each step
of work feeds zlib at most `STEP` bytes and takes at most `STEP` bytes out
(`decompressobj.decompress(data, max_length)`), and every layer counts what it has produced
against the cap, so a body that inflates a thousandfold, or a millionfold through two layers,
is refused once its output passes the cap, holding at most the cap in memory. `feed` yields
after every step (an empty piece when a step produced nothing) so the caller can hand the
event loop back between steps.

What is decoded:

- ``gzip`` and ``x-gzip``: several members one after the other are one body (RFC 1952);
  bytes after the last member that do not start another member are ignored, as gzip(1) does.
  More than `MAX_GZIP_MEMBERS` members are refused (each costs a fresh decompressor).
- ``deflate``: the zlib format (RFC 1950) as the standard says, or the bare deflate stream
  (RFC 1951) that some servers send and browsers accept; told apart by the two-byte zlib
  header.
- ``identity`` (or nothing): the body as it came.
- At most `MAX_CODINGS` codings stacked (``gzip, gzip`` happens by mistake on real servers);
  more are refused, as is any other coding (``br``, ``zstd``, ``compress``, garbage): we
  never ask for them.

A stream that stops before its end (a truncated gzip member) gives what was decoded so far,
as browsers and httpx do.
"""

from __future__ import annotations

import zlib
from collections.abc import Generator, Iterable, Iterator

from monitor.errors import FetchError

STEP = 64 * 1024  # most bytes in or out of zlib per step of work
MAX_CODINGS = 2
MAX_GZIP_MEMBERS = 1024
_GZIP_MAGIC = b"\x1f\x8b"


def content_codings(header_values: Iterable[str], subject: str) -> list[str]:
    """The codings a response lists, in the order they were applied ("x-gzip" is "gzip",
    "identity" is dropped); FetchError for any other coding, or for too many."""
    codings = []
    for value in header_values:
        for token in value.split(","):
            name = token.strip().lower()
            if name in ("", "identity"):
                continue
            if name == "x-gzip":
                name = "gzip"
            if name not in ("gzip", "deflate"):
                shown = repr(token.strip()[:40])
                raise FetchError(
                    f"unsupported Content-Encoding {shown}",
                    subject,
                    hint="we ask for gzip or deflate only; the server sent something else",
                )
            codings.append(name)
    if len(codings) > MAX_CODINGS:
        raise FetchError(
            f"{len(codings)} stacked content codings ({', '.join(codings)});"
            f" at most {MAX_CODINGS} are decoded",
            subject,
        )
    return codings


class BodyDecoder:
    """Undo `codings` (as `content_codings` returns them) over a stream of raw chunks;
    FetchError when any layer's output passes `limit` bytes or the data is not valid."""

    def __init__(self, codings: list[str], limit: int, subject: str) -> None:
        self._layers: list[_Layer] = [
            _Gzip(subject) if name == "gzip" else _Deflate(subject) for name in reversed(codings)
        ]
        self._produced = [0] * (len(self._layers) + 1)
        self._limit = limit
        self._subject = subject

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """Decoded pieces of `chunk`, one per step of work (possibly empty)."""
        return self._through(0, chunk)

    def close(self) -> None:
        """The body has ended: FetchError if what came was not the coding it claimed."""
        for layer in self._layers:
            layer.close()

    def _through(self, depth: int, data: bytes) -> Iterator[bytes]:
        if depth == len(self._layers):
            self._count(depth, len(data))
            yield data
            return
        for piece in self._layers[depth].feed(data):
            self._count(depth, len(piece))
            if depth + 1 == len(self._layers) or not piece:
                yield piece
            else:
                yield from self._through(depth + 1, piece)

    def _count(self, depth: int, size: int) -> None:
        self._produced[depth] += size
        if self._produced[depth] > self._limit:
            layer = "" if depth >= len(self._layers) - 1 else f" at layer {depth + 1}"
            raise FetchError(
                f"the decoded response is over the {self._limit}-byte limit{layer}",
                self._subject,
                hint="the server sent a compressed body that expands beyond the size limit",
            )


class _Layer:
    name = ""

    def __init__(self, subject: str) -> None:
        self._subject = subject

    def feed(self, data: bytes) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _invalid(self) -> FetchError:
        return FetchError(
            f"the body is not valid {self.name} data",
            self._subject,
            hint="the server's Content-Encoding header does not match its body",
        )

    def _inflate(self, d: zlib._Decompress, data: bytes) -> Generator[bytes, None, bytes]:
        """Run `data` through `d` in steps of at most STEP bytes in and out; returns what
        follows the end of the stream, if it ended."""
        view = memoryview(data)
        for start in range(0, len(view), STEP):
            tail: bytes | memoryview = view[start : start + STEP]
            while True:
                try:
                    out = d.decompress(tail, STEP)
                except zlib.error as e:
                    raise self._invalid() from e
                yield out
                tail = d.unconsumed_tail
                # output of exactly STEP may leave more inside zlib: ask again until it is dry
                if d.eof or (not tail and len(out) < STEP):
                    break
            if d.eof:
                return d.unused_data + bytes(view[start + STEP :])
        return b""


class _Gzip(_Layer):
    name = "gzip"

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self._d: zlib._Decompress | None = None
        self._members = 0
        self._pending = b""  # fewer than 2 bytes seen after a member: another one, or junk?
        self._trailing = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        data = self._pending + data
        self._pending = b""
        while data and not self._trailing:
            if self._d is None:
                if len(data) < len(_GZIP_MAGIC):
                    self._pending = data
                    return
                if not data.startswith(_GZIP_MAGIC):
                    if self._members == 0:
                        raise self._invalid()
                    self._trailing = True
                    return
                self._members += 1
                if self._members > MAX_GZIP_MEMBERS:
                    raise FetchError(
                        f"the gzip body has more than {MAX_GZIP_MEMBERS} members", self._subject
                    )
                self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            d = self._d
            data = yield from self._inflate(d, data)
            if not d.eof:
                return
            self._d = None

    def close(self) -> None:
        if self._members == 0 and self._pending:
            raise self._invalid()


class _Deflate(_Layer):
    name = "deflate"

    def __init__(self, subject: str) -> None:
        super().__init__(subject)
        self._d: zlib._Decompress | None = None
        self._pending = b""  # the first byte, until the second tells zlib from bare deflate

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._d is None:
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return
            self._pending = b""
            self._d = zlib.decompressobj(zlib.MAX_WBITS if _zlib_header(data) else -zlib.MAX_WBITS)
        if not self._d.eof:
            yield from self._inflate(self._d, data)

    def close(self) -> None:
        if self._pending:
            raise self._invalid()


def _zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 (deflate), window at most 32 KiB, check bits make a multiple of 31."""
    cmf, flg = data[0], data[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0
