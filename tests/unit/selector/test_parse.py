"""Parsing, evaluation, canonical text and IDs, checked against Calico's own expectations."""

from __future__ import annotations

import pytest

from calico.selector import SelectorError, parse_selector

# (selector, labels that match, labels that don't) -- cases from Calico's parser tests.
EVAL_CASES: list[tuple[str, list[dict[str, str]], list[dict[str, str]]]] = [
    ('a == "b"', [{"a": "b"}, {"a": "b", "c": "d"}], [{}, {"a": "c"}, {"c": "d"}]),
    ('a == "b" && c == "d"', [{"a": "b", "c": "d"}], [{}, {"a": "b", "c": "e"}, {"a": "b"}]),
    ('a == "b" || c == "d"', [{"a": "b"}, {"c": "d"}], [{}, {"a": "e", "c": "e"}]),
    ('a in {"\'", \'"\', "c"}', [{"a": "c"}, {"a": '"'}, {"a": "'"}], [{}, {"a": "e"}]),
    ('a not in {"\'", \'"\', "c"}', [{}, {"a": "e"}], [{"a": "c"}, {"a": '"'}, {"a": "'"}]),
    ("a != 'b'", [{"a": "a"}, {}], [{"a": "b"}]),
    ('a contains "a"', [{"a": "a"}, {"a": "bab"}], [{}, {"a": "b"}, {"b": "aaa"}]),
    ('a starts with "a"', [{"a": "a"}, {"a": "abb"}], [{}, {"a": "baa"}, {"b": "aaa"}]),
    ('a ends with "a"', [{"a": "bba"}], [{}, {"a": "aab"}, {"b": "aaa"}]),
    ('a in {"a", "b"}', [{"a": "a"}, {"a": "b"}], [{}, {"a": "c"}]),
    ("a in {}", [], [{}, {"a": ""}]),
    ("a not in {}", [{}, {"a": ""}], []),
    ('!a in {"a"}', [{"a": "b"}, {}], [{"a": "a"}]),
    ("has(a)", [{"a": "b"}, {"a": ""}], [{}, {"b": "a"}]),
    ("!has(a)", [{"b": "b"}], [{"a": ""}]),
    ("", [{}, {"a": "b"}], []),
    (" ", [{}], []),
    ("all()", [{}, {"a": "b"}], []),
    ("global()", [{}, {"a": "b"}], []),
    ("!!has(b)", [{"b": ""}], [{"a": "b"}]),
    ("!!! has(a)", [{}], [{"a": "b"}]),
    ("!! ! has(a)", [{}], [{"a": "b"}]),
    ("a != 'a1' && !b == 'b1'", [{}], [{"a": "a1", "b": "b1"}]),
    ("!(!has(a) || has(b))", [{"a": "a"}], [{}, {"a": "a", "b": ""}]),
    ("a == 'a1' || b != 'b1'", [{"a": "a1", "b": "b1"}, {}], [{"a": "x", "b": "b1"}]),
    ("! a == 'a1' || ! b == 'b1'", [{}], [{"a": "a1", "b": "b1"}]),
    # Precedence: ! binds tighter than &&, which binds tighter than ||.
    ("has(a) || has(b) && has(c)", [{"a": ""}, {"b": "", "c": ""}], [{"b": ""}, {}]),
    ("(has(a) || has(b)) && has(c)", [{"a": "", "c": ""}], [{"a": ""}, {"c": ""}]),
    ("!has(a) && has(b)", [{"b": ""}], [{"a": "", "b": ""}]),
    # Values may hold anything but their own quote, including newlines and non-ASCII.
    ('a == "x\ny"', [{"a": "x\ny"}], [{"a": "xy"}]),
    ("a == 'Grüße'", [{"a": "Grüße"}], [{"a": "Gruesse"}]),
    ("k8s-app.io/name_x == 'v'", [{"k8s-app.io/name_x": "v"}], [{}]),
]


@pytest.mark.parametrize(("text", "matches", "non_matches"), EVAL_CASES)
def test_evaluate(text: str, matches: list[dict[str, str]], non_matches: list[dict[str, str]]) -> None:
    sel = parse_selector(text)
    again = parse_selector(sel.canonical())
    for labels in matches:
        assert sel.evaluate(labels), labels
        assert again.evaluate(labels), labels
    for labels in non_matches:
        assert not sel.evaluate(labels), labels
        assert not again.evaluate(labels), labels


CANONICAL_CASES = [
    ("", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    (" all() ", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    (" (all() )", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    ("! (has( b)||! has(a ))", "!(has(b) || !has(a))", "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q"),
    ('! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")', "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w"),
]


@pytest.mark.parametrize(("text", "canonical", "uid"), CANONICAL_CASES)
def test_canonical_and_unique_id_match_calico(text: str, canonical: str, uid: str) -> None:
    sel = parse_selector(text)
    assert sel.canonical() == canonical
    assert str(sel) == canonical
    assert sel.unique_id() == uid
    assert parse_selector(canonical).unique_id() == uid


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('a == "\'"', 'a == "\'"'),
        ("a == '\"'", "a == '\"'"),
        ("a contains '\"'", "a contains '\"'"),
        ("a startswith '\"'", "a starts with '\"'"),
        ('a endswith "\'"', 'a ends with "\'"'),
        ("a!='\"'", "a != '\"'"),
        ("a in {'d', 'a', 'b'}", 'a in {"a", "b", "d"}'),
        ('a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}'),
        ("a not in {}", "a not in {}"),
        ("a notin{'x',}", 'a not in {"x"}'),
        ("a   starts \t with 'x'", 'a starts with "x"'),
        ("x == 'a' && y == 'b' && z == 'c'", '(x == "a" && y == "b" && z == "c")'),
        ("(x == 'a' && y == 'b') && z == 'c'", '((x == "a" && y == "b") && z == "c")'),
        ("a == 'x' || b == 'y' && c == 'z'", '(a == "x" || (b == "y" && c == "z"))'),
        ("!(k == 'v')", '!k == "v"'),
        ("!!(k == 'v')", 'k == "v"'),
        ("has(a) && all() || global()", "((has(a) && all()) || global())"),
        ("contains contains 'contains'", 'contains contains "contains"'),
        ("in in {'in'}", 'in in {"in"}'),
        ("has == 'x'", 'has == "x"'),
        ("all == 'x' && global != 'y'", '(all == "x" && global != "y")'),
    ],
)
def test_canonical_form(text: str, canonical: str) -> None:
    sel = parse_selector(text)
    assert sel.canonical() == canonical
    assert parse_selector(canonical).canonical() == canonical
    assert parse_selector(canonical) == sel


# Calico's bad selectors, each with the reason and position we report.
ERROR_CASES = [
    ("b == b", "expected string", 5),
    ("b contains b", "expected string", 11),
    # As in Calico, a two-word operator needs a word break after any following spaces too.
    ("b starts with b", 'expected operator after label "b"', 2),
    ("b ends with b", 'expected operator after label "b"', 2),
    ("'b1' == b", "unexpected token string 'b1'", 0),
    ("b", "unexpected end of string looking for op", 1),
    ("a ", "unexpected end of string looking for op", 2),
    ("a b", 'expected operator after label "a"', 2),
    ("!", "unexpected end of selector", 1),
    ('foo == "bar" &', "expected &&", 13),
    ('foo == "bar" |', "expected ||", 13),
    ("foo != ||", "expected string", 7),
    ('foo in {"", ||', "expected }", 12),
    ('foo in ""', "expected set literal", 7),
    ('"FOO', "unterminated string", 0),
    ("\"FOO'", "unterminated string", 0),
    ("'FOO", "unterminated string", 0),
    ("a == 'x", "unterminated string", 5),
    ("(", "unexpected end of selector", 1),
    ('(a == "foo"', "expected )", 11),
    (")", 'unexpected token ")"', 0),
    ("()", 'unexpected token ")"', 1),
    ("%", "expected identifier", 0),
    ('a == "b" && %', "expected identifier", 12),
    ('a == "b" || %', "expected identifier", 12),
    ("has(foo) &&", "unexpected end of selector", 11),
    ('a = "b"', "expected ==", 2),
    ("a === 'b'", "expected ==", 4),
    ('a == "b" )', "unexpected content at end of selector", 9),
    ('a == "b" c == "d"', "unexpected content at end of selector", 9),
    ("has(a", "no closing ')' after has(", 5),
    ("has(a b)", "no closing ')' after has(", 6),
    ("has()", "expected identifier", 4),
    ("all(x)", "no closing ')' after all(", 4),
    ("global( ", "no closing ')' after global(", 8),
    ("has (a)", 'expected operator after label "has"', 4),
    ("a inx {}", 'expected operator after label "a"', 2),
    ("a containsx 'b'", 'expected operator after label "a"', 2),
    ("a starts withx 'b'", 'expected operator after label "a"', 2),
    ("a starts 'b'", 'expected operator after label "a"', 2),
    ("a not 'b'", 'expected operator after label "a"', 2),
    ("a && b == 'c'", 'expected operator after label "a"', 2),
    ("a == 'b' &&\nc == 'd'", "expected identifier", 11),
    ("a ==\t'b'\n", "expected identifier", 8),
    ("a in {'x' 'y'}", "expected }", 10),
    ("a in {,}", "expected }", 6),
]


@pytest.mark.parametrize(("text", "reason", "position"), ERROR_CASES)
def test_errors(text: str, reason: str, position: int) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(text)
    err = info.value
    assert (err.reason, err.position) == (reason, position)
    assert isinstance(err, ValueError)
    assert str(err).endswith(f"at position {position}: {reason}")
    assert str(err).startswith("error parsing selector ")


def test_error_message_format() -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector("role = 'db'")
    assert str(info.value) == "error parsing selector \"role = 'db'\" at position 5: expected =="


def test_label_length_limit() -> None:
    ok = "k" * 512
    assert parse_selector(f"{ok} == 'v'").evaluate({ok: "v"})
    with pytest.raises(SelectorError) as info:
        parse_selector(f"has({ok}k)")
    assert info.value.reason.startswith("label too long")
    assert info.value.position == 4


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector("(" * 5000 + "all()" + ")" * 5000)
    assert info.value.reason == "selector nested too deeply"


def test_parse_is_cached_and_selectors_are_values() -> None:
    a = parse_selector("x == 'y'")
    assert parse_selector("x == 'y'") is a
    assert parse_selector('x=="y"') == a
    assert hash(parse_selector('x=="y"')) == hash(a)
    assert len({a, parse_selector('x=="y"')}) == 1


def test_label_keys_and_is_all() -> None:
    sel = parse_selector("a == 'x' && (has(b) || c in {'1'}) && !d not in {} && e contains 'z' || all()")
    assert sel.label_keys() == {"a", "b", "c", "d", "e"}
    assert parse_selector("").is_all()
    assert parse_selector("all()").is_all()
    assert not parse_selector("global()").is_all()
    assert not parse_selector("!all()").is_all()
    assert parse_selector("global() || has(x)").uses_global()


def test_deep_selector_still_evaluates() -> None:
    # Too deep for Python's compiler (nested parentheses), so evaluation falls back to the tree.
    sel = parse_selector("!(" * 151 + "has(a)" + ")" * 151)
    assert sel.evaluate({}) is True
    assert sel.evaluate({"a": "x"}) is False


def test_compiled_values_are_data_not_code() -> None:
    nasty = "') or True or ('"
    sel = parse_selector(f'a == "{nasty}" && b in {{"__import__(\'os\')"}}')
    assert not sel.evaluate({"a": "x", "b": "y"})
    assert sel.evaluate({"a": nasty, "b": "__import__('os')"})


def test_selectors_and_errors_pickle() -> None:
    import pickle

    sel = parse_selector("a in {'x', 'y'} && !has(b)")
    assert sel.evaluate({"a": "x"})  # builds the compiled predicate first
    copy = pickle.loads(pickle.dumps(sel))
    assert copy == sel and copy.unique_id() == sel.unique_id()
    assert copy.evaluate({"a": "y"}) and not copy.evaluate({"a": "z"})
    try:
        parse_selector("a = 'b'")
    except SelectorError as err:
        again = pickle.loads(pickle.dumps(err))
        assert (again.reason, again.position, str(again)) == (err.reason, err.position, str(err))
