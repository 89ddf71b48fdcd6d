"""Runs calico-node's children (Felix, the BGP agent, BIRD) and keeps them running.

Each child is a plain subprocess sharing calico-node's stdout/stderr (so its log file). A child
that exits is restarted with exponential back-off (reset once it has stayed up a while). BIRD
is started only once the agent has written its first configuration; a restarted BIRD (or one whose
predecessor left routes in the kernel) gets ``-R`` so the restart is a graceful-restart recovery:
its peers and its own kernel keep forwarding meanwhile.
SIGTERM/SIGINT stop every child (SIGTERM, then SIGKILL) before calico-node exits.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from calico.node.paths import NodePaths

log = logging.getLogger("calico.node.supervisor")

MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 30.0


@dataclass
class Child:
    """One supervised program."""

    name: str
    argv_fn: Callable[[bool], Sequence[str]]  # restarted? -> argv
    ready: Callable[[], bool] = lambda: True  # start only when this holds
    env: dict[str, str] | None = None  # None: inherit calico-node's environment
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    backoff: float = MIN_BACKOFF
    started_at: float = 0.0
    stopping: bool = field(default=False)


def felix_argv() -> list[str] | None:
    """How to run Felix here, or None when it is not installed."""
    exe = shutil.which("calico-felix") or os.path.join(os.path.dirname(sys.executable), "calico-felix")
    if importlib.util.find_spec("calico.felix.daemon") is None:
        return None
    if os.path.exists(exe):
        return [exe]
    return [sys.executable, "-m", "calico.felix.daemon"]


def kernel_has_bird_routes() -> bool:
    """True when an earlier BIRD left (persisted) routes in this namespace's kernel."""
    import subprocess

    for family in ("-4", "-6"):
        try:
            out = subprocess.run(["ip", family, "route", "show", "proto", "bird"], capture_output=True,
                                 text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return False
        if out.strip():
            return True
    return False


def felix_env(env: Mapping[str, str], node_name: str, paths: NodePaths) -> dict[str, str]:
    """Felix's environment: this node's name and per-host paths unless the user set them."""
    out = dict(env)
    out.setdefault("FELIX_FELIXHOSTNAME", node_name)
    out.setdefault("FELIX_LOGFILEPATH", "none")  # Felix's log goes to calico-node's log
    out.setdefault("FELIX_ENDPOINTSTATUSPATHPREFIX", str(paths.run_dir))
    out.setdefault("PYTHONUNBUFFERED", "1")
    return out


def bird_argv(paths: NodePaths, binary: str = "bird", recover: bool = True) -> list[str]:
    """BIRD in the foreground; ``-R`` (graceful-restart recovery) when it replaces an earlier BIRD.

    A first start skips ``-R``: recovery would hold kernel updates until every peer sent
    End-of-RIB (up to BIRD's 240 s wait), which only helps when routes survived a previous run.
    """
    argv = [binary, "-f", "-c", str(paths.bird_config), "-s", str(paths.bird_socket),
            "-P", str(paths.bird_pidfile)]
    if recover:
        argv.insert(2, "-R")
    return argv


class Supervisor:
    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def _spawn(self, child: Child) -> None:
        argv = list(child.argv_fn(child.restarts > 0))
        child.proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL, env=child.env)
        child.started_at = time.monotonic()
        log.info("Started %s (pid %d): %s", child.name, child.proc.pid, " ".join(argv))

    async def _run_child(self, child: Child) -> None:
        while not self._stop.is_set():
            while not child.ready():
                if self._stop.is_set():
                    return
                await asyncio.sleep(0.05)
            try:
                await self._spawn(child)
            except OSError as exc:
                log.error("Could not start %s: %s", child.name, exc)
            else:
                assert child.proc is not None
                rc = await child.proc.wait()
                if self._stop.is_set():
                    return
                uptime = time.monotonic() - child.started_at
                log.error("%s (pid %d) exited with code %s after %.1fs", child.name, child.proc.pid, rc, uptime)
                if uptime > HEALTHY_AFTER:
                    child.backoff = MIN_BACKOFF
            child.restarts += 1
            log.info("Restarting %s in %.1fs", child.name, child.backoff)
            try:
                await asyncio.wait_for(self._stop.wait(), child.backoff)
                return
            except TimeoutError:
                pass
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    async def _terminate(self, child: Child) -> None:
        proc = child.proc
        if proc is None or proc.returncode is not None:
            return
        try:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 5)
        except ProcessLookupError:
            return
        except TimeoutError:
            log.warning("%s did not stop on SIGTERM; killing it", child.name)
            proc.kill()
            await proc.wait()
        log.info("Stopped %s", child.name)

    async def run(self, on_started: Callable[[], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        tasks = [asyncio.create_task(self._run_child(c), name=c.name) for c in self.children]
        if on_started is not None:
            on_started()
        await self._stop.wait()
        log.info("Shutting down: stopping %d children", len(self.children))
        for child in reversed(self.children):
            await self._terminate(child)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
