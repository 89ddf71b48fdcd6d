"""Recursive-descent selector parser (``||`` < ``&&`` < ``!``), with a cache for hot callers.

Structure mirrors Calico's parser so the trees, and therefore the canonical text and IP set IDs,
come out the same: a run of ``!`` folds to at most one Not, ``a && b && c`` is one And, and a
parenthesised group stays a separate node.
"""

from __future__ import annotations

from functools import lru_cache

from calico.selector.ast import (
    All,
    And,
    Contains,
    EndsWith,
    Eq,
    Global,
    Has,
    In,
    Ne,
    Node,
    Not,
    NotIn,
    Or,
    Selector,
    StartsWith,
    make_set,
    walk,
)
from calico.selector.errors import SelectorError
from calico.selector.tokenizer import MAX_LABEL_LENGTH, Kind, Token, is_label_char, tokenize

_VALUE_OPS: dict[Kind, type[Eq | Ne | Contains | StartsWith | EndsWith]] = {
    Kind.EQ: Eq,
    Kind.NE: Ne,
    Kind.CONTAINS: Contains,
    Kind.STARTS_WITH: StartsWith,
    Kind.ENDS_WITH: EndsWith,
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def fail(self, tok: Token, reason: str) -> SelectorError:
        return SelectorError(self.text, tok.pos, reason)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Kind.EOF:
            self.i += 1
        return tok

    def parse_root(self) -> Node:
        if self.peek().kind is Kind.EOF:
            return All()
        node = self.parse_or()
        tok = self.peek()
        if tok.kind is not Kind.EOF:
            raise self.fail(tok, "unexpected content at end of selector")
        return node

    def parse_or(self) -> Node:
        operands = [self.parse_and()]
        while self.peek().kind is Kind.OR:
            self.take()
            operands.append(self.parse_and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self) -> Node:
        operands = [self.parse_operation()]
        while self.peek().kind is Kind.AND:
            self.take()
            operands.append(self.parse_operation())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def parse_operation(self) -> Node:
        negated = False
        while self.peek().kind is Kind.NOT:
            self.take()
            negated = not negated
        tok = self.take()
        node: Node
        if tok.kind is Kind.HAS:
            node = Has(tok.value)
        elif tok.kind is Kind.ALL:
            node = All()
        elif tok.kind is Kind.GLOBAL:
            node = Global()
        elif tok.kind is Kind.LABEL:
            node = self.parse_label_op(tok.value)
        elif tok.kind is Kind.LPAREN:
            node = self.parse_or()
            close = self.take()
            if close.kind is not Kind.RPAREN:
                raise self.fail(close, "expected )")
        elif tok.kind is Kind.EOF:
            raise self.fail(tok, "unexpected end of selector")
        else:
            raise self.fail(tok, f"unexpected token {_describe(tok)}")
        return Not(node) if negated else node

    def parse_label_op(self, label: str) -> Node:
        op = self.take()
        if op.kind is Kind.EOF:
            raise self.fail(op, "unexpected end of string looking for op")
        value_op = _VALUE_OPS.get(op.kind)
        if value_op is not None:
            value = self.take()
            if value.kind is not Kind.STRING:
                raise self.fail(value, "expected string")
            return value_op(label, value.value)
        if op.kind is Kind.IN or op.kind is Kind.NOT_IN:
            brace = self.take()
            if brace.kind is not Kind.LBRACE:
                raise self.fail(brace, "expected set literal")
            values: list[str] = []
            # As in Calico: strings separated by commas; a trailing comma is tolerated.
            while self.peek().kind is Kind.STRING:
                values.append(self.take().value)
                if self.peek().kind is not Kind.COMMA:
                    break
                self.take()
            close = self.take()
            if close.kind is not Kind.RBRACE:
                raise self.fail(close, "expected }")
            if op.kind is Kind.IN:
                return In(label, make_set(values))
            return NotIn(label, make_set(values))
        raise self.fail(op, f'expected operator after label "{label}"')


def _describe(tok: Token) -> str:
    if tok.kind is Kind.LABEL:
        return f'"{tok.value}"'
    if tok.kind is Kind.STRING:
        return f"string {tok.value!r}"
    return f'"{tok.kind.value}"'


def _parse_uncached(text: str) -> Selector:
    try:
        return Selector(_Parser(text).parse_root())
    except RecursionError:
        raise SelectorError(text, 0, "selector nested too deeply") from None


@lru_cache(maxsize=16384)
def parse_selector(text: str) -> Selector:
    """Parse a selector; ``""`` means ``all()``.  Raises SelectorError.

    Results are cached: Felix parses the same few selectors over and over, and a Selector is
    immutable, so sharing one instance is safe.
    """
    return _parse_uncached(text)


def validate_selector(text: str, allow_global: bool = False) -> None:
    """Check a selector for the API layer; ``global()`` is only allowed where the field permits it."""
    sel = parse_selector(text)
    if not allow_global and any(isinstance(n, Global) for n in walk(sel.root)):
        pos = next(t.pos for t in tokenize(text) if t.kind is Kind.GLOBAL)
        raise SelectorError(text, pos, "global() is not allowed here")


def is_valid_label_key(key: str) -> bool:
    """True when ``key`` can be written as a label in a selector (Calico's ``ValidLabel``)."""
    return 0 < len(key) <= MAX_LABEL_LENGTH and all(is_label_char(c) for c in key)
