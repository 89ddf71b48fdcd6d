"""Start-of-day kernel reads started early, consumed by the first apply.

Why: reading the kernel back (``iptables-save -t <table>``, ``ipset save``) does not depend on the
datastore, yet each read used to run inside the first apply, on its critical path. Felix knows
which reads it will need as soon as its boot configuration is loaded, so it starts them then, one
after another from a background thread (a subprocess at a time: on the other core, not competing
with Felix's own single-threaded start-up) while Felix imports, connects and computes; the first
apply takes each output instead of running the command.

Each output lands in an anonymous in-memory file (``memfd``), not a pipe, so a large table is
read to the end at once even though nobody reads it until later. A result is used at most once
and only by the first read of its driver; later reads (refreshes, retries) run the command afresh.
A read that failed is simply not used: the driver runs the command itself and reports the error.
Nor is one older than ``MAX_AGE`` seconds when taken (Felix waited long for the datastore): the
kernel may have changed since, so the driver reads it afresh.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Sequence
from concurrent import futures

from calico.linux import cmd

log = logging.getLogger(__name__)

_Key = tuple[tuple[str, ...], str | None]
MAX_AGE = 5.0  # seconds: a start-of-day read older than this is not used


class ReadAhead:
    """Outputs of read-only commands started ahead of time, each taken at most once.

    The commands run one after another in one background thread, so at most one of them competes
    with Felix's own (single-threaded, CPU-bound) start-up for the machine's cores.
    """

    def __init__(self) -> None:
        self._pool = futures.ThreadPoolExecutor(1, thread_name_prefix="felix-readahead")
        self._pending: dict[_Key, list[futures.Future[tuple[int, int, float]]]] = {}

    def start(self, argv: Sequence[str], netns: str | None = None) -> None:
        """Queue ``argv`` (run in ``netns`` if given); its output waits for :meth:`take`."""
        future = self._pool.submit(_run, cmd.netns_argv(argv, netns))
        self._pending.setdefault((tuple(argv), netns), []).append(future)

    def take(self, argv: Sequence[str], netns: str | None = None, timeout: float = cmd.DEFAULT_TIMEOUT) -> str | None:
        """The output of a read started for exactly this command, or None (not started, or failed)."""
        pending = self._pending.get((tuple(argv), netns))
        if not pending:
            return None
        future = pending.pop(0)
        try:
            rc, fd, finished = future.result(timeout)
        except (futures.TimeoutError, OSError) as exc:
            log.debug("Read-ahead of %s unusable (%s); reading again", argv[0], exc)
            future.add_done_callback(_discard)
            return None
        try:
            if rc != 0:
                log.debug("Read-ahead of %s failed (exit %d); reading again", argv[0], rc)
                return None
            if time.monotonic() - finished > MAX_AGE:
                log.debug("Read-ahead of %s is %.0fs old; reading again", argv[0], time.monotonic() - finished)
                return None
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0).decode(errors="replace")
        finally:
            os.close(fd)

    def wait(self, timeout: float | None = None) -> None:
        """Block until every queued read has finished (tests; Felix just takes what it needs)."""
        futures.wait([f for pending in self._pending.values() for f in pending], timeout)

    def close(self) -> None:
        """Drop every read nobody took (e.g. IPv6 reads when IPv6 turned out disabled)."""
        for pending in self._pending.values():
            for future in pending:
                if not future.cancel():
                    future.add_done_callback(_discard)
        self._pending.clear()
        self._pool.shutdown(wait=False)

    @property
    def pending(self) -> int:
        return sum(len(p) for p in self._pending.values())


def _run(argv: list[str]) -> tuple[int, int, float]:
    """Run one read with its output in an anonymous in-memory file: (exit code, that file, when done)."""
    fd = os.memfd_create("felix-readahead", os.MFD_CLOEXEC)
    try:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.DEVNULL,
                            timeout=cmd.DEFAULT_TIMEOUT, check=False).returncode
    except BaseException:
        os.close(fd)
        raise
    return rc, fd, time.monotonic()


def _discard(future: futures.Future[tuple[int, int, float]]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.close(future.result()[1])


def start_of_day(ip_versions: Sequence[int], iptables_backend: str, netns: str | None = None) -> ReadAhead:
    """Start every read the first apply will make: each table's ``iptables-save`` per IP version
    and one ``ipset save`` per IP version (each family's driver reads all sets)."""
    from calico.linux.ipsets import IPSets
    from calico.linux.iptables import TABLES, binaries

    ahead = ReadAhead()
    for _v in ip_versions:
        ahead.start(IPSets.SAVE_ARGV, netns)
    for v in ip_versions:
        save = binaries(v, iptables_backend)[1]
        for table in TABLES:
            ahead.start([save, "-t", table], netns)
    return ahead
