"""Bytes to text the way browsers do it, so mojibake never reaches a rule.

Order: byte-order mark, then the HTTP Content-Type charset, then a `<meta charset>` or
`http-equiv` declaration in the first bytes, then UTF-8 if the bytes are valid UTF-8, then
charset-normalizer's guess, then windows-1252. Labels map as WHATWG says (ISO-8859-1 and
ASCII mean windows-1252, GB2312 means GB18030), and a page declared as a Western single-byte
charset that is valid multi-byte UTF-8 is read as UTF-8 (the common misconfigured server).
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_PRESCAN_BYTES = 4096
_DETECT_BYTES = 200_000
_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "tis-620": "cp874",
    "iso-8859-9": "cp1254",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
}
_WESTERN = frozenset({"cp1252", "cp1250", "cp1251", "cp1254", "iso8859-15", "iso8859-2"})


def _codec(label: str | None) -> str | None:
    """The Python codec for a charset label, or None if Python does not know it."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return name


def _declared(data: bytes, content_type: str | None) -> str | None:
    header = _HEADER_CHARSET.search(content_type) if content_type else None
    if header and (codec := _codec(header.group(1))):
        return codec
    if meta := _META_CHARSET.search(data[:_PRESCAN_BYTES]):
        codec = _codec(meta.group(1).decode("ascii", "replace"))
        # A meta tag readable as ASCII cannot truthfully declare UTF-16 (WHATWG says UTF-8).
        return "utf-8" if codec and codec.startswith("utf-16") else codec
    return None


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start >= len(data) - 3:  # cut short inside the last character
            return data.decode("utf-8", errors="replace")
        return None


def decode_html(data: bytes, content_type: str | None = None) -> str:
    """Decode an HTML page's bytes; never raises (undecodable bytes become U+FFFD)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(codec, errors="replace")
    declared = _declared(data, content_type)
    if declared in _WESTERN and not data.isascii() and (text := _utf8(data)) is not None:
        return text
    if declared:
        return data.decode(declared, errors="replace")
    if (utf8 := _utf8(data)) is not None:
        return utf8
    best = charset_normalizer.from_bytes(data[:_DETECT_BYTES]).best()
    guessed = _codec(best.encoding) if best is not None else None
    return data.decode(guessed or "cp1252", errors="replace")
