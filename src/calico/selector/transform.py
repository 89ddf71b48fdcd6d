"""Selector rewrites used when Felix turns v3 policy into what it matches on.

These follow libcalico-go's v3 -> v1 policy conversion so the combined selectors, and hence the
canonical text and IP set IDs, come out as Calico's would:

* a namespaceSelector is matched against the ``pcns.``-prefixed namespace labels that each
  endpoint inherits; ``all()`` there means "any namespaced endpoint" and ``global()`` "only
  non-namespaced things" (host endpoints, global network sets);
* a serviceAccountSelector likewise uses ``pcsa.`` labels;
* ``A && B`` built from two selectors keeps each side as its own node, exactly as parsing
  ``(A) && (B)`` would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

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
    Selector,
    StartsWith,
    make_set,
    map_nodes,
)
from calico.selector.parser import parse_selector

NAMESPACE_LABEL = "projectcalico.org/namespace"
SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount"
NAMESPACE_LABEL_PREFIX = "pcns."
SERVICE_ACCOUNT_LABEL_PREFIX = "pcsa."

SelectorLike = Selector | str


def _sel(s: SelectorLike) -> Selector:
    return s if isinstance(s, Selector) else parse_selector(s)


def prefix_labels(sel: SelectorLike, prefix: str) -> Selector:
    """Rewrite every label name in ``sel`` as ``prefix + name`` (Calico's PrefixVisitor)."""

    def rename(node: Node) -> Node | None:
        if isinstance(node, Has | Eq | Ne | Contains | StartsWith | EndsWith | In | NotIn):
            return dataclasses.replace(node, label=prefix + node.label)
        return None

    return Selector(map_nodes(_sel(sel).root, rename))


def and_selectors(*sels: SelectorLike) -> Selector:
    """``(s1) && (s2) && ...`` as one And node; a single selector is returned as is.

    Operands are not flattened: nesting must match what Calico builds textually, because the
    canonical text (and so the IP set name) depends on it.  To get Calico's ``((a) && b) && c``
    call ``and_selectors(and_selectors(a, b), c)``.
    """
    if not sels:
        raise ValueError("and_selectors needs at least one selector")
    roots = tuple(_sel(s).root for s in sels)
    return Selector(roots[0]) if len(roots) == 1 else Selector(And(roots))


def _replace_all_global(sel: Selector, label: str, replace_global: bool = True) -> Selector:
    def swap(node: Node) -> Node | None:
        if isinstance(node, All):
            return Has(label)
        if replace_global and isinstance(node, Global):
            return Not(Has(label))
        return None

    return Selector(map_nodes(sel.root, swap))


def namespace_selector_to_label_selector(text: SelectorLike) -> Selector:
    """A namespaceSelector as a selector over endpoint labels.

    Labels get the ``pcns.`` prefix; ``all()`` becomes ``has(projectcalico.org/namespace)`` and
    ``global()`` becomes ``!has(projectcalico.org/namespace)``.
    """
    return _replace_all_global(prefix_labels(text, NAMESPACE_LABEL_PREFIX), NAMESPACE_LABEL)


def service_account_selector_to_label_selector(text: SelectorLike) -> Selector:
    """A serviceAccountSelector over endpoint labels: ``pcsa.`` prefix, ``all()`` -> has(SA label)."""
    return _replace_all_global(prefix_labels(text, SERVICE_ACCOUNT_LABEL_PREFIX), SERVICE_ACCOUNT_LABEL)


def _namespace_is(namespace: str) -> Node:
    return Eq(NAMESPACE_LABEL, namespace)


def _and_append(current: Node | None, extra: Node) -> Node:
    # Calico's prefixAndAppendSelector: "(current) && extra", or just extra.
    return extra if current is None else And((current, extra))


def policy_selector(
    selector: str,
    namespace: str = "",
    namespace_selector: str = "",
    service_account_selector: str = "",
) -> Selector:
    """The endpoint selector of a (Global)NetworkPolicy as Felix applies it.

    NetworkPolicy in namespace N: ``(S) && projectcalico.org/namespace == "N"``, then
    ``(...) && <pcns.-prefixed serviceAccountSelector>``.  GlobalNetworkPolicy:
    ``(S) && <pcns. namespaceSelector>`` with every ``all()`` in the result replaced by
    ``has(projectcalico.org/namespace)``, then likewise for the serviceAccountSelector with
    ``pcsa.`` and ``has(projectcalico.org/serviceaccount)``.  (Calico does the ``all()``
    replacement on the whole combined text; it is reproduced on the tree.)
    """
    node: Node | None = parse_selector(selector).root if selector else None
    if namespace:
        node = _and_append(node, _namespace_is(namespace))
        if service_account_selector:
            node = _and_append(node, prefix_labels(service_account_selector, SERVICE_ACCOUNT_LABEL_PREFIX).root)
        return Selector(node)
    if namespace_selector:
        node = _and_append(node, prefix_labels(namespace_selector, NAMESPACE_LABEL_PREFIX).root)
        node = _replace_all_global(Selector(node), NAMESPACE_LABEL, replace_global=False).root
    if service_account_selector:
        node = _and_append(node, prefix_labels(service_account_selector, SERVICE_ACCOUNT_LABEL_PREFIX).root)
        node = _replace_all_global(Selector(node), SERVICE_ACCOUNT_LABEL, replace_global=False).root
    return Selector(All() if node is None else node)


def service_accounts_selector(names: Sequence[str] = (), selector: str = "") -> Selector | None:
    """An EntityRule's serviceAccounts match: ``(pcsa. selector) && (SA label in {names})``."""
    parts: list[Node] = []
    if selector:
        parts.append(prefix_labels(selector, SERVICE_ACCOUNT_LABEL_PREFIX).root)
    if names:
        parts.append(In(SERVICE_ACCOUNT_LABEL, make_set(list(names))))
    if not parts:
        return None
    return Selector(parts[0] if len(parts) == 1 else And(tuple(parts)))


def entity_rule_selector(
    selector: str = "",
    namespace_selector: str = "",
    not_selector: str = "",
    service_account_names: Sequence[str] = (),
    service_account_selector: str = "",
    policy_namespace: str = "",
) -> Selector | None:
    """The selector a rule's source/destination matches, or None when it has no selector part.

    Mirrors Calico: the namespace part is the ``pcns.`` namespaceSelector, else (in a namespaced
    policy) ``projectcalico.org/namespace == "N"``; it is applied as soon as any selector field
    (even notSelector alone) is used.  notSelector itself is not namespaced and is returned
    separately by the caller.
    """
    ns_node: Node | None = None
    if namespace_selector:
        ns_node = namespace_selector_to_label_selector(namespace_selector).root
    elif policy_namespace:
        ns_node = _namespace_is(policy_namespace)

    parts: list[Node] = []
    sa = service_accounts_selector(service_account_names, service_account_selector)
    if sa is not None:
        parts.append(sa.root)
    if selector:
        parts.append(parse_selector(selector).root)
    sel_node: Node | None = None
    if parts:
        sel_node = parts[0] if len(parts) == 1 else And(tuple(parts))

    if ns_node is not None and (sel_node is not None or not_selector or namespace_selector):
        sel_node = ns_node if sel_node is None else And((ns_node, sel_node))
    return None if sel_node is None else Selector(sel_node)
