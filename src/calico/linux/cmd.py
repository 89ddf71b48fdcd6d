"""The one place that runs external commands (iptables-restore, ipset, sysctl, conntrack, ip).

argv + optional stdin -> CmdResult, with a timeout and a CommandError carrying stderr. When a
network namespace is given the command runs inside it through ``nsenter --net`` (cheaper than
``ip netns exec``, which also remounts /sys): tests run drivers inside throwaway namespaces,
while the daemon runs in its own namespace and passes none.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_TIMEOUT = 30.0
NETNS_DIR = "/run/netns"


class CommandError(Exception):
    """A command failed (non-zero exit, timeout, or missing binary); the message names it."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stderr: str, reason: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        why = reason or f"exit status {returncode}"
        detail = stderr.strip().replace("\n", " | ")[:2000]
        super().__init__(f"{self.argv[0]} failed ({why}): {detail}" if detail else f"{self.argv[0]} failed ({why})")


@dataclass(frozen=True, slots=True)
class CmdResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def netns_argv(argv: Sequence[str], netns: str | None) -> list[str]:
    """Wrap argv so it runs in the named namespace (name under /run/netns, or a path)."""
    if not netns:
        return list(argv)
    path = netns if netns.startswith("/") else os.path.join(NETNS_DIR, netns)
    return ["nsenter", f"--net={path}", "--", *argv]


def run(argv: Sequence[str], *, input: str | None = None, netns: str | None = None,
        timeout: float = DEFAULT_TIMEOUT, check: bool = True, ok_codes: Sequence[int] = (0,)) -> CmdResult:
    """Run a command to completion; raise CommandError if it fails and ``check`` is set."""
    full = netns_argv(argv, netns)
    start = time.monotonic()
    stdin = _input_file(input) if input is not None else None
    try:
        proc = subprocess.run(full, stdin=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise CommandError(full, None, "", f"not found: {exc.filename}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(full, None, _text(exc.stderr), f"timed out after {timeout}s") from exc
    finally:
        if stdin is not None:
            os.close(stdin)
    result = CmdResult(tuple(full), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)
    if check and proc.returncode not in ok_codes:
        raise CommandError(full, proc.returncode, proc.stderr or proc.stdout)
    return result


async def run_async(argv: Sequence[str], *, input: str | None = None, netns: str | None = None,
                    timeout: float = DEFAULT_TIMEOUT, check: bool = True,
                    ok_codes: Sequence[int] = (0,)) -> CmdResult:
    """asyncio variant of :func:`run` (the process is killed on timeout or cancellation)."""
    full = netns_argv(argv, netns)
    start = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *full, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise CommandError(full, None, "", f"not found: {exc.filename}") from exc
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise CommandError(full, None, "", f"timed out after {timeout}s") from exc
    rc = proc.returncode if proc.returncode is not None else -1
    result = CmdResult(tuple(full), rc, out.decode(errors="replace"), err.decode(errors="replace"),
                       time.monotonic() - start)
    if check and rc not in ok_codes:
        raise CommandError(full, rc, result.stderr or result.stdout)
    return result


def _input_file(text: str) -> int:
    """``text`` in an anonymous in-memory file, rewound, for a child's stdin.

    Why not a pipe: ``subprocess`` feeds a pipe 512 bytes per select() round trip while holding
    the interpreter lock, ~2,000 rounds for a 1 MB iptables-restore input, all on Felix's critical
    path and competing with its other threads; from a file the child reads at its own pace.
    """
    fd = os.memfd_create("calico-cmd-input", os.MFD_CLOEXEC)
    try:
        data = text.encode()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
