"""Architecture rule: pure packages import no I/O, clock, randomness or kernel libraries."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "calico"
PURE = ["selector", "felix/calc", "felix/rules", "ipam/block.py", "bgp/compute.py"]
FORBIDDEN = {"asyncio", "subprocess", "os", "time", "random", "pyroute2", "socket", "threading", "aetcd", "grpc"}


def _modules() -> list[Path]:
    files: list[Path] = []
    for p in PURE:
        path = SRC / p
        if path.is_dir():
            files.extend(sorted(path.rglob("*.py")))
        elif path.exists():
            files.append(path)
    return files


def test_pure_packages_import_no_io() -> None:
    offenders = []
    for f in _modules():
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if n.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{f.relative_to(SRC)}: imports {n}")
    assert not offenders, "\n".join(offenders)
