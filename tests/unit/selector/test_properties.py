"""Property tests: printing and parsing are inverse, canonical text is a fixed point, and the
printed form evaluates exactly like the tree it came from."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from calico.selector import (
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
    SelectorError,
    StartsWith,
    and_selectors,
    namespace_selector_to_label_selector,
    parse_selector,
    prefix_labels,
    service_account_selector_to_label_selector,
)
from calico.selector.ast import canonical_of, make_set
from calico.selector.parser import _parse_uncached

LABEL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-"
KEYWORDS = ["in", "not", "has", "all", "global", "contains", "starts", "ends", "with", "a", "b", "c.d/e"]
labels = st.one_of(st.sampled_from(KEYWORDS), st.text(LABEL_CHARS, min_size=1, max_size=12))
# A value may hold either quote character, but not both (Calico cannot print that).
values = st.one_of(
    st.sampled_from(["", "x", "xy", "yx", "'", '"', " ", "a b", "all()", "\n"]),
    st.text(max_size=8),
).filter(lambda v: not ('"' in v and "'" in v))


def _leaf() -> st.SearchStrategy[Node]:
    value_nodes = [st.builds(cls, labels, values) for cls in (Eq, Ne, Contains, StartsWith, EndsWith)]
    set_nodes = [
        st.builds(lambda k, vs, c=cls: c(k, make_set(vs)), labels, st.lists(values, max_size=4)) for cls in (In, NotIn)
    ]
    return st.one_of(st.just(All()), st.just(Global()), st.builds(Has, labels), *value_nodes, *set_nodes)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    groups = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(
        # The parser never builds Not(Not(x)): a run of ! folds.
        children.filter(lambda n: not isinstance(n, Not)).map(Not),
        groups.map(And),
        groups.map(Or),
    )


# Trees the parser can produce.
trees = st.recursive(_leaf(), _extend, max_leaves=12)
# Any tree, including double negation.
any_trees = st.recursive(_leaf(), lambda c: st.one_of(c.map(Not), _extend(c)), max_leaves=12)
label_maps = st.dictionaries(labels, values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_print_then_parse_gives_the_same_tree(tree: Node) -> None:
    text = canonical_of(tree)
    sel = _parse_uncached(text)
    assert sel.root == tree
    assert sel.canonical() == text


@settings(max_examples=300, deadline=None)
@given(any_trees)
def test_canonical_is_a_fixed_point(tree: Node) -> None:
    once = _parse_uncached(canonical_of(tree)).canonical()
    twice = _parse_uncached(once)
    assert twice.canonical() == once
    assert twice.unique_id() == _parse_uncached(once).unique_id()


@settings(max_examples=300, deadline=None)
@given(any_trees, st.lists(label_maps, min_size=1, max_size=5))
def test_printed_form_evaluates_like_the_tree(tree: Node, maps: list[dict[str, str]]) -> None:
    sel = _parse_uncached(canonical_of(tree))
    for m in maps:
        assert sel.evaluate(m) == tree.evaluate(m)
        # Also a label map built from the selector's own keys, so matches are common.
        hit = dict.fromkeys(sel.label_keys(), "x")
        assert sel.evaluate(hit) == tree.evaluate(hit)


@settings(max_examples=200, deadline=None)
@given(trees)
def test_unique_id_shape(tree: Node) -> None:
    uid = Selector(tree).unique_id()
    assert re.fullmatch(r"s:[A-Za-z0-9_-]{38}", uid)


SPACES = st.text(" \t", max_size=2)


@settings(max_examples=200, deadline=None)
@given(trees, st.data())
def test_extra_blanks_between_tokens_do_not_matter(tree: Node, data: st.DataObject) -> None:
    text = canonical_of(tree)
    # Pad around the structural characters that never occur inside labels.
    pieces = re.split(r"(&&|\|\||[(){},])", text)
    if any('"' in p or "'" in p for p in pieces):
        return  # keep string contents intact: only pad selectors without quoted values
    out: list[str] = []
    for i, p in enumerate(pieces):
        out.append(p)
        # "has(", "all(" and "global(" need the "(" straight after the word.
        if not (i + 1 < len(pieces) and pieces[i + 1] == "(" and p.endswith(("has", "all", "global"))):
            out.append(data.draw(SPACES))
    padded = "".join(out)
    assert _parse_uncached(padded).root == tree


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=LABEL_CHARS[:6] + " !&|=(){},'\"\t\ninotcaslhg", max_size=30))
def test_random_text_parses_or_raises_selector_error(text: str) -> None:
    try:
        sel = parse_selector(text)
    except SelectorError as err:
        assert 0 <= err.position <= len(text)
        assert err.reason
        return
    again = parse_selector(sel.canonical())
    assert again == sel


@settings(max_examples=200, deadline=None)
@given(any_trees, label_maps)
def test_rewrites_give_trees_the_parser_would_give(tree: Node, labels_: dict[str, str]) -> None:
    # Felix re-parses Calico's rewritten text, so a rewrite must equal the parse of its own print.
    sel = _parse_uncached(canonical_of(tree))
    for out in (
        prefix_labels(sel, "pcns."),
        namespace_selector_to_label_selector(sel),
        service_account_selector_to_label_selector(sel),
        and_selectors(sel, sel),
    ):
        assert _parse_uncached(out.canonical()) == out
    prefixed = prefix_labels(sel, "p/")
    assert prefixed.evaluate({"p/" + k: v for k, v in labels_.items()}) == sel.evaluate(labels_)
