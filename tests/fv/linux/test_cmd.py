"""The command runner: results, errors carrying stderr, timeouts, namespaces."""

from __future__ import annotations

import asyncio

import pytest

from calico.linux import cmd
from tests.support.netns import Netns


def test_run_returns_output_and_raises_with_stderr() -> None:
    assert cmd.run(["cat"], input="hello").stdout == "hello"
    with pytest.raises(cmd.CommandError, match=r"sh failed \(exit status 3\): boom"):
        cmd.run(["sh", "-c", "echo boom >&2; exit 3"])
    assert cmd.run(["sh", "-c", "exit 1"], check=False).returncode == 1
    with pytest.raises(cmd.CommandError, match="not found"):
        cmd.run(["no-such-binary-xyz"])


def test_timeouts_sync_and_async() -> None:
    with pytest.raises(cmd.CommandError, match="timed out"):
        cmd.run(["sleep", "5"], timeout=0.2)
    with pytest.raises(cmd.CommandError, match="timed out"):
        asyncio.run(cmd.run_async(["sleep", "5"], timeout=0.2))
    res = asyncio.run(cmd.run_async(["cat"], input="x"))
    assert res.stdout == "x" and res.returncode == 0


def test_runs_inside_the_namespace(ns: Netns) -> None:
    ns.run("ip", "link", "add", "dummyprobe0", "type", "veth", "peer", "name", "dummyprobe1")
    assert "dummyprobe0" in cmd.run(["ip", "-o", "link"], netns=ns.name).stdout
    assert "dummyprobe0" not in cmd.run(["ip", "-o", "link"]).stdout
