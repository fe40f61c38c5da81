"""Bound what the HTML parser does with tag soup written by strangers.

lexbor builds a page's tree the way browsers do, and several of the HTML standard's
recovery rules cost more than linear time or memory on hostile markup (each figure is
lexbor's, measured before this module existed):

- **Formatting elements** (b, i, em, font, ...) live on a list that each new one is compared
  against, and every one of them left open when a block closes is rebuilt inside the next
  block: `<p><font color=N>x` 5,000 times (100 KB) took 18 s and 4.5 GB. `defuse` reads every
  formatting start tag except `<a>` (which the extractor needs, and of which the list holds
  at most one) as an inert void element: `<b class=x>` becomes `<wbr \\ue001b class=x>`. The
  text is unchanged; the end tags are ignored by the parser as they would be unopened.
- **Attributes**: each new attribute name is compared with every earlier one of its element
  (20,000 distinct names on one element: 2.1 s). An element keeps its first MAX_ATTRIBUTES;
  a `>` after them turns the rest into text.
- **Repeated `<html>`/`<body>` tags** merge their attributes into the root the same way
  (`<body aN>` 40,000 times: 14 s). Those after the first MAX_MERGED of each are made inert
  like formatting tags.
- **Depth**: most tags make the parser look down the stack of open elements (for a `<p>` to
  close, or for the element an end tag names), so a deep stack makes every later tag slow
  (`<div>` 200,000 deep: 67 s; 10,000 deep, then `<div></div>` 400,000 times: as slow). A
  page with MODEL_TAGS tags or more is read by a model of the parser's stack (`_Stack`), and
  is cut before the tag that would take it deeper than MAX_DEPTH or past MAX_WORK (the sum
  of the stack's depth over the tags read so far, which bounds those looks). Below
  MODEL_TAGS tags that sum cannot pass MODEL_TAGS**2 / 2 = MAX_WORK: no model is needed.
  At most MAX_TAGS tags are read.

Tags are rewritten wherever the parser might read them as tags, comments and attribute
values included, so that no mistake about where markup is can let one through: only the
text of scripts and other raw-text elements before the first <svg> or <math> is passed over
(after one, a <script> may be a foreign element whose text is markup). `unmark` takes the
rewriting back out of any text read from the tree (titles, JSON-LD, attribute values).
"""

from __future__ import annotations

import re

MAX_HTML_CHARS = 5_000_000  # the rest of a bigger page is not read
MAX_ATTRIBUTES = 100  # per element; the rest of its attributes become text
MAX_MERGED = 2  # <html> and <body> start tags kept, each; later ones are made inert
MODEL_TAGS = 10_000  # pages with fewer tags than this cannot make the parser slow by depth
MAX_TAGS = 100_000  # tags read: no article needs more; the rest of the page is cut
MAX_DEPTH = 5_000  # open elements; browsers stop nesting at 512
MAX_WORK = 50_000_000  # the sum of the depth over every tag read (about 0.2 s of parsing)
MARK = "\ue001"  # a private-use character: marks the formatting tags made inert
_INERT = "<wbr " + MARK

_WS = "\t\n\f\r "  # the HTML tokenizer's whitespace; Unicode spaces are not separators
# One attribute as the HTML tokenizer reads it: separators, a name, an optional value.
# Possessive and atomic throughout, and each branch starts on a different character, so a
# failed match gives nothing back: scanning a tag is linear in its length.
_ATTR = (
    rf"(?>[{_WS}/]*+[^{_WS}/>][^{_WS}/>=]*+"
    rf"""(?:[{_WS}]*+=[{_WS}]*+(?:"[^"]*+"?|'[^']*+'?|[^{_WS}>]*+))?+)"""
)
_FORMATTING = (
    "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
)  # fmt: skip
_RAW = ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
# A start tag to rewrite: a formatting element, <html> or <body>, <svg> or <math> (after
# which markup may be foreign), or one with more than MAX_ATTRIBUTES attributes (the
# lookahead reads at most one more than that of any tag). The match ends with the tag's
# attributes, before its closing ">".
_TAG = (
    rf"<(?:(?=(?:{'|'.join(_FORMATTING)}|body|html|svg|math)[{_WS}/>])"
    rf"|(?=[a-zA-Z][^{_WS}/>]*+{_ATTR}{{{MAX_ATTRIBUTES + 1}}}))"
    rf"(?P<name>[a-zA-Z][^{_WS}/>]*+)(?P<keep>{_ATTR}{{0,{MAX_ATTRIBUTES}}}+)(?P<rest>{_ATTR}*+)"
)
# A raw-text element (a script: JSON-LD) with its text, which ends at the first end tag of
# its name: the parser may read a script further (`<!--<script>` escapes), never less, so
# nothing the parser reads as markup is inside. Before any <svg> or <math> markup is HTML,
# and the text is passed over whole; after one, a <script> may be a foreign element whose
# "text" is markup, and the text is rewritten like the rest.
_RAW_ELEMENT = (
    rf"<(?P<raw>{'|'.join(_RAW)})(?=[{_WS}/>])(?P<rawkeep>{_ATTR}{{0,{MAX_ATTRIBUTES}}}+)"
    rf"(?P<rawrest>{_ATTR}*+)(?P<rawtail>[{_WS}/]*+)"
    rf"(?:>(?P<rawtext>(?:[^<]++|<(?!/(?P=raw)[{_WS}/>]))*+))?"
)
# Linear: every repetition in _ATTR, _TAG and _RAW_ELEMENT is possessive or atomic, the
# lookahead reads at most MAX_ATTRIBUTES + 1 attributes, and a raw text is read once.
_TAGS = re.compile(f"{_RAW_ELEMENT}|{_TAG}", re.ASCII | re.IGNORECASE)
_ANY_TAGS = re.compile(_TAG, re.ASCII | re.IGNORECASE)
_FORMATTING_NAMES = frozenset(_FORMATTING)


def defuse(html: str) -> str:
    """The part of `html` worth parsing, rewritten so the parser's work on it is bounded."""
    html = _TAGS.sub(_Rewriter(), html[:MAX_HTML_CHARS])
    if html.count("<") < MODEL_TAGS:
        return html
    return html[: _Reader(html).safe_length()]


def unmark(text: str) -> str:
    """`text` as the page wrote it, for text the parser read from a rewritten page."""
    return text.replace(_INERT, "<") if MARK in text else text


class _Rewriter:
    """The rewriting of one match. It only ever inserts text: where a match is not the tag it
    looks like (inside a script after an <svg>), a deletion could take a `</script>` with it."""

    def __init__(self) -> None:
        self.merged = {"html": 0, "body": 0}
        self.foreign = False  # an <svg> or <math> was seen

    def __call__(self, match: re.Match[str]) -> str:
        raw = match.group("raw") if match.re is _TAGS else None
        if raw is None:
            return self._tag(match)
        keep, rest, tail, text = match.group("rawkeep", "rawrest", "rawtail", "rawtext")
        if not rest and (text is None or not self.foreign):
            return match.group()
        if self.foreign and text is not None:
            text = _ANY_TAGS.sub(self, text)
        rest = ">" + rest if rest else ""
        return f"<{raw}{keep}{rest}{tail}" + (f">{text}" if text is not None else "")

    def _tag(self, match: re.Match[str]) -> str:
        name, keep, rest = match.group("name", "keep", "rest")
        lowered = name.lower()
        inert = lowered in _FORMATTING_NAMES
        if lowered in self.merged:
            self.merged[lowered] += 1
            inert = self.merged[lowered] > MAX_MERGED
        elif lowered in ("svg", "math"):
            self.foreign = True
        return (_INERT if inert else "<") + name + keep + (">" + rest if rest else "")


# --------------------------------------------------------------------------- the stack model

# Element categories (bits), as the HTML standard's tree construction defines them.
_SPECIAL, _SCOPE, _BUTTON_SCOPE, _LIST_SCOPE, _TABLE_SCOPE = 1, 2, 4, 8, 16
_MARKER, _HTML, _HTML_POINT, _TEXT_POINT, _HEADING = 32, 64, 128, 256, 512
_BLOCKS_LI = 1024  # special, but not address, div or p: stops the search for an open <li>
_BITS = 11
_POINTS = _HTML_POINT | _TEXT_POINT

_SPECIAL_NAMES = frozenset(
    [
        "address",
        "applet",
        "area",
        "article",
        "aside",
        "base",
        "basefont",
        "bgsound",
        "blockquote",
        "body",
        "br",
        "button",
        "caption",
        "center",
        "col",
        "colgroup",
        "dd",
        "details",
        "dir",
        "div",
        "dl",
        "dt",
        "embed",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "frame",
        "frameset",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "header",
        "hgroup",
        "hr",
        "html",
        "iframe",
        "img",
        "input",
        "keygen",
        "li",
        "link",
        "listing",
        "main",
        "marquee",
        "menu",
        "meta",
        "nav",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "ol",
        "p",
        "param",
        "plaintext",
        "pre",
        "script",
        "search",
        "section",
        "select",
        "source",
        "style",
        "summary",
        "table",
        "tbody",
        "td",
        "template",
        "textarea",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "track",
        "ul",
        "wbr",
        "xmp",
    ]
)
_SCOPE_NAMES = frozenset(
    ["applet", "caption", "html", "table", "td", "th", "marquee", "object", "template"]
)
_HEADINGS = frozenset(["h1", "h2", "h3", "h4", "h5", "h6"])


def _kind(name: str) -> int:
    kind = _HTML
    if name in _SPECIAL_NAMES:
        kind |= _SPECIAL | (0 if name in ("address", "div", "p") else _BLOCKS_LI)
    if name in _SCOPE_NAMES:
        kind |= _SCOPE | _BUTTON_SCOPE | _LIST_SCOPE
    kind |= _BUTTON_SCOPE if name == "button" else 0
    kind |= _LIST_SCOPE if name in ("ol", "ul") else 0
    kind |= _TABLE_SCOPE if name in ("html", "table", "template") else 0
    kind |= _MARKER if name in ("applet", "object", "marquee", "template", "td", "th") else 0
    kind |= _MARKER if name == "caption" else 0
    kind |= _HEADING if name in _HEADINGS else 0
    return kind


_KINDS = {name: _kind(name) for name in _SPECIAL_NAMES | _SCOPE_NAMES | {"ol", "ul"}}
_BITS_OF = [tuple(b for b in range(_BITS) if kind >> b & 1) for kind in range(1 << _BITS)]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# What a start tag does in HTML content besides being pushed (bits).
_NO_FRAMESET, _CLOSES_P, _ITEM, _VOID, _RAW_TEXT, _TABLE_PART, _IGNORED, _OWN = (
    1 << n for n in range(8)
)
_START: dict[str, int] = {}
for _group, _rule in (
    # after these (and after any text but spaces) a <frameset> no longer replaces the body
    (
        """pre listing li dd dt button applet marquee object table area br embed img image keygen
    wbr input hr textarea xmp iframe noembed select body""",
        _NO_FRAMESET,
    ),
    (
        """address article aside blockquote center details dialog dir div dl fieldset figcaption
    figure footer header hgroup main menu nav ol p search section summary ul pre listing form
    li dd dt h1 h2 h3 h4 h5 h6 hr xmp plaintext""",
        _CLOSES_P,
    ),
    ("li dd dt", _ITEM),
    (
        """area base basefont bgsound br col embed frame hr image img input keygen link meta param
    source track wbr""",
        _VOID,
    ),
    (" ".join(_RAW) + " plaintext", _RAW_TEXT),
    ("caption col colgroup tbody td tfoot th thead tr", _TABLE_PART),
    ("head html body", _IGNORED),
    ("a button select option optgroup table frameset svg math h1 h2 h3 h4 h5 h6", _OWN),
):
    for _name in _group.split():
        _START[_name] = _START.get(_name, 0) | _rule

# What an end tag does in HTML content (any other name: pops to its element unless a
# special element is open above it).
_E_P, _E_LIST, _E_SCOPE, _E_HEADING, _E_TABLE, _E_TEMPLATE, _E_TOP, _E_OPTGROUP, _E_A = range(9)
_E_NOTHING = 9
_END: dict[str, int] = {"p": _E_P, "li": _E_LIST, "template": _E_TEMPLATE, "a": _E_A}
_END["optgroup"] = _E_OPTGROUP
for _group, _code in (
    (
        """dd dt select applet marquee object address article aside blockquote button center
    details dialog dir div dl fieldset figcaption figure footer header hgroup listing main
    menu nav ol pre search section summary ul""",
        _E_SCOPE,
    ),
    ("h1 h2 h3 h4 h5 h6", _E_HEADING),
    ("table td th tr caption tbody thead tfoot", _E_TABLE),
    ("form colgroup option noscript", _E_TOP),  # closed only when it is the current element
    ("br body html head", _E_NOTHING),
):
    for _name in _group.split():
        _END[_name] = _code

# Start tags that leave <svg> or <math> content and are read as HTML.
_BREAKOUT = _names(
    """b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i
    img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u
    ul var"""
)
_SVG_POINTS = _names("foreignobject desc title")
_MATH_TEXT_POINTS = _names("mi mo mn ms mtext")
_FOREIGN_POINT = _SPECIAL | _SCOPE | _BUTTON_SCOPE | _LIST_SCOPE | _BLOCKS_LI
_SECTIONS = ("tbody", "thead", "tfoot")

# The next token from a "<", as the HTML tokenizer reads it. Lazy or possessive throughout,
# and the comment's \Z branch always matches, so nothing is ever scanned twice.
_NEXT = re.compile(
    r"<(?:!--(?:-?>|.*?(?:--!?>|\Z))"  # a comment
    r"|(?P<cdata>!\[CDATA\[)"  # CDATA in <svg> or <math>, a bogus comment elsewhere
    rf"|(?P<slash>/?)(?P<name>[a-zA-Z][^{_WS}/>]*+)(?P<attrs>{_ATTR}*+)(?P<tail>[{_WS}/]*+)"
    r"(?P<end>>?)"
    r"|[!?/][^>]*+>?"  # a doctype, a processing instruction, a bogus comment
    r"|)",  # a "<" that starts nothing is text
    re.ASCII | re.DOTALL,
)
# The sequences that change a script's escape state: literals, a possessive run of dashes.
_SCRIPT_EVENTS = re.compile(
    rf"<!--(?:-*+>)?|-->|<(?P<close>/?)script(?=[{_WS}/>])", re.ASCII | re.IGNORECASE
)
# A literal end tag and a one-character lookahead.
_RAW_ENDS = {name: re.compile(rf"</{name}(?=[{_WS}/>])", re.ASCII | re.IGNORECASE) for name in _RAW}
# Searched in one tag's attributes; the two white-space runs are separated by "=".
_ENCODING = re.compile(rf"""encoding[{_WS}]*=[{_WS}]*["']?(text/html|application/xhtml\+xml)""")


class _Reader:
    """Reads the tags of a page as the HTML tokenizer does and keeps `_Stack` up to date."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.stack = _Stack()

    def safe_length(self) -> int:
        """How much of the page can be parsed within MAX_TAGS, MAX_DEPTH and MAX_WORK."""
        html, stack, search = self.html, self.stack, _NEXT.search
        names = stack.names
        work = tags = pos = 0
        while (token := search(html, pos)) is not None:
            start = token.start()
            if stack.frameset_ok and html[pos:start].strip(_WS):
                stack.frameset_ok = False
            name = token.group("name")
            if name is None:
                if token.group("cdata") is not None:
                    pos = self._after_cdata(start)
                else:
                    stack.frameset_ok &= token.end() - start > 1  # a lone "<" is text
                    pos = token.end()
                continue
            if not token.group("end"):  # the page ends inside the tag: the parser drops it
                break
            tags += 1
            work += len(names)
            if tags > MAX_TAGS or work > MAX_WORK:
                return start
            pos = token.end()
            if token.group("slash"):
                stack.end(name.lower())
                continue
            text = stack.start(name.lower(), token.group("attrs"), token.group("tail"))
            if len(names) > MAX_DEPTH:
                return start
            if text is not None:
                pos = _text_end(html, text, pos)
                if pos < 0:
                    break
        return len(html)

    def _after_cdata(self, start: int) -> int:
        end = self.html.find("]]>" if self.stack.foreign() else ">", start)
        return len(self.html) if end < 0 else end + 1


def _text_end(html: str, element: str, start: int) -> int:
    """Where the text of the raw-text `element` (a script, a <title>...) that starts at
    `start` ends; -1 when the rest of the page is its text."""
    if element == "plaintext":
        return -1
    if element != "script":
        found = _RAW_ENDS[element].search(html, start)
        return found.start() if found else -1
    escaped = double = False  # inside <!-- and inside <!--<script>
    for event in _SCRIPT_EVENTS.finditer(html, start):
        text = event.group()
        if text.startswith("<!--"):
            escaped = escaped or not text.endswith(">")
        elif text == "-->":
            escaped = double = False
        elif not event.group("close"):
            double = double or escaped
        elif double:
            double = False
        else:
            return event.start()
    return -1


class _Stack:
    """The parser's stack of open elements, as far as its depth goes.

    Each entry has a name (foreign elements as "svg g" or "math mi") and category bits;
    per name and per category the positions of the open entries are kept, so every question
    the parser asks of its stack ("is there a <p> in button scope?") is answered in constant
    time and the model stays linear however deep the stack is. Where the standard's rules
    are too intricate to follow (the adoption agency for <a>, implied end tags in <ruby>,
    the form pointer), the model pops less than the parser, never more: its depth is never
    below the parser's.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.kinds: list[int] = []
        self.where: dict[str, list[int]] = {}
        self.marks: list[list[int]] = [[] for _ in range(_BITS)]
        self.frameset_ok = True  # a <frameset> would still replace the body
        self.frameset = False  # one did: the parser now ignores all but framesets

    # ---------------------------------------------------------------- primitives

    def push(self, name: str, kind: int) -> None:
        position = len(self.names)
        self.names.append(name)
        self.kinds.append(kind)
        positions = self.where.get(name)
        if positions is None:
            self.where[name] = [position]
        else:
            positions.append(position)
        for bit in _BITS_OF[kind]:
            self.marks[bit].append(position)

    def pop_to(self, position: int) -> None:
        """Pop the entry at `position` and every entry above it."""
        names, kinds, where, marks = self.names, self.kinds, self.where, self.marks
        while len(names) > position:
            where[names.pop()].pop()
            for bit in _BITS_OF[kinds.pop()]:
                marks[bit].pop()

    def top(self, name: str) -> int:
        positions = self.where.get(name)
        return positions[-1] if positions else -1

    def topmost(self, category: int) -> int:
        positions = self.marks[category.bit_length() - 1]
        return positions[-1] if positions else -1

    def foreign(self) -> bool:
        return bool(self.kinds) and not self.kinds[-1] & _HTML

    def _close(self, name: str, boundaries: int) -> None:
        """Pop to the topmost `name` unless one of `boundaries` is open above it."""
        position = self.top(name)
        if position >= 0 and (not boundaries or position >= self.topmost(boundaries)):
            self.pop_to(position)

    def _pop_current(self, name: str) -> None:
        if self.names and self.names[-1] == name:
            self.pop_to(len(self.names) - 1)

    # ---------------------------------------------------------------- tokens

    def start(self, name: str, attrs: str, tail: str) -> str | None:
        """Apply a start tag; the name of the raw-text element it opens, if it does."""
        if self.kinds and not self.kinds[-1] & _HTML and not self._read_as_html(name):
            if name not in _BREAKOUT:
                if not tail.endswith("/"):
                    self._push_foreign(name, attrs)
                return None
            self._leave_foreign()
        return self._html_start(name, tail.endswith("/"))

    def end(self, name: str) -> None:
        if self.kinds and not self.kinds[-1] & _HTML:
            if name in ("br", "p"):
                self._leave_foreign()
            else:
                match = max(self.top("svg " + name), self.top("math " + name))
                if match > self.topmost(_HTML):
                    self.pop_to(match)
                    return
        self._html_end(name)

    # ---------------------------------------------------------------- foreign content

    def _read_as_html(self, name: str) -> bool:
        """Whether a start tag under the current foreign element is read as HTML."""
        kind = self.kinds[-1]
        if kind & _HTML_POINT:
            return True
        if kind & _TEXT_POINT:
            return name not in ("mglyph", "malignmark")
        return name == "svg" and self.names[-1] == "math annotation-xml"

    def _leave_foreign(self) -> None:
        while self.kinds and not self.kinds[-1] & (_HTML | _POINTS):
            self.pop_to(len(self.names) - 1)

    def _push_foreign(self, name: str, attrs: str) -> None:
        space = self.names[-1].split(" ", 1)[0]
        kind = 0
        if space == "svg" and name in _SVG_POINTS:
            kind = _FOREIGN_POINT | _HTML_POINT
        elif space == "math" and name in _MATH_TEXT_POINTS:
            kind = _FOREIGN_POINT | _TEXT_POINT
        elif space == "math" and name == "annotation-xml":
            kind = _FOREIGN_POINT | (_HTML_POINT if _ENCODING.search(attrs.lower()) else 0)
        self.push(f"{space} {name}", kind)

    # ---------------------------------------------------------------- HTML content

    def _html_start(self, name: str, closed: bool) -> str | None:
        rule = _START.get(name, 0)
        if self.frameset:  # only framesets are read, and <noframes> text is passed over
            if name == "frameset":
                self.push(name, _KINDS[name])
            return name if name == "noframes" else None
        if not rule:
            self.push(name, _HTML)
            return None
        if rule & _NO_FRAMESET:
            self.frameset_ok = False
        if rule & (_IGNORED | _TABLE_PART):
            if rule & _TABLE_PART:
                self._table_part(name)
            return None
        if rule & _CLOSES_P:
            if rule & _ITEM:
                self._close_item(name)
            self._close("p", _BUTTON_SCOPE)
            if name in _HEADINGS and self.kinds and self.kinds[-1] & _HEADING:
                self.pop_to(len(self.names) - 1)
        if rule & _VOID:
            if name == "input":
                self._close("select", _SCOPE)
            return None
        if rule & _RAW_TEXT:
            return name
        if rule & _OWN and not self._own_start(name, closed):
            return None
        self.push(name, _KINDS.get(name, _HTML))
        return None

    def _own_start(self, name: str, closed: bool) -> bool:
        """What `name` closes before it opens; False when it is not pushed."""
        if name in ("svg", "math"):
            if not closed:
                self.push(f"{name} {name}", 0)
            return False
        if name == "frameset":
            if self.frameset_ok and self.top("template") < 0:
                self.pop_to(0)
                self.push(name, _KINDS[name])
                self.frameset = True
            return False
        if name == "a":
            self._close_link()
        elif name == "button":
            self._close("button", _SCOPE)
        elif name == "select":
            select = self.top("select")
            if select >= 0 and select >= self.topmost(_SCOPE):
                self.pop_to(select)
                return False
        elif name in ("option", "optgroup"):
            self._pop_current("option")
        elif name == "table":
            table = self.top("table")
            inner = max(self.top("td"), self.top("th"), self.top("caption"), self.top("template"))
            if table >= 0 and table > inner:  # directly in a table: closes it
                self.pop_to(table)
        return True

    def _html_end(self, name: str) -> None:
        if self.frameset:
            if name == "frameset":
                self._pop_current(name)
            return
        code = _END.get(name)
        if code is None:  # any other end tag
            self._close(name, _SPECIAL)
        elif code == _E_SCOPE:
            self._close(name, _SCOPE)
        elif code == _E_P:
            self._close("p", _BUTTON_SCOPE)
        elif code == _E_LIST:
            self._close("li", _LIST_SCOPE)
        elif code == _E_TABLE:
            self._close(name, _TABLE_SCOPE)
        elif code == _E_HEADING:
            heading = self.topmost(_HEADING)
            if heading >= 0 and heading >= self.topmost(_SCOPE):
                self.pop_to(heading)
        elif code == _E_TEMPLATE:
            self._close(name, 0)
        elif code == _E_TOP:
            self._pop_current(name)
        elif code == _E_OPTGROUP:
            if self.names[-2:] == ["optgroup", "option"]:
                self.pop_to(len(self.names) - 1)
            self._pop_current("optgroup")
        elif code == _E_A:
            self._close_link()

    def _close_item(self, name: str) -> None:
        """<li> closes the open <li>, <dd> and <dt> the open <dd> or <dt>, unless a special
        element other than address, div or p is open above it."""
        item = self.top("li") if name == "li" else max(self.top("dd"), self.top("dt"))
        if item >= 0 and item > self.topmost(_BLOCKS_LI):
            self.pop_to(item)

    def _close_link(self) -> None:
        """An <a> open after the last marker is closed by another <a> or </a>; when a special
        element is open inside it the parser restructures instead, and the model pops none."""
        link = self.top("a")
        if link >= 0 and link > self.topmost(_MARKER) and link > self.topmost(_SPECIAL):
            self.pop_to(link)

    def _table_part(self, name: str) -> None:
        """A cell, row, section, caption or column start tag: in a table it first closes what
        is open in the table (and opens the implied <tbody> and <tr>); in a <template> it is
        pushed; anywhere else the parser ignores it."""
        table, template = self.top("table"), self.top("template")
        if table < 0 or template > table:
            if template >= 0 and name != "col":
                self.push(name, _KINDS[name])
            return
        section = max(self.top(s) for s in _SECTIONS)
        if name in ("td", "th"):
            row = self.top("tr")
            if row > table:
                self.pop_to(row + 1)
            else:
                self._open_section(table, section)
                self.push("tr", _KINDS["tr"])
        elif name == "tr":
            self._open_section(table, section)
        else:
            self.pop_to(table + 1)
        name = "colgroup" if name == "col" else name
        self.push(name, _KINDS[name])

    def _open_section(self, table: int, section: int) -> None:
        if section > table:
            self.pop_to(section + 1)
        else:
            self.pop_to(table + 1)
            self.push("tbody", _KINDS["tbody"])
