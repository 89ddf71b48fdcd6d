"""iptables Table driver: desired cali- chains and kernel-chain hooks -> iptables-restore deltas.

One Table per (table, IP version). Callers set desired chains and the jump rules Calico puts into
kernel chains; nothing touches the kernel until :meth:`Table.apply`, which writes ONE
``iptables-restore --noflush`` transaction holding only what differs from the kernel:

* chains whose hash list differs are rewritten as flush (``:name - -``) + append, the safe form
  for the nft backend (felix.md §2.10), so unchanged chains keep their counters;
* kernel chains (INPUT, FORWARD, ...) whose Calico rules are not exactly ours in the right place
  get our rules deleted by value and re-inserted (insert mode) / appended;
* cali- chains we no longer want are deleted last, after references to them are gone.

The kernel is read back (``iptables-save -t <table>``) at the first apply, after a failure and
when :meth:`refresh` is called (or ``refresh_interval`` passed), never on every apply; the first
read may come from a :class:`~calico.linux.readahead.ReadAhead` started at process start. Only
chains with an owned prefix and rules carrying a ``cali:`` hash comment are ever changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from calico.felix.rules.model import Chain, Rule
from calico.linux import cmd
from calico.linux.delta import DeltaTracker
from calico.linux.iptables_text import (
    SavedChain,
    SavedTable,
    SaveParseError,
    append_hashes,
    chain_hashes,
    insert_hashes,
    kernel_chain_in_sync,
    parse_save,
    rule_spec,
    rule_targets,
)
from calico.linux.readahead import ReadAhead

log = logging.getLogger(__name__)

TABLES = ("raw", "mangle", "nat", "filter")
OWNED_PREFIXES = ("cali-",)
HISTORIC_PREFIXES = ("felix-",)


class IptablesError(Exception):
    """iptables could not be programmed after all retries; the daemon should exit non-zero."""


@dataclass(slots=True)
class TableStats:
    """Plain counters a daemon can export (Prometheus names in felix.md §4.7)."""

    restore_calls: int = 0
    restore_errors: int = 0
    save_calls: int = 0
    save_errors: int = 0
    lines_executed: int = 0
    applies: int = 0
    last_apply_seconds: float = 0.0
    last_apply_time: float = 0.0
    chains: int = 0
    rules: int = 0


def binaries(ip_version: int, backend: str) -> tuple[str, str]:
    base = "iptables" if ip_version == 4 else "ip6tables"
    if backend in ("nft", "legacy"):
        return f"{base}-{backend}-restore", f"{base}-{backend}-save"
    return f"{base}-restore", f"{base}-save"


class Table:
    """Desired state of one iptables table and the code that makes the kernel match it."""

    def __init__(self, name: str, ip_version: int = 4, *, netns: str | None = None,
                 insert_mode: str = "insert", backend: str = "auto", max_retries: int = 10,
                 initial_backoff: float = 0.001, save_retries: int = 3, lock_timeout: float = 10.0,
                 refresh_interval: float | None = None, post_write_check_interval: float | None = None,
                 owned_prefixes: Sequence[str] = OWNED_PREFIXES,
                 sleep: Callable[[float], None] = time.sleep, readahead: ReadAhead | None = None) -> None:
        if name not in TABLES:
            raise ValueError(f"unknown iptables table {name!r} (expected one of {', '.join(TABLES)})")
        if ip_version not in (4, 6):
            raise ValueError(f"ip_version must be 4 or 6, not {ip_version!r}")
        if insert_mode not in ("insert", "append"):
            raise ValueError(f"insert_mode must be 'insert' or 'append', not {insert_mode!r}")
        self.name = name
        self.ip_version = ip_version
        self.netns = netns
        self.insert_mode = insert_mode
        self.restore_cmd, self.save_cmd = binaries(ip_version, backend)
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.save_retries = save_retries
        self.lock_timeout = lock_timeout
        self.refresh_interval = refresh_interval
        self.post_write_check_interval = post_write_check_interval
        self._check_at: float | None = None
        self._check_gap = post_write_check_interval or 0.0
        self.owned_prefixes = tuple(owned_prefixes) + HISTORIC_PREFIXES
        self._sleep = sleep
        self._readahead = readahead  # the first read-back only
        self.stats = TableStats()
        # Owned chains: chain name -> tuple of rule hashes.
        self._chains: DeltaTracker[str, tuple[str, ...]] = DeltaTracker()
        self._chain_rules: dict[str, tuple[Rule, ...]] = {}
        # Kernel chains: desired inserts/appends (rules + hashes) and what the kernel holds.
        self._inserts: dict[str, tuple[tuple[Rule, ...], tuple[str, ...]]] = {}
        self._appends: dict[str, tuple[tuple[Rule, ...], tuple[str, ...]]] = {}
        self._kernel: SavedTable = SavedTable()
        self._dirty_kernel: set[str] = set()
        self._foreign_refs: set[str] = set()
        self._refs: dict[str, int] = {}  # chain -> number of desired rules jumping to it
        self._needs_read = True
        self._last_read = 0.0

    # --- desired state (no I/O) ---------------------------------------------------------
    def update_chain(self, chain: Chain) -> None:
        rules = tuple(chain.rules)
        if self._chain_rules.get(chain.name) == rules:
            return  # unchanged: skip re-hashing (callers often re-send every chain)
        self._check_owned(chain.name)
        self._count_refs(self._chain_rules.get(chain.name, ()), -1)
        self._chain_rules[chain.name] = rules
        self._count_refs(rules, +1)
        self._chains.set_desired(chain.name, chain_hashes(chain))

    def update_chains(self, chains: Iterable[Chain]) -> None:
        for chain in chains:
            self.update_chain(chain)

    def remove_chain(self, name: str) -> None:
        self._count_refs(self._chain_rules.pop(name, ()), -1)
        self._chains.delete_desired(name)

    def remove_chains(self, names: Iterable[str]) -> None:
        for name in names:
            self.remove_chain(name)

    def set_rule_inserts(self, kernel_chain: str, rules: Sequence[Rule]) -> None:
        """Calico's hook rules in a kernel chain, placed per ``insert_mode`` (top or bottom)."""
        if self._inserts.get(kernel_chain, ((), ()))[0] == tuple(rules):
            return
        self._set_kernel_rules(self._inserts, kernel_chain, tuple(rules),
                               insert_hashes(kernel_chain, rules))

    def set_rule_appends(self, kernel_chain: str, rules: Sequence[Rule]) -> None:
        """Rules always appended at the end of a kernel chain (FORWARD tail, nat POSTROUTING)."""
        if self._appends.get(kernel_chain, ((), ()))[0] == tuple(rules):
            return
        self._set_kernel_rules(self._appends, kernel_chain, tuple(rules),
                               append_hashes(kernel_chain, rules))

    def desired_chain_names(self) -> set[str]:
        return set(self._chain_rules)

    def get_chain(self, name: str) -> Chain | None:
        rules = self._chain_rules.get(name)
        return Chain(name, rules) if rules is not None else None

    def refresh(self) -> None:
        """Read the kernel back at the next apply and repair whatever drifted."""
        self._needs_read = True

    @property
    def next_check_due(self) -> float | None:
        """``time.monotonic()`` value at which the next apply should re-read the kernel (post-write
        checks at 1x, 2x, 4x... ``post_write_check_interval`` after a write), or None."""
        return self._check_at

    @property
    def in_sync(self) -> bool:
        return not self._needs_read and self._chains.in_sync and not self._dirty_kernel

    # --- apply ----------------------------------------------------------------------------
    def apply(self) -> bool:
        """Make the kernel match; returns True if anything was written. Raises IptablesError
        after ``max_retries`` consecutive failures (the state stays dirty)."""
        start = time.monotonic()
        if self.refresh_interval is not None and start - self._last_read > self.refresh_interval:
            self._needs_read = True
        if self._check_at is not None and start >= self._check_at:
            # Post-write check (felix.md §2.10): catch another process clobbering our writes.
            self._needs_read = True
            self._check_gap = min(self._check_gap * 2, 3600.0)
            self._check_at = start + self._check_gap
        backoff = self.initial_backoff
        last_error: Exception | None = None
        for attempt in range(1, self.max_retries + 1):
            try:
                if self._needs_read:
                    self._load_dataplane()
                wrote = self._write_deltas()
            except cmd.CommandError as exc:
                last_error = exc
                self._needs_read = True
                log.warning("iptables %s (IPv%d) update failed (attempt %d/%d): %s", self.name,
                            self.ip_version, attempt, self.max_retries, exc)
                self._sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            self.stats.applies += 1
            self.stats.last_apply_seconds = time.monotonic() - start
            self.stats.last_apply_time = time.time()
            if self.stats.last_apply_seconds > 1.0:
                log.warning("Updating iptables %s took %.2fs", self.name, self.stats.last_apply_seconds)
            return wrote
        raise IptablesError(f"iptables table {self.name} (IPv{self.ip_version}) could not be programmed "
                            f"after {self.max_retries} attempts: {last_error}")

    async def apply_async(self) -> bool:
        return await asyncio.to_thread(self.apply)

    # --- internals --------------------------------------------------------------------------
    def _check_owned(self, name: str) -> None:
        if not self._owned(name):
            raise ValueError(f"chain {name!r} is not a Calico chain (must start with "
                             f"{' or '.join(self.owned_prefixes[:-len(HISTORIC_PREFIXES)])})")
        if len(name) > 28:
            raise ValueError(f"chain name {name!r} is longer than 28 characters")

    def _count_refs(self, rules: Iterable[Rule], delta: int) -> None:
        for rule in rules:
            for target in rule_targets(rule.action):
                if self._owned(target):
                    n = self._refs.get(target, 0) + delta
                    if n > 0:
                        self._refs[target] = n
                    else:
                        self._refs.pop(target, None)

    def _deletable(self, name: str) -> bool:
        """A stale chain can go unless a foreign rule or one of our desired rules still jumps to it."""
        return name not in self._foreign_refs and name not in self._refs

    def _owned(self, name: str) -> bool:
        return name.startswith(self.owned_prefixes)

    def _set_kernel_rules(self, store: dict[str, tuple[tuple[Rule, ...], tuple[str, ...]]],
                          kernel_chain: str, rules: tuple[Rule, ...], hashes: tuple[str, ...]) -> None:
        if self._owned(kernel_chain):
            raise ValueError(f"{kernel_chain!r} is a Calico chain; use update_chain for it")
        old = store.get(kernel_chain)
        self._count_refs(old[0] if old else (), -1)
        self._count_refs(rules, +1)
        if rules:
            store[kernel_chain] = (rules, hashes)
        else:
            store.pop(kernel_chain, None)
        if old is None or old[1] != hashes:
            self._dirty_kernel.add(kernel_chain)

    def _kernel_in_sync(self, chain: str) -> bool:
        return kernel_chain_in_sync(self._kernel.chains.get(chain), self._inserts.get(chain, ((), ()))[1],
                                    self._appends.get(chain, ((), ()))[1], self.insert_mode)

    def save_argv(self) -> list[str]:
        return [self.save_cmd, "-t", self.name]

    def _save(self) -> str:
        if self._readahead is not None:
            ahead, self._readahead = self._readahead, None
            text = ahead.take(self.save_argv(), self.netns)
            if text is not None:
                self.stats.save_calls += 1
                return text
        backoff = 0.1
        for attempt in range(1, self.save_retries + 1):
            self.stats.save_calls += 1
            try:
                return cmd.run(self.save_argv(), netns=self.netns).stdout
            except cmd.CommandError as exc:
                self.stats.save_errors += 1
                log.warning("%s -t %s failed (attempt %d): %s", self.save_cmd, self.name, attempt, exc)
                if attempt == self.save_retries:
                    raise IptablesError(f"{self.save_cmd} -t {self.name} failed {attempt} times: {exc}") \
                        from exc
                self._sleep(backoff)
                backoff *= 2
        raise AssertionError("unreachable")

    def _load_dataplane(self) -> None:
        """Read the table back and work out what differs (felix.md §2.10 loadDataplaneState)."""
        text = self._save()
        try:
            saved = parse_save(text, self.name)
        except SaveParseError as exc:
            raise IptablesError(str(exc)) from exc
        owned: dict[str, tuple[str, ...]] = {}
        foreign_refs: set[str] = set()
        for name, chain in saved.chains.items():
            if self._owned(name):
                owned[name] = tuple(chain.hashes)
            else:
                for h, spec in zip(chain.hashes, chain.specs, strict=True):
                    if not h:
                        foreign_refs.update(t for t in rule_targets(spec) if self._owned(t))
        self._chains.replace_all_dataplane(owned)
        self._kernel = saved
        self._foreign_refs = foreign_refs
        self._dirty_kernel = {name for name in set(self._inserts) | set(self._appends) | {
            n for n, c in saved.chains.items() if not self._owned(n) and any(c.hashes)}
            if not self._kernel_in_sync(name)}
        for name in self._chains.pending_deletions():
            if name in foreign_refs:
                log.warning("Not deleting stale chain %s: a non-Calico rule still references it", name)
            elif name in self._refs:
                log.warning("Not deleting chain %s: a desired Calico rule still references it", name)
        self._needs_read = False
        self._last_read = time.monotonic()
        self._update_gauges()
        stale = [n for n in self._chains.pending_deletions() if self._deletable(n)]
        log.info("Read back iptables %s (IPv%d): %d Calico chains, %d to rewrite, %d stale, "
                 "%d kernel chains to fix", self.name, self.ip_version, len(owned),
                 len(self._chains.pending_updates()), len(stale), len(self._dirty_kernel))

    def _write_deltas(self) -> bool:
        rewrites = sorted(self._chains.pending_updates())
        deletions = sorted(n for n in self._chains.pending_deletions() if self._deletable(n))
        kernel_fixes = sorted(c for c in self._dirty_kernel if not self._kernel_in_sync(c))
        if not rewrites and not deletions and not kernel_fixes:
            self._dirty_kernel.clear()
            return False
        lines = [f"*{self.name}"]
        lines.extend(f":{name} - -" for name, _ in rewrites)
        lines.extend(f":{name} - -" for name in deletions)
        for name, hashes in rewrites:
            for rule, h in zip(self._chain_rules[name], hashes, strict=True):
                lines.append(f"-A {name} {rule_spec(rule, h)}")
        new_kernel: dict[str, tuple[list[str], list[str]]] = {}
        for chain in kernel_fixes:
            saved = self._kernel.chains.get(chain)
            if saved is not None:
                lines.extend(f"-D {chain} {spec}" for spec in saved.calico_specs())
            new_kernel[chain] = self._render_kernel_chain(chain, saved, lines)
        lines.extend(f"-X {name}" for name in deletions)
        lines.append("COMMIT")
        text = "\n".join(lines) + "\n"
        self.stats.restore_calls += 1
        try:
            cmd.run([self.restore_cmd, "--noflush", "--wait", str(int(self.lock_timeout))], input=text,
                    netns=self.netns)
        except cmd.CommandError:
            self.stats.restore_errors += 1
            raise
        self.stats.lines_executed += len(lines)
        # Success: the kernel now holds what we wrote.
        for name, hashes in rewrites:
            self._chains.set_dataplane(name, hashes)
        for name in deletions:
            self._chains.delete_dataplane(name)
            self._kernel.chains.pop(name, None)
        for chain, (k_hashes, k_specs) in new_kernel.items():
            saved = self._kernel.chains.setdefault(chain, SavedChain(chain))
            saved.hashes, saved.specs = k_hashes, k_specs
        self._dirty_kernel.clear()
        self._update_gauges()
        if self.post_write_check_interval:
            self._check_gap = self.post_write_check_interval
            self._check_at = time.monotonic() + self._check_gap
        log.info("iptables %s (IPv%d): rewrote %d chains, deleted %d, fixed %d kernel chains (%d lines)",
                 self.name, self.ip_version, len(rewrites), len(deletions), len(kernel_fixes), len(lines))
        return True

    def _render_kernel_chain(self, chain: str, saved: SavedChain | None,
                             lines: list[str]) -> tuple[list[str], list[str]]:
        """Append restore lines for our rules in ``chain``; return the chain's resulting model."""
        foreign = [(h, s) for h, s in zip(saved.hashes, saved.specs, strict=True) if not h] if saved else []
        ins_rules, ins_hashes = self._inserts.get(chain, ((), ()))
        app_rules, app_hashes = self._appends.get(chain, ((), ()))
        ins_specs = [rule_spec(r, h) for r, h in zip(ins_rules, ins_hashes, strict=True)]
        app_specs = [rule_spec(r, h) for r, h in zip(app_rules, app_hashes, strict=True)]
        if self.insert_mode == "insert":
            lines.extend(f"-I {chain} 1 {spec}" for spec in reversed(ins_specs))
            model = list(zip(ins_hashes, ins_specs, strict=True)) + foreign
        else:
            lines.extend(f"-A {chain} {spec}" for spec in ins_specs)
            model = foreign + list(zip(ins_hashes, ins_specs, strict=True))
        lines.extend(f"-A {chain} {spec}" for spec in app_specs)
        model += list(zip(app_hashes, app_specs, strict=True))
        return [h for h, _ in model], [s for _, s in model]

    def _update_gauges(self) -> None:
        self.stats.chains = len(self._chain_rules)
        self.stats.rules = sum(len(r) for r in self._chain_rules.values()) + sum(
            len(v[0]) for v in self._inserts.values()) + sum(len(v[0]) for v in self._appends.values())

