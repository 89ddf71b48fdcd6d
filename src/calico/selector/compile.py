"""Compile a selector tree into one Python predicate, for fast repeated evaluation.

Felix evaluates every active selector against every endpoint whose labels change, so evaluation
is the hot path.  A generated ``lambda L: ...`` runs several times faster than walking the tree.
Only ``repr()`` of strings and generated names reach the source text, so no selector content
can be executed as code.  Trees too deep for the Python compiler fall back to tree walking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
    StartsWith,
)

Predicate = Callable[[Mapping[str, str]], bool]


class _Emitter:
    def __init__(self) -> None:
        self.consts: dict[str, frozenset[str]] = {}

    def const(self, values: frozenset[str]) -> str:
        name = f"_s{len(self.consts)}"
        self.consts[name] = values
        return name

    def expr(self, node: Node) -> str:
        if isinstance(node, All | Global):
            return "True"
        if isinstance(node, Has):
            return f"({node.label!r} in L)"
        if isinstance(node, Eq):
            return f"(L.get({node.label!r}) == {node.value!r})"
        if isinstance(node, Ne):
            return f"(L.get({node.label!r}) != {node.value!r})"
        if isinstance(node, Contains):
            return f"((_v := L.get({node.label!r})) is not None and {node.value!r} in _v)"
        if isinstance(node, StartsWith):
            return f"((_v := L.get({node.label!r})) is not None and _v.startswith({node.value!r}))"
        if isinstance(node, EndsWith):
            return f"((_v := L.get({node.label!r})) is not None and _v.endswith({node.value!r}))"
        if isinstance(node, In):
            return f"(L.get({node.label!r}) in {self.const(node.lookup)})"
        if isinstance(node, NotIn):
            return f"(L.get({node.label!r}) not in {self.const(node.lookup)})"
        if isinstance(node, Not):
            return f"(not {self.expr(node.operand)})"
        if isinstance(node, And):
            return "(" + " and ".join(self.expr(op) for op in node.operands) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.expr(op) for op in node.operands) + ")"
        raise TypeError(f"not a selector node: {node!r}")


def compile_predicate(node: Node) -> Predicate:
    """A function equivalent to ``node.evaluate``, generated as Python code when possible."""
    if isinstance(node, All | Global):
        return _always
    emitter = _Emitter()
    try:
        source = f"lambda L: {emitter.expr(node)}"
        fn = eval(compile(source, "<selector>", "eval"), {"__builtins__": {}, **emitter.consts})
    except (RecursionError, SyntaxError, MemoryError):
        return node.evaluate
    result: Predicate = fn
    return result


def _always(labels: Mapping[str, str]) -> bool:
    return True
