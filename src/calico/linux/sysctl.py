"""Sysctls Felix sets on workload interfaces and (once) globally (felix.md §1.3).

Without a namespace the values are written straight to /proc/sys (the daemon runs inside its
host's namespace). With a namespace (tests) they go through one ``sysctl -w`` process inside it,
so a test never writes the root namespace's settings. Keys use slash form so interface names
containing dots (``vxlan.calico``) work.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from calico.linux import cmd

log = logging.getLogger(__name__)

PROC_SYS = "/proc/sys"


class SysctlError(Exception):
    pass


def workload_iface_sysctls(iface: str, ip_version: int = 4, rp_filter: str = "1",
                           allow_spoofing: bool = False) -> dict[str, str]:
    """The per-interface settings Felix writes for a workload's host-side interface."""
    if ip_version == 4:
        return {
            f"net/ipv4/conf/{iface}/route_localnet": "1",
            f"net/ipv4/neigh/{iface}/proxy_delay": "0",
            f"net/ipv4/conf/{iface}/proxy_arp": "1",
            f"net/ipv4/conf/{iface}/forwarding": "1",
            f"net/ipv4/conf/{iface}/rp_filter": "0" if allow_spoofing else rp_filter,
        }
    return {
        f"net/ipv6/conf/{iface}/accept_ra": "0",
        f"net/ipv6/conf/{iface}/proxy_ndp": "1",
        f"net/ipv6/conf/{iface}/forwarding": "1",
    }


def global_sysctls(ipv4_forwarding: bool = True, ipv6_forwarding: bool = True,
                   conntrack_acct: bool = True) -> dict[str, str]:
    out: dict[str, str] = {}
    if ipv4_forwarding:
        out["net/ipv4/ip_forward"] = "1"
    if ipv6_forwarding:
        out["net/ipv6/conf/all/forwarding"] = "1"
    if conntrack_acct:
        out["net/netfilter/nf_conntrack_acct"] = "1"
    return out


class Sysctls:
    """Reads and writes sysctls in one network namespace (None = this process's own)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns

    def read(self, key: str) -> str | None:
        if self.netns:
            res = cmd.run(["cat", f"{PROC_SYS}/{key}"], netns=self.netns, check=False)
            return res.stdout.strip() if res.returncode == 0 else None
        try:
            with open(f"{PROC_SYS}/{key}") as f:
                return f.read().strip()
        except OSError:
            return None

    def write(self, values: Mapping[str, str]) -> None:
        """Write all values; raise SysctlError naming every key that failed."""
        if not values:
            return
        if self.netns:
            argv = ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())]
            res = cmd.run(argv, netns=self.netns, check=False)
            if res.returncode != 0:
                raise SysctlError(f"sysctl in {self.netns} failed: {res.stderr.strip()}")
            return
        failed: list[str] = []
        for key, value in values.items():
            try:
                with open(f"{PROC_SYS}/{key}", "w") as f:
                    f.write(value)
            except OSError as exc:
                failed.append(f"{key}={value}: {exc.strerror or exc}")
        if failed:
            raise SysctlError("could not set " + "; ".join(failed))

    def configure_workload_iface(self, iface: str, ip_version: int = 4, *, rp_filter: str | None = None,
                                 allow_spoofing: bool = False) -> None:
        """Apply Felix's per-interface sysctls; rp_filter defaults to conf/default/rp_filter."""
        if ip_version == 4 and rp_filter is None:
            rp_filter = self.read("net/ipv4/conf/default/rp_filter") or "1"
        values = workload_iface_sysctls(iface, ip_version, rp_filter or "1", allow_spoofing)
        proxy_delay = f"net/ipv4/neigh/{iface}/proxy_delay"
        try:
            self.write(values)
        except SysctlError:
            # proxy_delay failing is only a warning in Felix; everything else must succeed.
            values.pop(proxy_delay, None)
            self.write(values)
            log.warning("Could not set %s (continuing)", proxy_delay)

    def configure_global(self, *, ipv4_forwarding: bool = True, ipv6_forwarding: bool = True,
                         conntrack_acct: bool = True) -> list[str]:
        """Global settings at start-up; returns warnings for optional ones that failed."""
        warnings: list[str] = []
        for key, value in global_sysctls(ipv4_forwarding, ipv6_forwarding, conntrack_acct).items():
            try:
                self.write({key: value})
            except SysctlError as exc:
                if key.startswith("net/ipv4/ip_forward"):
                    raise
                warnings.append(str(exc))
                log.warning("Optional sysctl failed: %s", exc)
        return warnings
