"""Reading resources from -f FILE|DIR|- : multi-document YAML, JSON, lists and arrays."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from calico.api import Resource


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FileError(Exception):
    """A file could not be read or parsed; message names the file (and document)."""


@dataclass
class Loaded:
    source: str
    resources: list[Resource]


def _files(path: str, recursive: bool) -> list[str]:
    if path == "-":
        return ["-"]
    p = Path(path)
    if p.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(str(f) for f in p.glob(pattern) if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
    if not p.exists():
        raise FileError(f"open {path}: no such file or directory")
    return [path]


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise FileError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None


def _documents(text: str, source: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError:
            pass  # YAML is a superset of JSON; let the YAML parser report the error
    try:
        return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileError(f"error parsing {_name(source)}{where}: {problem}") from None


def _name(source: str) -> str:
    return "stdin" if source == "-" else source


def load(path: str, recursive: bool = False, skip_empty: bool = False) -> list[Loaded]:
    """Parse every resource in the given file(s); raises FileError/validation errors with context."""
    from calico.api import CalicoValidationError, parse_document

    out: list[Loaded] = []
    for f in _files(path, recursive):
        docs = _documents(_read(f), f)
        resources: list[Resource] = []
        for i, doc in enumerate(docs, start=1):
            if not isinstance(doc, (dict, list)):
                raise FileError(f"{_name(f)}: document {i}: expected a resource, a list or an array")
            items = doc if isinstance(doc, list) else [doc]
            for item in items:
                if not isinstance(item, dict):
                    raise FileError(f"{_name(f)}: document {i}: expected a resource mapping")
                try:
                    resources.extend(parse_document(item))
                except CalicoValidationError as exc:
                    meta_obj = item.get("metadata")
                    meta: dict[str, Any] = meta_obj if isinstance(meta_obj, dict) else {}
                    name = meta.get("name") or meta.get("cidr") or meta.get("peerIP") or ""
                    kind = str(item.get("kind") or "resource")
                    exc.kind = kind  # type: ignore[attr-defined]
                    exc.source = (f"{_name(f)}, document {i}"  # type: ignore[attr-defined]
                                  + (f", {kind}({name})" if name else ""))
                    raise
        if not resources and not skip_empty:
            raise FileError(f"No resources specified in file {_name(f)}")
        out.append(Loaded(f, resources))
    if not out and path != "-" and os.path.isdir(path) and not skip_empty:
        raise FileError(f"No resources specified in file {path}")
    return out
