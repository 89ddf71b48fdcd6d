"""Selector syntax tree: frozen values that evaluate against labels and print canonically.

The canonical text follows Calico's ``String()`` exactly (``k == "v"``, sorted sets, And/Or in
parentheses, ``!expr``) because Felix derives IP set names from it: the same selector must give
the same ID here as in Calico.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeAlias


def _quote(value: str) -> str:
    # Calico uses double quotes unless the value itself holds one.
    q = "'" if '"' in value else '"'
    return q + value + q


@dataclass(frozen=True, slots=True)
class All:
    """``all()``: matches everything (also what an empty selector means)."""

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        return True

    def write(self, out: list[str]) -> None:
        out.append("all()")


@dataclass(frozen=True, slots=True)
class Global:
    """``global()``: true as a label test; meaningful only as a rule's namespaceSelector."""

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        return True

    def write(self, out: list[str]) -> None:
        out.append("global()")


@dataclass(frozen=True, slots=True)
class Has:
    """``has(k)``: the label is present, whatever its value."""

    label: str

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        return self.label in labels

    def write(self, out: list[str]) -> None:
        out += ("has(", self.label, ")")


@dataclass(frozen=True, slots=True)
class Eq:
    """``k == "v"``: present and equal."""

    label: str
    value: str

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is not None and v == self.value

    def write(self, out: list[str]) -> None:
        out += (self.label, " == ", _quote(self.value))


@dataclass(frozen=True, slots=True)
class Ne:
    """``k != "v"``: absent or different."""

    label: str
    value: str

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is None or v != self.value

    def write(self, out: list[str]) -> None:
        out += (self.label, " != ", _quote(self.value))


@dataclass(frozen=True, slots=True)
class Contains:
    """``k contains "s"``: present and holds the substring."""

    label: str
    value: str

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is not None and self.value in v

    def write(self, out: list[str]) -> None:
        out += (self.label, " contains ", _quote(self.value))


@dataclass(frozen=True, slots=True)
class StartsWith:
    """``k starts with "s"``: present and has the prefix."""

    label: str
    value: str

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is not None and v.startswith(self.value)

    def write(self, out: list[str]) -> None:
        out += (self.label, " starts with ", _quote(self.value))


@dataclass(frozen=True, slots=True)
class EndsWith:
    """``k ends with "s"``: present and has the suffix."""

    label: str
    value: str

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is not None and v.endswith(self.value)

    def write(self, out: list[str]) -> None:
        out += (self.label, " ends with ", _quote(self.value))


def _write_set(out: list[str], label: str, op: str, values: tuple[str, ...]) -> None:
    out += (label, op, "{", ", ".join(_quote(v) for v in values), "}")


@dataclass(frozen=True, slots=True)
class In:
    """``k in {"a", "b"}``: present and one of the values.  ``values`` is sorted and unique."""

    label: str
    values: tuple[str, ...]
    lookup: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", frozenset(self.values))

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is not None and v in self.lookup

    def write(self, out: list[str]) -> None:
        _write_set(out, self.label, " in ", self.values)


@dataclass(frozen=True, slots=True)
class NotIn:
    """``k not in {...}``: absent or none of the values.  ``values`` is sorted and unique."""

    label: str
    values: tuple[str, ...]
    lookup: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", frozenset(self.values))

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.label)
        return v is None or v not in self.lookup

    def write(self, out: list[str]) -> None:
        _write_set(out, self.label, " not in ", self.values)


@dataclass(frozen=True, slots=True)
class Not:
    """``!expr``.  The parser folds any run of ``!`` into at most one Not."""

    operand: Node

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        return not self.operand.evaluate(labels)

    def write(self, out: list[str]) -> None:
        out.append("!")
        self.operand.write(out)


@dataclass(frozen=True, slots=True)
class And:
    """``(a && b && ...)``, two or more operands, kept in source order."""

    operands: tuple[Node, ...]

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        return all(op.evaluate(labels) for op in self.operands)

    def write(self, out: list[str]) -> None:
        _write_group(out, " && ", self.operands)


@dataclass(frozen=True, slots=True)
class Or:
    """``(a || b || ...)``, two or more operands, kept in source order."""

    operands: tuple[Node, ...]

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        return any(op.evaluate(labels) for op in self.operands)

    def write(self, out: list[str]) -> None:
        _write_group(out, " || ", self.operands)


def _write_group(out: list[str], sep: str, operands: tuple[Node, ...]) -> None:
    out.append("(")
    for i, op in enumerate(operands):
        if i:
            out.append(sep)
        op.write(out)
    out.append(")")


Node: TypeAlias = All | Global | Has | Eq | Ne | Contains | StartsWith | EndsWith | In | NotIn | Not | And | Or
LabelNode: TypeAlias = Has | Eq | Ne | Contains | StartsWith | EndsWith | In | NotIn


def make_set(values: list[str] | tuple[str, ...] | set[str] | frozenset[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated set literal, as Calico stores it (byte order == code point order)."""
    return tuple(sorted(set(values)))


def canonical_of(node: Node) -> str:
    out: list[str] = []
    node.write(out)
    return "".join(out)


def walk(node: Node) -> list[Node]:
    """Every node of the tree, parents before children."""
    found: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        found.append(n)
        if isinstance(n, Not):
            stack.append(n.operand)
        elif isinstance(n, And | Or):
            stack.extend(reversed(n.operands))
    return found


def map_nodes(node: Node, fn: Callable[[Node], Node | None]) -> Node:
    """Rebuild the tree bottom-up; ``fn`` may return a replacement for a node (None keeps it).

    A replacement that yields ``!!x`` is folded to ``x``, as re-parsing the text would.
    """
    if isinstance(node, Not):
        inner = map_nodes(node.operand, fn)
        if isinstance(inner, Not):
            return inner.operand
        rebuilt: Node = Not(inner)
    elif isinstance(node, And):
        rebuilt = And(tuple(map_nodes(op, fn) for op in node.operands))
    elif isinstance(node, Or):
        rebuilt = Or(tuple(map_nodes(op, fn) for op in node.operands))
    else:
        rebuilt = node
    replaced = fn(rebuilt)
    return rebuilt if replaced is None else replaced


def unique_id_for(canonical: str) -> str:
    """Felix's ``hash.MakeUniqueID("s", canonical)``: ``s:`` + unpadded base64url(SHA-224)."""
    digest = hashlib.sha224(("s:" + canonical).encode()).digest()
    return "s:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class Selector:
    """A parsed selector: the root node plus cached canonical text and ID.

    Equality is structural (on ``root``), so two spellings of the same selector compare equal.
    """

    root: Node

    def evaluate(self, labels: Mapping[str, str]) -> bool:
        """True when ``labels`` match (runs a compiled predicate, built on first use)."""
        return self._matcher(labels)

    @cached_property
    def _matcher(self) -> Callable[[Mapping[str, str]], bool]:
        from calico.selector.compile import compile_predicate  # compile imports this module

        return compile_predicate(self.root)

    @cached_property
    def _canonical(self) -> str:
        return canonical_of(self.root)

    @cached_property
    def _unique_id(self) -> str:
        return unique_id_for(self._canonical)

    @cached_property
    def _label_keys(self) -> frozenset[str]:
        return frozenset(
            n.label
            for n in walk(self.root)
            if isinstance(n, Has | Eq | Ne | Contains | StartsWith | EndsWith | In | NotIn)
        )

    def canonical(self) -> str:
        return self._canonical

    def unique_id(self) -> str:
        return self._unique_id

    def label_keys(self) -> frozenset[str]:
        """Names of every label the selector reads (for label indexes)."""
        return self._label_keys

    def is_all(self) -> bool:
        return isinstance(self.root, All)

    def uses_global(self) -> bool:
        return any(isinstance(n, Global) for n in walk(self.root))

    def __str__(self) -> str:
        return self._canonical

    def __reduce__(self) -> tuple[type[Selector], tuple[Node]]:
        # Pickle only the tree; the cached text, ID and compiled predicate are rebuilt on demand.
        return (Selector, (self.root,))
