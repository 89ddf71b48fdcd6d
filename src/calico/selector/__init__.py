"""Calico's selector language: parse text to an immutable tree, evaluate it against labels,
print it canonically and derive the stable ID Felix uses to name IP sets.

    >>> sel = parse_selector("role == 'db' && !has(test)")
    >>> sel.evaluate({"role": "db"}), sel.canonical()
    (True, '(role == "db" && !has(test))')
"""

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
)
from calico.selector.errors import SelectorError
from calico.selector.parser import is_valid_label_key, parse_selector, validate_selector
from calico.selector.transform import (
    NAMESPACE_LABEL,
    NAMESPACE_LABEL_PREFIX,
    SERVICE_ACCOUNT_LABEL,
    SERVICE_ACCOUNT_LABEL_PREFIX,
    and_selectors,
    entity_rule_selector,
    namespace_selector_to_label_selector,
    policy_selector,
    prefix_labels,
    service_account_selector_to_label_selector,
    service_accounts_selector,
)

__all__ = [
    "NAMESPACE_LABEL",
    "NAMESPACE_LABEL_PREFIX",
    "SERVICE_ACCOUNT_LABEL",
    "SERVICE_ACCOUNT_LABEL_PREFIX",
    "All",
    "And",
    "Contains",
    "EndsWith",
    "Eq",
    "Global",
    "Has",
    "In",
    "Ne",
    "Node",
    "Not",
    "NotIn",
    "Or",
    "Selector",
    "SelectorError",
    "StartsWith",
    "and_selectors",
    "entity_rule_selector",
    "is_valid_label_key",
    "namespace_selector_to_label_selector",
    "parse_selector",
    "policy_selector",
    "prefix_labels",
    "service_account_selector_to_label_selector",
    "service_accounts_selector",
    "validate_selector",
]
