"""calico.common.jsonlite gives exactly what the json package gives."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calico.common import jsonlite

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@given(values)
def test_dumps_matches_json(value: object) -> None:
    assert jsonlite.dumps(value) == json.dumps(value)
    assert jsonlite.dumps(value, separators=(",", ":")) == json.dumps(value, separators=(",", ":"))
    assert jsonlite.dumps(value, indent=1) == json.dumps(value, indent=1)
    assert jsonlite.dumps(value, indent=4, sort_keys=True) == json.dumps(value, indent=4, sort_keys=True)


@given(values)
def test_loads_round_trips_like_json(value: object) -> None:
    text = json.dumps(value, indent=2)
    assert jsonlite.loads(text) == json.loads(text)
    assert jsonlite.loads(text.encode()) == json.loads(text.encode())


def test_non_string_keys_and_special_floats() -> None:
    doc = {1: "a", 2.5: [], False: {}, None: [1, {"x": None}]}
    assert jsonlite.dumps(doc, indent=1) == json.dumps(doc, indent=1)
    assert jsonlite.dumps(doc) == json.dumps(doc)
    assert str(jsonlite.loads("[NaN, Infinity, -Infinity]")) == "[nan, inf, -inf]"


@pytest.mark.parametrize("text", ["", "  ", "{", "[1,]", '{"a" 1}', "1 2", '"\\x"', "\ufeff{}", "nul"])
def test_errors_are_json_decode_errors_with_json_messages(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as ours:
        jsonlite.loads(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(ours.value) == str(theirs.value)


def test_unserializable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsonlite.dumps({"a": {1}})


def test_errors_without_the_json_package_loaded() -> None:
    """The plugin never imports json; a malformed document must still give json's error."""
    import subprocess
    import sys

    code = ("import sys\nfrom calico.common import jsonlite\nassert 'json' not in sys.modules\n"
            "try:\n    jsonlite.loads('{\"a\": [1, }')\nexcept ValueError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "JSONDecodeError Expecting value: line 1 column 11 (char 10)"
