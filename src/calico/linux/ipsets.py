"""IPSets driver: desired cali40/cali60 sets -> one ``ipset restore`` session per apply.

Two phases so iptables never references a missing set (felix.md §3): ``apply_updates()`` creates
sets and applies member deltas *before* the iptables tables are written; ``apply_deletions()``
destroys unwanted sets *after* iptables stopped referencing them. A set whose type or maxelem
changed is rebuilt under a temporary name and swapped in atomically. ``ipset save`` is read back
at the first apply and on :meth:`IPSets.refresh`, to repair drift (a removed member, a missing set)
and to find stale sets of a previous run; sets without our prefix are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from calico.linux import cmd
from calico.linux.ipset_text import (
    DEFAULT_MAX_SIZE,
    MAX_NAME_LEN,
    SET_TYPES,
    SavedSet,
    canonical_member,
    parse_ipset_save,
)
from calico.linux.readahead import ReadAhead

log = logging.getLogger(__name__)


class IPSetError(Exception):
    """ipset could not be programmed; the message carries ipset's own error text."""


@dataclass(frozen=True, slots=True)
class IPSetMetadata:
    name: str
    set_type: str = "hash:net"
    max_size: int = DEFAULT_MAX_SIZE


@dataclass(slots=True)
class IPSetStats:
    calls: int = 0
    errors: int = 0
    lines_executed: int = 0
    save_calls: int = 0
    sets: int = 0
    members: int = 0
    last_apply_seconds: float = 0.0


class IPSets:
    """All Calico IP sets of one IP version in one network namespace."""

    SAVE_ARGV = ("ipset", "save")

    def __init__(self, ip_version: int = 4, *, netns: str | None = None, retries: int = 3,
                 readahead: ReadAhead | None = None) -> None:
        if ip_version not in (4, 6):
            raise ValueError(f"ip_version must be 4 or 6, not {ip_version!r}")
        self.ip_version = ip_version
        self.netns = netns
        self.family = "inet" if ip_version == 4 else "inet6"
        self.prefix = f"cali{ip_version}"
        self.retries = retries
        self._readahead = readahead  # the first read-back only
        self.stats = IPSetStats()
        self._meta: dict[str, IPSetMetadata] = {}
        self._members: dict[str, set[str]] = {}
        self._dp: dict[str, SavedSet] = {}
        self._dirty: set[str] = set()
        self._needs_read = True
        self._temp_counter = 0

    # --- desired state (no I/O) ---------------------------------------------------------
    def add_or_replace_ipset(self, meta: IPSetMetadata, members: Iterable[str]) -> None:
        self._check(meta)
        self._meta[meta.name] = meta
        self._members[meta.name] = {canonical_member(meta.set_type, self.ip_version, m) for m in members}
        self._dirty.add(meta.name)

    def _known(self, name: str) -> IPSetMetadata:
        meta = self._meta.get(name)
        if meta is None:
            raise ValueError(f"ipset {name!r} is not desired (call add_or_replace_ipset first)")
        return meta

    def add_members(self, name: str, members: Iterable[str]) -> None:
        meta = self._known(name)
        self._members[name].update(canonical_member(meta.set_type, self.ip_version, m) for m in members)
        self._dirty.add(name)

    def remove_members(self, name: str, members: Iterable[str]) -> None:
        meta = self._known(name)
        self._members[name].difference_update(
            canonical_member(meta.set_type, self.ip_version, m) for m in members)
        self._dirty.add(name)

    def remove_ipset(self, name: str) -> None:
        self._meta.pop(name, None)
        self._members.pop(name, None)
        self._dirty.discard(name)

    def members(self, name: str) -> frozenset[str]:
        return frozenset(self._members.get(name, ()))

    def desired_names(self) -> set[str]:
        return set(self._meta)

    def refresh(self) -> None:
        """Read the kernel back at the next apply and repair any drift."""
        self._needs_read = True

    @property
    def pending_deletions(self) -> list[str]:
        return sorted(n for n in self._dp if n not in self._meta)

    # --- apply ------------------------------------------------------------------------------
    def apply_updates(self) -> bool:
        """Create/update sets (before iptables references them). Returns True if it wrote."""
        start = time.monotonic()
        last: cmd.CommandError | None = None
        for attempt in range(1, self.retries + 1):
            try:
                if self._needs_read:
                    self._load_dataplane()
                wrote = self._write_updates()
                self.stats.last_apply_seconds = time.monotonic() - start
                return wrote
            except cmd.CommandError as exc:
                last = exc
                self.stats.errors += 1
                self._needs_read = True
                log.warning("ipset restore (IPv%d) failed, attempt %d/%d: %s", self.ip_version, attempt,
                            self.retries, exc)
        raise IPSetError(f"ipset updates (IPv{self.ip_version}) failed {self.retries} times: {last}")

    def apply_deletions(self) -> bool:
        """Destroy sets no longer wanted (after iptables stopped using them)."""
        doomed = self.pending_deletions
        if not doomed:
            return False
        try:
            self._restore([f"destroy {n}" for n in doomed])
            for name in doomed:
                self._dp.pop(name, None)
        except cmd.CommandError:
            # One at a time so a set still in use does not block the others.
            for name in doomed:
                try:
                    self._restore([f"destroy {name}"])
                    self._dp.pop(name, None)
                except cmd.CommandError as exc:
                    self.stats.errors += 1
                    log.warning("Could not destroy ipset %s (will retry): %s", name, exc)
        self._update_gauges()
        log.info("Destroyed ipsets: %s", ", ".join(n for n in doomed if n not in self._dp) or "none")
        return True

    async def apply_updates_async(self) -> bool:
        return await asyncio.to_thread(self.apply_updates)

    async def apply_deletions_async(self) -> bool:
        return await asyncio.to_thread(self.apply_deletions)

    # --- internals ------------------------------------------------------------------------
    def _check(self, meta: IPSetMetadata) -> None:
        if not meta.name.startswith(self.prefix):
            raise ValueError(f"ipset name {meta.name!r} must start with {self.prefix!r}")
        if len(meta.name) > MAX_NAME_LEN:
            raise ValueError(f"ipset name {meta.name!r} is longer than {MAX_NAME_LEN} characters")
        if meta.set_type not in SET_TYPES:
            raise ValueError(f"ipset type {meta.set_type!r} not one of {', '.join(SET_TYPES)}")

    def _restore(self, lines: list[str]) -> None:
        self.stats.calls += 1
        cmd.run(["ipset", "-exist", "restore"], input="\n".join(lines) + "\n", netns=self.netns)
        self.stats.lines_executed += len(lines)

    def _load_dataplane(self) -> None:
        self.stats.save_calls += 1
        ahead, self._readahead = self._readahead, None
        text = ahead.take(self.SAVE_ARGV, self.netns) if ahead is not None else None
        if text is None:
            text = cmd.run(list(self.SAVE_ARGV), netns=self.netns).stdout
        self._dp = parse_ipset_save(text, (self.prefix,))
        self._dirty = set(self._meta)
        self._needs_read = False
        stale = self.pending_deletions
        log.info("Read back ipsets (IPv%d): %d Calico sets in the kernel, %d stale", self.ip_version,
                 len(self._dp), len(stale))

    def _matches_meta(self, saved: SavedSet, meta: IPSetMetadata) -> bool:
        return (saved.set_type == meta.set_type and saved.family == self.family
                and saved.max_size == meta.max_size)

    def _create_line(self, name: str, meta: IPSetMetadata) -> str:
        return f"create {name} {meta.set_type} family {self.family} maxelem {meta.max_size}"

    def _temp_name(self) -> str:
        while True:
            self._temp_counter += 1
            name = f"{self.prefix}t{self._temp_counter}"
            if name not in self._dp and name not in self._meta:
                return name

    def _write_updates(self) -> bool:
        lines: list[str] = []
        results: dict[str, SavedSet] = {}
        swaps = creates = 0
        recreates: list[str] = []
        for name in sorted(self._dirty):
            meta = self._meta.get(name)
            if meta is None:
                continue
            want = self._members[name]
            saved = self._dp.get(name)
            if saved is None:
                creates += 1
                lines.append(self._create_line(name, meta))
                lines.extend(f"add {name} {m}" for m in want)
            elif saved.set_type != meta.set_type or saved.family != self.family:
                recreates.append(name)  # swap needs identical types: destroy and create instead
                continue
            elif not self._matches_meta(saved, meta):
                swaps += 1
                temp = self._temp_name()
                lines.append(self._create_line(temp, meta))
                lines.extend(f"add {temp} {m}" for m in want)
                lines.append(f"swap {name} {temp}")
                lines.append(f"destroy {temp}")
                log.info("Rebuilding ipset %s via %s and swap (type/maxelem changed)", name, temp)
            else:
                if saved.members == want:
                    continue
                lines.extend(f"del {name} {m}" for m in saved.members - want)
                lines.extend(f"add {name} {m}" for m in want - saved.members)
            results[name] = SavedSet(name, meta.set_type, self.family, meta.max_size, set(want))
        if lines:
            self._restore(lines)
        # The kernel now holds exactly the desired members of every dirty set.
        for name, saved in results.items():
            self._dp[name] = saved
        self._dirty.clear()
        recreated = [name for name in recreates if self._recreate(name)]
        self._update_gauges()
        if lines:
            log.info("ipset restore (IPv%d): %d lines, %d sets created, %d swapped, %d updated",
                     self.ip_version, len(lines), creates, swaps, len(results) - creates - swaps)
        return bool(lines) or bool(recreated)

    def _recreate(self, name: str) -> bool:
        """Replace a set whose type changed; only possible once nothing references it."""
        meta = self._meta[name]
        want = self._members[name]
        lines = [f"destroy {name}", self._create_line(name, meta), *(f"add {name} {m}" for m in want)]
        try:
            self._restore(lines)
        except cmd.CommandError as exc:
            self.stats.errors += 1
            self._dirty.add(name)
            log.error("ipset %s must change type to %s but cannot be destroyed yet (will retry): %s",
                      name, meta.set_type, exc)
            return False
        self._dp[name] = SavedSet(name, meta.set_type, self.family, meta.max_size, set(want))
        log.info("Recreated ipset %s as %s", name, meta.set_type)
        return True

    def _update_gauges(self) -> None:
        self.stats.sets = len(self._meta)
        self.stats.members = sum(len(m) for m in self._members.values())
