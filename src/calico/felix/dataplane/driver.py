"""The Dataplane: managers fed by calc-graph messages and interface events, applied in one order.

``on_update(msg)`` and ``on_iface_event(ev)`` only change in-memory state (no I/O). ``apply()``
does all kernel work, always in this order (felix.md §4.5):

1. managers' deferred work (render chains, compute routes) -- pure;
2. IP sets: creates and member updates (before any rule references them);
3. interfaces, sysctls, VXLAN/IPIP devices and FDB, then routes and neighbours;
4. iptables: raw, mangle, nat, filter (one ``iptables-restore --noflush`` each, only what differs),
   all but IPv4's filter table in a thread beside it;
   3 runs in a second thread beside 2 then 4 (Go Felix applies routes in parallel too);
5. IP sets: deletions (after iptables stopped referencing them);
6. conntrack cleanup for workload IPs whose route went away.

``apply()`` is synchronous (the drivers run commands and netlink); the daemon runs it in a worker
thread while its event loop keeps receiving updates.

Start of day: the kernel reads of the first apply may come from a
:class:`~calico.linux.readahead.ReadAhead` the daemon started at process start, and
:meth:`Dataplane.start_ipsets` lets step 2 of the first apply begin (in its own thread; ``ipset
restore`` runs on another core) while the daemon is still feeding policies and endpoints, whose
chains are rendered meanwhile. ``apply()`` waits for it before any iptables write, so the order
"sets filled before rules reference them" holds exactly as before.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Protocol

from calico.felix import messages as m
from calico.felix.config import FelixConfig
from calico.felix.dataplane.context import TABLE_NAMES, DataplaneContext
from calico.felix.dataplane.endpoint_mgr import EndpointManager
from calico.felix.dataplane.hostep_mgr import HostEndpointManager
from calico.felix.dataplane.ipsets_mgr import IPSetsManager
from calico.felix.dataplane.masq_mgr import MasqManager
from calico.felix.dataplane.overlay_mgr import IPIPManager, VXLANManager
from calico.felix.dataplane.policy_mgr import PolicyManager
from calico.felix.rules.config import ProtoPort, RenderConfig
from calico.felix.rules.render import RuleRenderer
from calico.linux import cmd, ifacemon
from calico.linux.conntrack import Conntrack, ConntrackError
from calico.linux.ipsets import IPSets
from calico.linux.iptables import Table
from calico.linux.readahead import ReadAhead
from calico.linux.routes import RouteTable
from calico.linux.sysctl import SysctlError, Sysctls

log = logging.getLogger(__name__)


def render_config(cfg: FelixConfig, *, vxlan: bool = False, ipip: bool = False) -> RenderConfig:
    """RenderConfig for the rule renderer from Felix parameters."""
    return RenderConfig.with_mark_mask(
        cfg["IptablesMarkMask"],
        workload_iface_prefixes=tuple(cfg["InterfacePrefix"]),
        filter_allow_action=cfg["IptablesFilterAllowAction"],
        mangle_allow_action=cfg["IptablesMangleAllowAction"],
        filter_deny_action=cfg["IptablesFilterDenyAction"],
        default_endpoint_to_host_action=cfg["DefaultEndpointToHostAction"],
        failsafe_inbound=tuple(ProtoPort.parse(p) for p in cfg["FailsafeInboundHostPorts"]),
        failsafe_outbound=tuple(ProtoPort.parse(p) for p in cfg["FailsafeOutboundHostPorts"]),
        nat_outgoing_address=cfg["NATOutgoingAddress"],
        nat_port_range=cfg["NATPortRange"],
        nat_outgoing_interface_filter=cfg["IptablesNATOutgoingInterfaceFilter"],
        log_prefix=cfg["LogPrefix"],
        log_rate_limit=cfg["LogActionRateLimit"],
        log_rate_limit_burst=cfg["LogActionRateLimitBurst"],
        ipip_enabled=ipip,
        vxlan_enabled=vxlan,
        vxlan_port=cfg["VXLANPort"],
        chain_insert_mode=cfg["ChainInsertMode"],
        disable_conntrack_invalid_check=cfg["DisableConntrackInvalidCheck"],
        allow_vxlan_packets_from_workloads=cfg["AllowVXLANPacketsFromWorkloads"],
        allow_ipip_packets_from_workloads=cfg["AllowIPIPPacketsFromWorkloads"],
    )


@dataclass
class ApplyStats:
    applies: int = 0
    failures: int = 0
    last_apply_seconds: float = 0.0
    first_apply_seconds: float | None = None
    last_phases: dict[str, float] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)


StatusSink = Callable[[str, object, str | None], None]  # ("workload"|"host", id, status)


class Manager(Protocol):
    """What every manager implements: cheap message intake, then pure deferred work."""

    def on_update(self, msg: object) -> None: ...

    def complete_deferred_work(self) -> None: ...


class Dataplane:
    def __init__(self, cfg: FelixConfig, *, netns: str | None = None, status_sink: StatusSink | None = None,
                 readahead: ReadAhead | None = None) -> None:
        self.cfg = cfg
        self.hostname = cfg.hostname
        versions = (4, 6) if cfg["Ipv6Support"] else (4,)
        backend = cfg["IptablesBackend"]
        refresh = None  # the daemon decides when to read back (refresh_* below)
        tables = {(t, v): Table(t, v, netns=netns, insert_mode=cfg["ChainInsertMode"], backend=backend,
                                lock_timeout=cfg["IptablesLockTimeout"], refresh_interval=refresh,
                                readahead=readahead)
                  for v in versions for t in TABLE_NAMES}
        self.conntrack = Conntrack(netns)
        self._conntrack_pending: set[str] = set()
        routes = {v: RouteTable(v, netns=netns, iface_prefixes=cfg["InterfacePrefix"],
                                device_route_protocol=cfg["DeviceRouteProtocol"],
                                remove_external_routes=cfg["RemoveExternalRoutes"],
                                on_route_removed=self._conntrack_pending.add) for v in versions}
        self.ctx = DataplaneContext(
            renderer=RuleRenderer(render_config(cfg, vxlan=cfg["VXLANEnabled"], ipip=cfg["IpInIpEnabled"])),
            versions=versions, tables=tables,
            ipsets={v: IPSets(v, netns=netns, readahead=readahead) for v in versions},
            routes=routes, sysctls=Sysctls(netns), iface_prefixes=tuple(cfg["InterfacePrefix"]),
            max_ipset_size=cfg["MaxIpsetSize"], netns=netns)
        sink = status_sink or (lambda _k, _i, _s: None)
        self.ipsets_mgr = IPSetsManager(self.ctx)
        self.policy_mgr = PolicyManager(self.ctx)
        self.endpoint_mgr = EndpointManager(self.ctx, on_status=lambda i, s: sink("workload", i, s))
        self.hostep_mgr = HostEndpointManager(self.ctx, on_status=lambda i, s: sink("host", i, s))
        self.masq_mgr = MasqManager(self.ctx)
        self.vxlan_mgr = VXLANManager(self.ctx, self.hostname, forced=cfg["VXLANEnabled"], vni=cfg["VXLANVNI"],
                                      port=cfg["VXLANPort"], mtu=cfg["VXLANMTU"])
        self.ipip_mgr = IPIPManager(self.ctx, self.hostname, forced=cfg["IpInIpEnabled"],
                                    address=cfg["IpInIpTunnelAddr"], mtu=cfg["IpInIpMtu"])
        self.managers: list[Manager] = [self.ipsets_mgr, self.policy_mgr, self.endpoint_mgr, self.hostep_mgr,
                                        self.masq_mgr, self.vxlan_mgr, self.ipip_mgr]
        self.stats = ApplyStats()
        self._encap: tuple[bool, bool] | None = None
        self._hep_hooks: bool | None = None  # raw/mangle hooks wanted (a host endpoint exists)
        self._nat_post: tuple[bool, ...] | None = None  # per IP version: nat POSTROUTING hook wanted
        self._hooked: set[tuple[str, str, int]] = set()  # (table, kernel chain, version) we hook
        self._prune_hooks: set[tuple[str, str, int]] = set()  # emptied base chains to delete
        self._kernel_configured = False
        self.in_sync = False  # set after the first successful apply
        self._links_pool: futures.ThreadPoolExecutor | None = None
        self._readahead = readahead
        self._ipsets_early: futures.Future[None] | None = None
        self._v6_pool: futures.ThreadPoolExecutor | None = None

    # --- inputs (no I/O) ------------------------------------------------------------------------
    def on_update(self, msg: object) -> None:
        if self._ipsets_early is not None and isinstance(msg, _IPSET_MESSAGES):
            futures.wait([self._ipsets_early])  # the IP set drivers are busy in that thread
        name = type(msg).__name__
        self.stats.messages[name] = self.stats.messages.get(name, 0) + 1
        for mgr in self.managers:
            mgr.on_update(msg)

    def on_iface_event(self, ev: object) -> bool:
        """Record a link/address change; True if it can change the kernel state we want (an
        endpoint's or host endpoint's interface, a route's device, the VXLAN parent), so a burst of
        events for unrelated interfaces (a CNI plugin wiring a pod) costs no apply."""
        name = getattr(ev, "name", "")
        relevant = bool(name) and (name in self.endpoint_mgr._owner or bool(self.hostep_mgr.heps)
                                   or self.vxlan_mgr.enabled or self.ipip_mgr.enabled
                                   or any(rt.routes_for(name) for rt in self.ctx.routes.values()))
        if isinstance(ev, ifacemon.LinkEvent):
            if ev.present:
                self.ctx.links[ev.name] = (ev.index, ev.up)
            else:
                self.ctx.links.pop(ev.name, None)
                self.ctx.addrs.pop(ev.name, None)
            for rt in self.ctx.routes.values():
                rt.on_iface_update(ev.name, ev.index if ev.present else None, ev.up)
            self.endpoint_mgr.on_link(ev.name, ev.up, ev.present)
        elif isinstance(ev, ifacemon.AddrEvent):
            self.ctx.addrs[ev.name] = ev.addrs
        else:
            return False
        self.hostep_mgr.on_iface_change()
        self.vxlan_mgr.on_iface_change()
        return relevant

    # --- refresh (drift repair) -------------------------------------------------------------------
    def refresh_iptables(self) -> None:
        for t in self.ctx.all_tables():
            t.refresh()

    def refresh_ipsets(self) -> None:
        for s in self.ctx.ipsets.values():
            s.refresh()

    def refresh_routes(self) -> None:
        for rt in self.ctx.routes.values():
            rt.refresh()
        self.vxlan_mgr.refresh()

    # --- apply ----------------------------------------------------------------------------------
    def start_ipsets(self) -> None:
        """Begin step 2 (IP set creates and updates) now, in a worker thread, with the IP set
        messages received so far. For the first apply: the daemon feeds the IP set messages, calls
        this, then feeds the rest (their chains render while ``ipset restore`` runs). An IP set
        message arriving meanwhile waits for it; :meth:`apply` takes its result before iptables."""
        if self._ipsets_early is not None:
            return
        pool = futures.ThreadPoolExecutor(1, thread_name_prefix="felix-ipsets")
        self._ipsets_early = pool.submit(self._apply_ipset_updates)
        pool.shutdown(wait=False)

    def _apply_ipset_updates(self) -> None:
        for s in self.ctx.ipsets.values():
            s.apply_updates()

    def _update_static(self) -> None:
        """Static chains on an encapsulation change; kernel hooks on that or when the first host
        endpoint appears / the last one goes (raw and mangle are hooked only while one exists; nat
        PREROUTING/OUTPUT never: they lead only to the floating-IP chain, and this port has none)."""
        encap = (self.vxlan_mgr.enabled, self.ipip_mgr.enabled)
        heps = bool(self.hostep_mgr.heps)
        # nat POSTROUTING leads only to masquerade rules: some natOutgoing pool of that family, or
        # a tunnel device's own masquerade (VXLAN; IPIP for IPv4). Without them it is not hooked,
        # so the nat hooks are not registered at all (every packet would pay a call into them).
        nat_post = tuple(self.masq_mgr.masq_present(v) or encap[0] or (encap[1] and v == 4)
                         for v in self.ctx.versions)
        if encap == self._encap and heps == self._hep_hooks and nat_post == self._nat_post:
            return
        if encap != self._encap:
            self._encap = encap
            rc = dataclasses.replace(self.ctx.renderer.config, vxlan_enabled=encap[0], ipip_enabled=encap[1])
            self.ctx.renderer = RuleRenderer(rc)
            r = self.ctx.renderer
            for v in self.ctx.versions:
                for table, chains in r.static_chains(v).items():
                    self.ctx.table(table, v).update_chains(chains)
                for table, hooks in r.kernel_appends(v).items():
                    for kchain, rules in hooks.items():
                        self.ctx.table(table, v).set_rule_appends(kchain, rules)
                # Floating-IP chains are referenced by the static nat chains; this port has no floating IPs.
                for chain in r.floating_ip_chains((), v):
                    self.ctx.table("nat", v).update_chain(chain)
            self.masq_mgr._dirty = True
        self._hep_hooks = heps
        self._nat_post = nat_post
        r = self.ctx.renderer
        for v, post in zip(self.ctx.versions, nat_post, strict=True):
            rules = r.kernel_appends(v)["nat"]["POSTROUTING"] if post else []
            self.ctx.table("nat", v).set_rule_appends("POSTROUTING", rules)
            self._track_hook(("nat", "POSTROUTING", v), bool(rules))
        for v in self.ctx.versions:
            want = r.kernel_hooks(v, host_endpoints=heps, floating_ips=False)
            for table, hooks in r.kernel_hooks(v, host_endpoints=True, floating_ips=True).items():
                for kchain in hooks:
                    rules = want.get(table, {}).get(kchain, [])
                    self.ctx.table(table, v).set_rule_inserts(kchain, rules)
                    self._track_hook((table, kchain, v), bool(rules))

    def _track_hook(self, key: tuple[str, str, int], hooked: bool) -> None:
        """Remember which kernel chains hold our hooks; a chain whose hook went is pruned after the
        next iptables write (only after our own hook went: no command at start-up)."""
        if hooked:
            self._hooked.add(key)
            self._prune_hooks.discard(key)
        elif key in self._hooked:
            self._hooked.discard(key)
            self._prune_hooks.add(key)

    def _prune_base_chains(self) -> None:
        """After our jumps left a kernel chain: delete that chain if now empty.  With
        iptables-nft an empty base chain still hooks every packet; ``iptables -X`` refuses (and we
        ignore) a chain holding anyone's rule or a non-ACCEPT policy, so others' state is kept."""
        while self._prune_hooks:
            table, kchain, v = self._prune_hooks.pop()
            save = self.ctx.table(table, v).save_cmd
            if "legacy" in save:
                continue  # legacy tables hook every builtin chain whatever their contents
            argv = [save.removesuffix("-save"), "-w", str(int(self.cfg["IptablesLockTimeout"])), "-t", table,
                    "-X", kchain]
            result = cmd.run(argv, netns=self.ctx.netns, check=False)
            log.debug("%s -> %d %s", " ".join(argv), result.returncode, result.stderr.strip())

    def _configure_kernel(self) -> None:
        if self._kernel_configured:
            return
        try:
            self.ctx.sysctls.configure_global(ipv4_forwarding=self.cfg["IPForwarding"] == "enabled",
                                              ipv6_forwarding=6 in self.ctx.versions
                                              and self.cfg["IPForwarding"] == "enabled")
        except SysctlError as exc:
            log.error("Could not enable IP forwarding: %s", exc)
            raise
        self._kernel_configured = True

    def apply(self) -> None:
        """All kernel work in the fixed order; raises the driver's error when a step fails (the
        state stays dirty, so the next apply retries)."""
        start = time.monotonic()
        phases: dict[str, float] = {}
        mark = start

        def lap(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[name] = now - mark
            mark = now

        try:
            self._update_static()
            for mgr in self.managers:
                mgr.complete_deferred_work()
            lap("render")
            self._configure_kernel()
            # Interfaces and routes (sysctl files, netlink) go in a second thread beside the IP sets
            # and iptables (subprocesses), as Go Felix applies its route tables in parallel: neither
            # depends on the other, and a workload whose route lands first is still dropped by the
            # dispatch chains until its own chains are in.
            links = self._executor().submit(self._apply_links, phases)
            try:
                early, self._ipsets_early = self._ipsets_early, None
                if early is not None:
                    early.result()  # re-raises its error (the sets stay dirty: this apply retries)
                self._apply_ipset_updates()  # anything changed since (usually nothing: no I/O)
                lap("ipsets")
                self._apply_iptables()
                self._prune_base_chains()
                lap("iptables")
            except BaseException:
                futures.wait([links])
                raise
            links.result()  # re-raises the links thread's error
            mark = time.monotonic()
            for s in self.ctx.ipsets.values():
                s.apply_deletions()
            self._cleanup_conntrack()
            lap("cleanup")
        except Exception:
            self.stats.failures += 1
            raise
        elapsed = time.monotonic() - start
        phases = {k: phases[k] for k in ("render", "ipsets", "interfaces", "routes", "iptables", "cleanup")
                  if k in phases}
        self.stats.last_phases = phases
        if elapsed > 0.05:
            log.info("Dataplane apply took %.0f ms (%s)", elapsed * 1e3,
                     ", ".join(f"{k} {v * 1e3:.0f}" for k, v in phases.items()))
        self.stats.applies += 1
        self.stats.last_apply_seconds = elapsed
        if self.stats.first_apply_seconds is None:
            self.stats.first_apply_seconds = elapsed
            log.info("First dataplane apply complete in %.3fs", elapsed)
            self._close_readahead()
        self.in_sync = True

    def _apply_links(self, phases: dict[str, float]) -> None:
        """Interface sysctls, VXLAN/IPIP devices and FDB, then routes and neighbours."""
        t0 = time.monotonic()
        self.endpoint_mgr.apply_sysctls()
        self.vxlan_mgr.apply_kernel()
        self.ipip_mgr.apply_kernel()
        t1 = time.monotonic()
        for rt in self.ctx.routes.values():
            rt.apply()
        phases["interfaces"], phases["routes"] = t1 - t0, time.monotonic() - t1

    def _executor(self) -> futures.ThreadPoolExecutor:
        if self._links_pool is None:
            self._links_pool = futures.ThreadPoolExecutor(1, thread_name_prefix="felix-links")
        return self._links_pool

    def _apply_iptables(self) -> None:
        """Step 4: each IP version's tables in order (raw, mangle, nat, filter), the big IPv4 filter
        table in this thread and everything else in a worker beside it (IPv4's small tables, then
        the other family's), as Go Felix applies its tables in parallel: each table is a kernel
        table of its own and each ``iptables-restore`` a process of its own (the other core). The
        worker's order keeps one family's tables created before the other's."""
        first, *rest = self.ctx.versions
        if self._v6_pool is None:
            self._v6_pool = futures.ThreadPoolExecutor(1, thread_name_prefix="felix-iptables")

        def side() -> None:
            for table in TABLE_NAMES[:-1]:
                self.ctx.table(table, first).apply()
            for v in rest:
                self._apply_tables(v)

        other = self._v6_pool.submit(side)
        try:
            self.ctx.table(TABLE_NAMES[-1], first).apply()
        finally:
            futures.wait([other])
        other.result()  # re-raises the worker's error

    def _apply_tables(self, ip_version: int) -> None:
        for table in TABLE_NAMES:
            self.ctx.table(table, ip_version).apply()

    def _cleanup_conntrack(self) -> None:
        while self._conntrack_pending:
            ip = self._conntrack_pending.pop()
            try:
                self.conntrack.remove_flows_for_ip(ip)
            except ConntrackError as exc:
                log.warning("Conntrack cleanup for %s failed: %s", ip, exc)

    @property
    def needs_apply(self) -> bool:
        """True when something is still pending (e.g. an interface came up: sysctls to write)."""
        return self.endpoint_mgr.sysctls_pending

    def _close_readahead(self) -> None:
        if self._readahead is not None:
            self._readahead.close()  # reads nobody took (e.g. a family turned off by the datastore)
            self._readahead = None

    def close(self) -> None:
        if self._ipsets_early is not None:
            futures.wait([self._ipsets_early])
            self._ipsets_early = None
        self._close_readahead()
        for pool in (self._links_pool, self._v6_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._links_pool = self._v6_pool = None
        for rt in self.ctx.routes.values():
            rt.close()

    def counts(self) -> dict[str, int]:
        return {"endpoints": self.endpoint_mgr.num_endpoints, "policies": len(self.policy_mgr.policies),
                "profiles": len(self.policy_mgr.profiles), "ipsets": self.ipsets_mgr.num_sets}


_IPSET_MESSAGES = (m.IPSetUpdate, m.IPSetDeltaUpdate, m.IPSetRemove)
