"""The selector package is pure: no I/O, clocks, randomness or processes."""

from __future__ import annotations

import ast
from pathlib import Path

import calico.selector

FORBIDDEN = {"asyncio", "subprocess", "os", "time", "random", "pyroute2", "socket", "threading"}


def test_selector_package_imports_nothing_impure() -> None:
    root = Path(calico.selector.__file__).parent
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
