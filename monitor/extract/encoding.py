"""Bytes to text the way browsers do it, so mojibake never reaches a rule.

Order: byte-order mark, then the HTTP Content-Type charset, then a `<meta charset>` or
`http-equiv` declaration in the first bytes, then UTF-8 if the bytes are valid UTF-8, then
charset-normalizer's guess, then windows-1252. A declared label counts only if it is one of
the WHATWG Encoding Standard's labels (https://encoding.spec.whatwg.org/#names-and-labels),
mapped to that encoding (ISO-8859-1 and ASCII mean windows-1252, GB2312 means GBK); anything
else - `base64`, `rot13`, `zlib`, `utf-7`, `undefined`, a typo - is no declaration at all.
A guess is used only if it names one of those encodings too. A page declared as a Western
single-byte charset that is valid multi-byte UTF-8 is read as UTF-8 (the common
misconfigured server).
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
# Linear: the `\s*` runs are separated by `=` and a quote, and a label is one run of its
# characters; the header is at most a few hundred characters.
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
# The `[^>]{0,512}?` is bounded, and it only runs from each "<meta" in the first
# _PRESCAN_BYTES: at most 512 steps per tag.
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_PRESCAN_BYTES = 4096
_DETECT_BYTES = 200_000

# The WHATWG encodings and their labels, each with the Python codec that decodes it. The
# "replacement" encoding (csiso2022kr, hz-gb-2312, iso-2022-cn, iso-2022-cn-ext,
# iso-2022-kr) makes a browser show a single U+FFFD, and x-user-defined maps every high byte
# to a private-use character: neither yields text, so their labels count as no declaration.
_ENCODINGS: dict[str, str] = {
    "utf-8": "unicode-1-1-utf-8 utf-8 utf8",
    "cp866": "866 cp866 csibm866 ibm866",
    "iso8859-2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 "
    "iso_8859-2:1987 l2 latin2",
    "iso8859-3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 "
    "iso_8859-3:1988 l3 latin3",
    "iso8859-4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 "
    "iso_8859-4:1988 l4 latin4",
    "iso8859-5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 "
    "iso_8859-5 iso_8859-5:1988",
    "iso8859-6": "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 "
    "iso-8859-6 iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 "
    "iso_8859-6:1987",
    "iso8859-7": "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 "
    "iso8859-7 iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    # ISO-8859-8 and its logical-order twin ISO-8859-8-I decode the same bytes
    "iso8859-8": "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 "
    "iso8859-8 iso88598 iso_8859-8 iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical",
    "iso8859-10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    "iso8859-13": "iso-8859-13 iso8859-13 iso885913",
    "iso8859-14": "iso-8859-14 iso8859-14 iso885914",
    "iso8859-15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "iso8859-16": "iso-8859-16",
    "koi8-r": "cskoi8r koi koi8 koi8-r koi8_r",
    "koi8-u": "koi8-u",
    "mac-roman": "csmacintosh mac macintosh x-mac-roman",
    "cp874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    "cp1250": "cp1250 windows-1250 x-cp1250",
    "cp1251": "cp1251 windows-1251 x-cp1251",
    "cp1252": "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 "
    "iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    "cp1253": "cp1253 windows-1253 x-cp1253",
    "cp1254": "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 "
    "iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254",
    "cp1255": "cp1255 windows-1255 x-cp1255",
    "cp1256": "cp1256 windows-1256 x-cp1256",
    "cp1257": "cp1257 windows-1257 x-cp1257",
    "cp1258": "cp1258 windows-1258 x-cp1258",
    "mac-cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    # WHATWG's GBK decoder is its gb18030 decoder
    "gb18030": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 "
    "x-gbk gb18030",
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",  # WHATWG's Big5 is Big5-HKSCS
    "euc_jp": "cseucpkdfmtjapanese euc-jp x-euc-jp",
    "iso2022_jp": "csiso2022jp iso-2022-jp",
    "cp932": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    "cp949": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 "
    "ksc5601 ksc_5601 windows-949",
    "utf-16-be": "utf-16be",
    "utf-16-le": "utf-16 utf-16le",
}
_LABELS = {
    label: codecs.lookup(codec).name
    for codec, labels in _ENCODINGS.items()
    for label in labels.split()
}
# The Python codecs charset-normalizer may name, by their canonical name, and the WHATWG
# encoding each stands for.
_GUESSES = {codecs.lookup(codec).name: codec for codec in set(_LABELS.values())}
_GUESSES.update(
    (codecs.lookup(name).name, _LABELS[label])
    for name, label in (
        ("big5", "big5"), ("gbk", "gbk"), ("gb2312", "gb2312"), ("shift_jis", "shift_jis"),
        ("euc_kr", "euc-kr"), ("latin-1", "latin1"), ("ascii", "ascii"), ("utf-16", "utf-16"),
    )
)  # fmt: skip
_WESTERN = frozenset(
    codecs.lookup(name).name
    for name in ("cp1252", "cp1250", "cp1251", "cp1254", "iso8859-15", "iso8859-2")
)


def _codec(label: str | None) -> str | None:
    """The Python codec for a WHATWG encoding label, or None if it is not one."""
    if not label:
        return None
    return _LABELS.get(label.strip("\t\n\f\r \"'").lower())


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


def _guess(data: bytes) -> str:
    best = charset_normalizer.from_bytes(data[:_DETECT_BYTES]).best()
    if best is None:
        return "cp1252"
    try:
        name = codecs.lookup(best.encoding).name
    except LookupError:
        return "cp1252"
    return _GUESSES.get(name, "cp1252")


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
    return data.decode(_guess(data), errors="replace")
