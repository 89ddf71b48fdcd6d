"""Polling waits and processes that are always stopped by PID (lab, demo and tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(cond: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``cond`` until it returns a truthy value; raise AssertionError on the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            result = cond()
            if result:
                return result
        except Exception as exc:  # the condition may raise while things settle
            last_exc = exc
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout}s waiting for {what or getattr(cond, '__name__', 'condition')}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, the process (and its process group if it leads one)."""
    if proc.poll() is not None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    sig_target: Callable[[int], None]
    if pgid == proc.pid:
        def sig_target(sig: int) -> None:
            os.killpg(pgid, sig)
    else:
        def sig_target(sig: int) -> None:
            os.kill(proc.pid, sig)
    try:
        sig_target(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            sig_target(signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
