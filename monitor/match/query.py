"""The rule query language: syntax tree and parser.

Grammar, from lowest to highest precedence::

    query    := and ("OR" and)*
    and      := not (["AND"] not)*            two operands side by side are ANDed
    not      := "NOT" not | near
    near     := primary [("NEAR/" | "ONEAR/") (n | "s" | "p") primary]
    primary  := word | "phrase" | prefix* | @entity | "*" | "(" query ")"
              | ("title:" | "body:") primary

``*`` alone stands for the whole article: it is found in every article (a passthrough rule,
``*``, matches everything its filters let through; ``* NOT sport`` every article without
"sport"). It cannot be limited to a field, negated or be a NEAR operand.

Operators are upper case (``and`` is an ordinary word); a word shaped like a proximity
operator written wrong (``near/15``, ``NEAR`` with no distance) is refused with what to write
(``lookalike.py``). NEAR operands must be words, phrases,
prefixes, entities or a parenthesised OR of those. Parentheses, NOT and title:/body: nest at
most ``MAX_DEPTH`` levels deep, which bounds the recursion of everything that walks the tree.
Every error names the 1-based column where it was found.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeAlias, cast

from monitor.errors import QueryError
from monitor.match.lookalike import proximity_mistake
from monitor.match.tokens import query_tokens
from monitor.suggest import did_you_mean

Field = Literal["title", "body"]
Unit = Literal["words", "sentence", "paragraph"]

# One class repeated, then the end: a failed match gives the run back once, O(len).
ENTITY_ID = re.compile(r"[a-z0-9_-]+\Z")


@dataclass(frozen=True, slots=True)
class Term:
    """A word or a quoted phrase: its tokens must appear consecutively."""

    operand: str  # as written in the query, e.g. 'iran' or '"oil prices"'
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Prefix:
    """``sanction*``: the last token only has to start with the last of ``tokens``."""

    operand: str
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Entity:
    """``@id``: any alias of the entity."""

    id: str

    @property
    def operand(self) -> str:
        return "@" + self.id


@dataclass(frozen=True, slots=True)
class Everything:
    """``*``: the whole article, found in every one."""

    @property
    def operand(self) -> str:
        return "*"


Leaf: TypeAlias = Term | Prefix | Entity | Everything


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    """Two operands close together: ``distance`` words at most between them (unit "words"),
    or in the same sentence or paragraph. ``ordered``: left must come first (ONEAR)."""

    left: tuple[Leaf, ...]  # the alternatives of the left operand
    right: tuple[Leaf, ...]
    unit: Unit
    distance: int  # 0 unless unit is "words"
    ordered: bool

    @property
    def operator(self) -> str:
        name = "ONEAR" if self.ordered else "NEAR"
        return f"{name}/{self.distance if self.unit == 'words' else self.unit[0]}"


@dataclass(frozen=True, slots=True)
class Scope:
    """``title:(...)`` / ``body:(...)``: the sub-query only sees one field."""

    field: Field
    child: Node


Node: TypeAlias = Term | Prefix | Entity | Everything | And | Or | Not | Near | Scope


def leaves(node: Node) -> Iterator[tuple[Leaf, bool]]:
    """Every leaf of ``node`` with whether it sits under a NOT."""
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        n, negated = stack.pop()
        if isinstance(n, Term | Prefix | Entity | Everything):
            yield n, negated
        elif isinstance(n, And | Or):
            stack.extend((c, negated) for c in reversed(n.children))
        elif isinstance(n, Not):
            stack.append((n.child, True))
        elif isinstance(n, Near):
            yield from ((leaf, negated) for leaf in n.left + n.right)
        else:
            stack.append((n.child, negated))


def render(node: Node) -> str:
    """Query text for a node (fully parenthesised groups), for explanations."""
    if isinstance(node, Term | Prefix | Entity | Everything):
        return node.operand
    if isinstance(node, And | Or):
        op = " AND " if isinstance(node, And) else " OR "
        return "(" + op.join(render(c) for c in node.children) + ")"
    if isinstance(node, Not):
        return "NOT " + render(node.child)
    if isinstance(node, Near):
        return f"{_render_alts(node.left)} {node.operator} {_render_alts(node.right)}"
    return f"{node.field}:({render(node.child)})"


def _render_alts(alts: tuple[Leaf, ...]) -> str:
    if len(alts) == 1:
        return alts[0].operand
    return "(" + " OR ".join(a.operand for a in alts) + ")"


_KINDS: dict[type, str] = {
    And: "an AND group",
    Not: "NOT",
    Near: "another NEAR",
    Scope: "a title:/body: scope",
}

# --------------------------------------------------------------------------- lexer

# Leading spaces, then one token: each alternative is a literal or one class repeated, so a
# match reads the token once (and gives back the spaces once when nothing follows them).
# The lexer calls it at the end of the previous token: O(len) for the whole query.
_LEX = re.compile(
    r"""\s*(?:
      (?P<paren>[()])
    | (?P<quote>")
    | (?P<field>(?:title|body):)
    | (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)
# Literals, one class of digits, the end: a failed match gives the digits back once, O(len).
_PROXIMITY = re.compile(r"(O?NEAR)/(\d+|s|p)\Z")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ( ) AND OR NOT near field phrase word
    text: str
    column: int  # 1-based


def _lex(query: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while True:
        m = _LEX.match(query, pos)
        if m is None or m.end() == pos or m.lastgroup is None:
            return out
        column = m.start(m.lastgroup) + 1
        text = m.group(m.lastgroup)
        pos = m.end()
        if m.lastgroup == "quote":
            close = query.find('"', pos)
            if close < 0:
                raise QueryError("unterminated phrase: missing closing '\"'", column)
            out.append(_Token("phrase", query[pos:close], column))
            pos = close + 1
        elif m.lastgroup == "word" and text in ("AND", "OR", "NOT"):
            out.append(_Token(text, text, column))
        elif m.lastgroup == "word" and _PROXIMITY.match(text):
            out.append(_Token("near", text, column))
        elif m.lastgroup == "word" and (
            mistake := proximity_mistake(text, partial(_next_word, query, pos))
        ):
            raise QueryError(mistake, column)
        else:
            out.append(_Token(text if m.lastgroup == "paren" else m.lastgroup, text, column))


def _next_word(query: str, pos: int) -> str:
    """The word that follows `pos` (its first 64 characters), for messages."""
    words = query[pos : pos + 64].split(None, 1)
    return words[0] if words else ""


# --------------------------------------------------------------------------- parser


MAX_DEPTH = 50  # levels of parentheses, NOT and title:/body: one inside another


class _Parser:
    def __init__(self, query: str, entity_ids: Collection[str]) -> None:
        self.query = query
        self.tokens = _lex(query)
        self.pos = 0
        self.entity_ids = entity_ids
        self.scope: Field | None = None
        self.negated = 0  # NOTs around the next token
        self.depth = 0  # open parentheses, NOTs and scopes around the next token

    def enter(self, tok: _Token) -> None:
        """Open one more level at ``tok``: this bounds the parser's recursion, and so that
        of everything that walks the tree afterwards (compile, presearch, explain)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(
                f"query nested deeper than {MAX_DEPTH} levels (parentheses, NOT, title:/body:)",
                tok.column,
            )

    def peek(self) -> str | None:
        return self.tokens[self.pos].kind if self.pos < len(self.tokens) else None

    def next(self) -> _Token:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def column(self) -> int:
        """Column of the next token, or just past the end of the query."""
        if self.pos < len(self.tokens):
            return self.tokens[self.pos].column
        return len(self.query.rstrip()) + 1

    def parse(self) -> Node:
        if not self.tokens:
            raise QueryError("empty query", 1)
        node = self.p_or()
        if self.pos < len(self.tokens):
            tok = self.tokens[self.pos]
            what = "unmatched ')'" if tok.kind == ")" else f"unexpected {tok.text!r}"
            raise QueryError(what, tok.column)
        return node

    def p_or(self, after: str | None = None) -> Node:
        kids = [self.p_and(after)]
        while self.peek() == "OR":
            self.next()
            kids.append(self.p_and(after="OR"))
        return kids[0] if len(kids) == 1 else Or(tuple(kids))

    def p_and(self, after: str | None = None) -> Node:
        kids = [self.p_not(after)]
        while self.peek() in ("AND", "NOT", "(", "field", "phrase", "word"):
            after = self.next().text if self.peek() == "AND" else None
            kids.append(self.p_not(after))
        return kids[0] if len(kids) == 1 else And(tuple(kids))

    def p_not(self, after: str | None = None) -> Node:
        if self.peek() == "NOT":
            self.enter(self.next())
            self.negated += 1
            node = Not(self.p_not("NOT"))
            self.negated -= 1
            self.depth -= 1
            return node
        return self.p_near(after)

    def p_near(self, after: str | None = None) -> Node:
        column = self.column()
        left = self.p_primary(after)
        if self.peek() != "near":
            return left
        op = self.next()
        right_column = self.column()
        right = self.p_primary(after=op.text)
        if self.peek() == "near":
            raise QueryError(
                f"{self.tokens[self.pos].text} cannot follow another NEAR; "
                "join two NEAR pairs with AND",
                self.column(),
            )
        m = _PROXIMITY.match(op.text)
        assert m is not None  # the lexer checked
        amount = m.group(2)
        unit: Unit = "sentence" if amount == "s" else "paragraph" if amount == "p" else "words"
        return Near(
            left=self._near_operand(left, op.text, column),
            right=self._near_operand(right, op.text, right_column),
            unit=unit,
            distance=int(amount) if unit == "words" else 0,
            ordered=m.group(1) == "ONEAR",
        )

    @staticmethod
    def _near_operand(node: Node, op: str, column: int) -> tuple[Leaf, ...]:
        alts: list[Leaf] = []
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, Everything):
                raise QueryError(f"'*' (every article) cannot be a {op} operand", column)
            if isinstance(n, Term | Prefix | Entity):
                alts.append(n)
            elif isinstance(n, Or):
                stack.extend(reversed(n.children))
            else:
                raise QueryError(
                    f"{op} operand must be a word, phrase, prefix, entity or a parenthesised "
                    f"OR of those, not {_KINDS[type(n)]}",
                    column,
                )
        return tuple(alts)

    def p_primary(self, after: str | None = None) -> Node:
        kind = self.peek()
        if kind not in ("(", "field", "phrase", "word"):
            found = "end of query" if kind is None else repr(self.tokens[self.pos].text)
            where = f" after {after}" if after else ""
            raise QueryError(f"expected operand{where}, found {found}", self.column())
        tok = self.next()
        if kind == "(":
            self.enter(tok)
            node = self.p_or(after="(")
            if self.peek() != ")":
                raise QueryError("missing ')': add one to close the '('", tok.column)
            self.next()
            self.depth -= 1
            return node
        if kind == "field":
            return self._scope(tok)
        if kind == "phrase":
            return Term('"' + tok.text + '"', self._tokens(tok, tok.text))
        return self._word(tok)

    def _scope(self, tok: _Token) -> Node:
        field: Field = "title" if tok.text == "title:" else "body"
        if self.scope is not None and self.scope != field:
            raise QueryError(f"{field}: inside {self.scope}:(...) can never match", tok.column)
        outer, self.scope = self.scope, field
        self.enter(tok)
        child = self.p_primary(after=tok.text)
        self.depth -= 1
        self.scope = outer
        return Scope(field, child)

    def _word(self, tok: _Token) -> Node:
        text = tok.text
        if text == "*":
            return self._everything(tok)
        if text.startswith("@"):
            eid = text[1:]
            if not ENTITY_ID.match(eid):
                raise QueryError(
                    f"bad entity id {text!r}: use lowercase letters, digits, '-' and '_'",
                    tok.column,
                )
            if eid not in self.entity_ids:
                hint = did_you_mean(eid, self.entity_ids, prefix="@")
                raise QueryError(f"unknown entity {text!r}{hint}", tok.column)
            return Entity(eid)
        if "*" in text:
            if text.index("*") != len(text) - 1:
                raise QueryError(f"'*' may only end a word: {text!r}", tok.column)
            return Prefix(text, self._tokens(tok, text[:-1]))
        return Term(text, self._tokens(tok, text))

    def _everything(self, tok: _Token) -> Everything:
        if self.scope is not None:
            raise QueryError(
                f"'*' is the whole article and cannot be limited to the {self.scope}: "
                f"write {self.scope}:(...) around words",
                tok.column,
            )
        if self.negated:
            raise QueryError("NOT '*' can never be true: every article has '*'", tok.column)
        return Everything()

    @staticmethod
    def _tokens(tok: _Token, text: str) -> tuple[str, ...]:
        tokens = query_tokens(text)
        if not tokens:
            raise QueryError(f"{tok.text!r} has no letters or digits to match", tok.column)
        return tokens


def parse_query(query: str, entity_ids: Collection[str]) -> Node:
    """Parse a query; raise QueryError (with a 1-based column) on the first error."""
    return _Parser(query, entity_ids).parse()


def intern(node: Node, table: dict[Node, Node]) -> Node:
    """The node with every operand and NEAR replaced by the first equal one in ``table``,
    so that rules written alike share the same objects (and their evaluation)."""
    if isinstance(node, Term | Prefix | Entity | Everything):
        return table.setdefault(node, node)
    if isinstance(node, Near):
        left = tuple(cast(Leaf, table.setdefault(x, x)) for x in node.left)
        right = tuple(cast(Leaf, table.setdefault(x, x)) for x in node.right)
        same = Near(left, right, node.unit, node.distance, node.ordered)
        return table.setdefault(same, same)
    if isinstance(node, And):
        return And(tuple(intern(c, table) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(intern(c, table) for c in node.children))
    if isinstance(node, Not):
        return Not(intern(node.child, table))
    return Scope(node.field, intern(node.child, table))


def can_be_found(node: Node) -> bool:
    """Whether the node can ever be FOUND (supported by words): false for NOT-only queries."""
    if isinstance(node, Not):
        return False
    if isinstance(node, And | Or):
        return any(can_be_found(c) for c in node.children)
    if isinstance(node, Scope):
        return can_be_found(node.child)
    return True


def bare_value(node: Node) -> int:
    """The node's value (0 absent, 1 true through NOT only, 2 found) in an article where
    none of its words occur: 2 for a query that ``*`` alone satisfies (a passthrough)."""
    if isinstance(node, Everything):
        return 2
    if isinstance(node, Term | Prefix | Entity | Near):
        return 0
    if isinstance(node, Not):
        return 1 if bare_value(node.child) == 0 else 0
    if isinstance(node, Scope):
        return bare_value(node.child)
    values = [bare_value(c) for c in node.children]
    if isinstance(node, And) and 0 in values:
        return 0
    return max(values)
