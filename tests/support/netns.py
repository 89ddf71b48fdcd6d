"""Network namespaces for tests: per-run prefix, always deleted."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

RUN_PREFIX = f"cpt{os.getpid() % 100000}-"


def sh(*argv: str, check: bool = True, input: str | None = None,
       timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, input=input, timeout=timeout)


class Netns:
    """One network namespace created by a test (loopback up)."""

    def __init__(self, name: str) -> None:
        self.name = RUN_PREFIX + name
        sh("ip", "netns", "add", self.name)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *argv: str, check: bool = True, input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name, *argv, check=check, input=input, timeout=timeout)

    def popen_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def delete(self) -> None:
        sh("ip", "netns", "delete", self.name, check=False)

    def __repr__(self) -> str:
        return f"Netns({self.name})"


def veth(a: Netns, a_if: str, b: Netns, b_if: str) -> None:
    """A veth pair with one end in each namespace, both up."""
    tmp_a, tmp_b = f"t{os.getpid() % 10000}a{a_if}"[:15], f"t{os.getpid() % 10000}b{b_if}"[:15]
    sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
    sh("ip", "link", "set", tmp_a, "netns", a.name)
    sh("ip", "link", "set", tmp_b, "netns", b.name)
    a.run("ip", "link", "set", tmp_a, "name", a_if)
    b.run("ip", "link", "set", tmp_b, "name", b_if)
    a.run("ip", "link", "set", a_if, "up")
    b.run("ip", "link", "set", b_if, "up")


def cleanup_run_namespaces() -> None:
    """Delete every namespace this run created (by prefix), even after a failure."""
    out = sh("ip", "netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(RUN_PREFIX):
            sh("ip", "netns", "delete", name, check=False)
