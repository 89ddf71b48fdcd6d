"""Selector rewrites for policy translation; expected texts are what libcalico-go produces."""

from __future__ import annotations

import pytest

from calico.selector import (
    SelectorError,
    and_selectors,
    entity_rule_selector,
    is_valid_label_key,
    namespace_selector_to_label_selector,
    parse_selector,
    policy_selector,
    prefix_labels,
    service_account_selector_to_label_selector,
    validate_selector,
)
from calico.selector.transform import service_accounts_selector


def canon(text: str) -> str:
    return parse_selector(text).canonical()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k == 'v'", 'visited/k == "v"'),
        ("k != 'v'", 'visited/k != "v"'),
        ("k contains 'v'", 'visited/k contains "v"'),
        ("k starts with 'v'", 'visited/k starts with "v"'),
        ("k ends with 'v'", 'visited/k ends with "v"'),
        ("k == 'v' && x == 'y'", '(visited/k == "v" && visited/x == "y")'),
        ("k == 'v' || has(x)", '(visited/k == "v" || has(visited/x))'),
        ("!(k == 'v')", '!visited/k == "v"'),
        ("k in {'v'}", 'visited/k in {"v"}'),
        ("k not in {'v'}", 'visited/k not in {"v"}'),
        (
            "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
            '!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})',
        ),
        ("global()", "global()"),
    ],
)
def test_prefix_labels(text: str, expected: str) -> None:
    sel = prefix_labels(text, "visited/")
    assert sel.canonical() == expected
    assert prefix_labels(parse_selector(text), "visited/") == sel


def test_prefix_labels_keeps_set_lookup_working() -> None:
    sel = prefix_labels("k in {'a', 'b'} && k2 not in {'c'}", "pcns.")
    assert sel.evaluate({"pcns.k": "b"})
    assert not sel.evaluate({"pcns.k": "b", "pcns.k2": "c"})


def test_namespace_selector_translation() -> None:
    assert namespace_selector_to_label_selector("all()").canonical() == "has(projectcalico.org/namespace)"
    assert namespace_selector_to_label_selector("global()").canonical() == "!has(projectcalico.org/namespace)"
    assert (
        namespace_selector_to_label_selector("!has(key) || (has(key) && !key in {'value'})").canonical()
        == '(!has(pcns.key) || (has(pcns.key) && !pcns.key in {"value"}))'
    )
    assert (
        namespace_selector_to_label_selector("projectcalico.org/name == 'prod'").canonical()
        == 'pcns.projectcalico.org/name == "prod"'
    )
    # "!global()" becomes "!!has(...)" textually in Calico, which re-parses to "has(...)".
    assert namespace_selector_to_label_selector("!global()").canonical() == "has(projectcalico.org/namespace)"
    assert prefix_labels("!!has(a)", "p.").canonical() == "has(p.a)"
    ns = namespace_selector_to_label_selector("env == 'prod'")
    assert ns.evaluate({"pcns.env": "prod", "projectcalico.org/namespace": "a"})
    assert not ns.evaluate({"env": "prod"})


def test_service_account_selector_translation() -> None:
    sa = service_account_selector_to_label_selector
    assert sa("all()").canonical() == "has(projectcalico.org/serviceaccount)"
    assert sa("role == 'db'").canonical() == 'pcsa.role == "db"'
    assert service_accounts_selector(["sa2", "sa1"], "key == 'v'") == parse_selector(
        '(pcsa.key == "v") && (projectcalico.org/serviceaccount in {"sa1", "sa2"})'
    )
    assert service_accounts_selector() is None


def test_and_selectors_keeps_nesting() -> None:
    ab = and_selectors("a == 'x' && b == 'y'", "c == 'z'")
    assert ab.canonical() == '((a == "x" && b == "y") && c == "z")'
    assert ab == parse_selector("(a == 'x' && b == 'y') && (c == 'z')")
    assert and_selectors("has(a)").canonical() == "has(a)"
    three = and_selectors("has(a)", parse_selector("has(b)"), "has(c)")
    assert three.canonical() == "(has(a) && has(b) && has(c))"
    assert three.evaluate({"a": "", "b": "", "c": ""})
    assert not three.evaluate({"a": "", "b": ""})
    with pytest.raises(ValueError):
        and_selectors()


# (selector, namespace, namespaceSelector, serviceAccountSelector) -> Calico's v1 selector text.
POLICY_CASES = [
    (("", "ns1", "", ""), "projectcalico.org/namespace == 'ns1'"),
    (("has(a)", "ns1", "", ""), "(has(a)) && projectcalico.org/namespace == 'ns1'"),
    (("has(a)", "ns1", "", "role == 'x'"), "((has(a)) && projectcalico.org/namespace == 'ns1') && pcsa.role == 'x'"),
    (("has(a)", "", "", ""), "has(a)"),
    (("", "", "", ""), "all()"),
    (("has(a)", "", "env == 'prod'", ""), "(has(a)) && pcns.env == 'prod'"),
    (("", "", "all()", ""), "has(projectcalico.org/namespace)"),
    (("all()", "", "env == 'prod'", ""), "(has(projectcalico.org/namespace)) && pcns.env == 'prod'"),
    (("", "", "", "all()"), "has(projectcalico.org/serviceaccount)"),
    (
        ("has(a)", "", "all()", "x == 'y'"),
        "((has(a)) && has(projectcalico.org/namespace)) && pcsa.x == 'y'",
    ),
]


@pytest.mark.parametrize(("args", "expected"), POLICY_CASES)
def test_policy_selector(args: tuple[str, str, str, str], expected: str) -> None:
    selector, namespace, ns_sel, sa_sel = args
    got = policy_selector(selector, namespace=namespace, namespace_selector=ns_sel, service_account_selector=sa_sel)
    assert got.canonical() == canon(expected)
    assert got.unique_id() == parse_selector(expected).unique_id()


def test_entity_rule_selector_matches_calico() -> None:
    # Namespaced policy, plain selector: confined to the policy's namespace.
    got = entity_rule_selector(selector="mylabel == 'value1'", policy_namespace="namespace2")
    assert got == parse_selector("(projectcalico.org/namespace == 'namespace2') && (mylabel == 'value1')")
    # notSelector alone still scopes the rule to the namespace.
    got = entity_rule_selector(not_selector="has(label2)", policy_namespace="namespace2")
    assert got == parse_selector("projectcalico.org/namespace == 'namespace2'")
    # Nothing at all: no selector.
    assert entity_rule_selector(policy_namespace="ns") is None
    assert entity_rule_selector() is None
    # namespaceSelector replaces the namespace scoping.
    got = entity_rule_selector(namespace_selector="namespacelabel1 == 'value1'")
    assert got is not None and got.canonical() == 'pcns.namespacelabel1 == "value1"'
    got = entity_rule_selector(
        selector="projectcalico.org/orchestrator == 'k8s'", namespace_selector="key == 'value'", policy_namespace="ns"
    )
    assert got == parse_selector("(pcns.key == \"value\") && (projectcalico.org/orchestrator == 'k8s')")
    got = entity_rule_selector(namespace_selector="global()", selector="role == 'x'")
    assert got == parse_selector("(!has(projectcalico.org/namespace)) && (role == 'x')")
    # Service accounts: names become a set, AND-ed with the pcsa. selector.
    got = entity_rule_selector(
        service_account_names=["sa1", "sa2"], service_account_selector="key == 'value1'", policy_namespace="namespace"
    )
    assert got == parse_selector(
        "(projectcalico.org/namespace == 'namespace') && "
        '((pcsa.key == "value1") && (projectcalico.org/serviceaccount in {"sa1", "sa2"}))'
    )
    got = entity_rule_selector(
        namespace_selector="nskey == 'nsvalue'",
        service_account_names=["sa3"],
        service_account_selector="key == 'value2'",
        selector="has(x)",
    )
    assert got == parse_selector(
        '(pcns.nskey == "nsvalue") && (((pcsa.key == "value2") && '
        '(projectcalico.org/serviceaccount in {"sa3"})) && (has(x)))'
    )


def test_validate_selector() -> None:
    assert validate_selector("a == 'b'") is None
    assert validate_selector("") is None
    assert validate_selector("global()", allow_global=True) is None
    with pytest.raises(SelectorError) as info:
        validate_selector("has(a) || global()")
    assert info.value.reason == "global() is not allowed here"
    assert info.value.position == 10
    with pytest.raises(SelectorError) as info:
        validate_selector("a == ", allow_global=True)
    assert info.value.reason == "expected string"


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("a", True),
        ("projectcalico.org/namespace", True),
        ("k" * 512, True),
        ("k" * 513, False),
        ("", False),
        ("a b", False),
        ("a:b", False),
        ("é", False),
    ],
)
def test_is_valid_label_key(key: str, ok: bool) -> None:
    assert is_valid_label_key(key) is ok
