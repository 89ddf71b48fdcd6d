"""Selector tokenizer, following Calico's rules token for token.

Only spaces and TABs separate tokens (a newline is an error).  Operator words after a label
(``contains``, ``starts with``, ``ends with``, ``not in``, ``in``) must end at a word boundary;
``has(``, ``all(`` and ``global(`` need the ``(`` straight after the word.  Every token carries
its character position so errors can point at it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from calico.selector.errors import SelectorError

MAX_LABEL_LENGTH = 512
_WHITESPACE = " \t"
_IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")


class Kind(enum.Enum):
    LABEL = "label"
    STRING = "string"
    LBRACE = "{"
    RBRACE = "}"
    COMMA = ","
    EQ = "=="
    NE = "!="
    IN = "in"
    NOT = "!"
    NOT_IN = "not in"
    CONTAINS = "contains"
    STARTS_WITH = "starts with"
    ENDS_WITH = "ends with"
    ALL = "all()"
    HAS = "has()"
    GLOBAL = "global()"
    LPAREN = "("
    RPAREN = ")"
    AND = "&&"
    OR = "||"
    EOF = "end of selector"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    pos: int
    value: str = ""


_SIMPLE = {"(": Kind.LPAREN, ")": Kind.RPAREN, "{": Kind.LBRACE, "}": Kind.RBRACE, ",": Kind.COMMA}
# Operators tried, in Calico's order, right after a label.
_LABEL_OPS: tuple[tuple[tuple[str, ...], Kind], ...] = (
    (("contains",), Kind.CONTAINS),
    (("starts", "with"), Kind.STARTS_WITH),
    (("ends", "with"), Kind.ENDS_WITH),
    (("not", "in"), Kind.NOT_IN),
    (("in",), Kind.IN),
)


def is_label_char(c: str) -> bool:
    return c in _IDENT_CHARS


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WHITESPACE:
        i += 1
    return i


def _cut_words(text: str, i: int, words: tuple[str, ...]) -> int:
    """End index of the operator ``words`` at ``i``, or -1 if they are not there.

    Like Calico: a single word must be followed by a word break; for two words, whitespace is
    optional between them ("notin", "startswith" are accepted) and after them, and only the text
    after that must start at a word break.
    """
    if len(words) == 1:
        end = i + len(words[0])
        if not text.startswith(words[0], i):
            return -1
    else:
        end = i
        for word in words:
            if not text.startswith(word, end):
                return -1
            end = _skip_ws(text, end + len(word))
    if end < len(text) and is_label_char(text[end]):
        return -1
    return end


def _cut_ident(text: str, i: int) -> tuple[str, int]:
    j = i
    n = len(text)
    while j < n and text[j] in _IDENT_CHARS:
        j += 1
    ident = text[i:j]
    if len(ident) > MAX_LABEL_LENGTH:
        raise SelectorError(text, i, f"label too long: {ident}")
    if not ident:
        raise SelectorError(text, i, "expected identifier")
    return ident, j


def _cut_call(text: str, i: int, word: str) -> tuple[str, int]:
    """Parse ``word(`` ... ``)`` at ``i`` (``has`` takes a label); returns (argument, end)."""
    j = _skip_ws(text, i + len(word) + 1)
    arg = ""
    if word == "has":
        arg, j = _cut_ident(text, j)
        j = _skip_ws(text, j)
    if j >= len(text) or text[j] != ")":
        raise SelectorError(text, j, f"no closing ')' after {word}(")
    return arg, j + 1


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens ending with an EOF token, or raise SelectorError."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            tokens.append(Token(Kind.EOF, n))
            return tokens
        c = text[i]
        simple = _SIMPLE.get(c)
        if simple is not None:
            tokens.append(Token(simple, i))
            i += 1
        elif c in "\"'":
            end = text.find(c, i + 1)
            if end < 0:
                raise SelectorError(text, i, "unterminated string")
            tokens.append(Token(Kind.STRING, i, text[i + 1 : end]))
            i = end + 1
        elif c == "=":
            if not text.startswith("==", i):
                raise SelectorError(text, i, "expected ==")
            tokens.append(Token(Kind.EQ, i))
            i += 2
        elif c == "!":
            if text.startswith("!=", i):
                tokens.append(Token(Kind.NE, i))
                i += 2
            else:
                tokens.append(Token(Kind.NOT, i))
                i += 1
        elif c in "&|":
            if not text.startswith(c + c, i):
                raise SelectorError(text, i, f"expected {c}{c}")
            tokens.append(Token(Kind.AND if c == "&" else Kind.OR, i))
            i += 2
        elif tokens and tokens[-1].kind is Kind.LABEL:
            i = _label_operator(text, i, tokens)
        else:
            i = _word(text, i, tokens)


def _label_operator(text: str, i: int, tokens: list[Token]) -> int:
    for words, kind in _LABEL_OPS:
        end = _cut_words(text, i, words)
        if end >= 0:
            tokens.append(Token(kind, i))
            return end
    raise SelectorError(text, i, f'expected operator after label "{tokens[-1].value}"')


def _word(text: str, i: int, tokens: list[Token]) -> int:
    for word, kind in (("has", Kind.HAS), ("all", Kind.ALL), ("global", Kind.GLOBAL)):
        if text.startswith(word + "(", i):
            arg, end = _cut_call(text, i, word)
            tokens.append(Token(kind, i, arg))
            return end
    ident, end = _cut_ident(text, i)
    tokens.append(Token(Kind.LABEL, i, ident))
    return end
