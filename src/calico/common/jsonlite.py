"""``loads``/``dumps`` straight on the C accelerator ``_json``, without importing ``json``.

Why: the ``json`` package imports ``re`` (and with it ``enum``, ``functools``, ``collections``)
for one whitespace regex; in a process started per container (the CNI plugin) that is ~4 ms of
a ~30 ms run. The C scanner and encoder here are the very ones ``json.loads``/``json.dumps`` use,
so values and output text are identical (``dumps(..., indent=N)`` is rendered here in the
layout ``json`` gives). Errors are ``json.JSONDecodeError`` (a ``ValueError``), imported only
when one is raised.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed decoder context


def _error(msg: str, doc: str, pos: int) -> ValueError:
    from json import JSONDecodeError

    return JSONDecodeError(msg, doc, pos)


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads`` for UTF-8 text or bytes."""
    if isinstance(data, (bytes, bytearray)):
        if data.startswith(b"\xef\xbb\xbf"):
            data = bytes(data[3:])
        text = data.decode("utf-8")
    else:
        text = data
        if text.startswith("\ufeff"):
            raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    start = len(text) - len(text.lstrip(_WS))
    try:
        obj, end = _scan(text, start)
    except StopIteration as err:
        raise _error("Expecting value", text, err.value) from None
    except SystemError:
        # The C scanner builds its JSONDecodeError from ``json.decoder`` only if that module is
        # already loaded; without it, it fails bare. Let the json package raise the real error.
        import json

        return json.loads(text)
    rest = text[end:]
    end += len(rest) - len(rest.lstrip(_WS))
    if end != len(text):
        raise _error("Extra data", text, end)
    return obj


def _default(obj: Any) -> Any:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _encoder(item_separator: str, key_separator: str, sort_keys: bool) -> Any:
    return _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, key_separator, item_separator,
                              sort_keys, False, True)


_COMPACT = {(sep, sort): _encoder(sep[0], sep[1], sort)
            for sep in ((", ", ": "), (",", ":")) for sort in (False, True)}


def dumps(obj: Any, *, indent: int | None = None, separators: tuple[str, str] | None = None,
          sort_keys: bool = False) -> str:
    """``json.dumps`` (ASCII output, as its defaults) with ``indent``, ``separators``, ``sort_keys``."""
    if separators is None:
        separators = (",", ": ") if indent is not None else (", ", ": ")
    encode = _COMPACT.get((separators, sort_keys)) or _encoder(separators[0], separators[1], sort_keys)
    if indent is None:
        return "".join(encode(obj, 0))
    out: list[str] = []
    _indented(obj, encode, " " * indent, "\n", separators, sort_keys, out)
    return "".join(out)


def _key(key: Any, encode: Any, key_separator: str) -> str:
    if isinstance(key, str):
        return str(_json.encode_basestring_ascii(key))
    # int, float, bool and None keys become strings exactly as json writes them: let the encoder do it.
    return "".join(encode({key: None}, 0))[1:-len(key_separator) - len("null}")]


def _indented(obj: Any, encode: Any, step: str, newline: str, separators: tuple[str, str], sort_keys: bool,
              out: list[str]) -> None:
    if isinstance(obj, dict) and obj:
        inner = newline + step
        out.append("{")
        items = sorted(obj.items()) if sort_keys else obj.items()
        first = True
        for key, value in items:
            out.append(inner if first else separators[0] + inner)
            first = False
            out.append(_key(key, encode, separators[1]))
            out.append(separators[1])
            _indented(value, encode, step, inner, separators, sort_keys, out)
        out.append(newline + "}")
    elif isinstance(obj, (list, tuple)) and obj:
        inner = newline + step
        out.append("[")
        for i, value in enumerate(obj):
            out.append(inner if i == 0 else separators[0] + inner)
            _indented(value, encode, step, inner, separators, sort_keys, out)
        out.append(newline + "]")
    else:
        out.append("".join(encode(obj, 0)))
