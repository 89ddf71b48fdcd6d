"""What every dataplane manager shares: the renderer and the per-family kernel drivers.

Managers never run a command themselves; they set desired state on these drivers, which the
:class:`calico.felix.dataplane.driver.Dataplane` applies in its fixed order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from calico.felix.rules.render import RuleRenderer
from calico.linux.ipsets import IPSets
from calico.linux.iptables import Table
from calico.linux.routes import RouteTable
from calico.linux.sysctl import Sysctls

TABLE_NAMES = ("raw", "mangle", "nat", "filter")


@dataclass
class DataplaneContext:
    """Drivers by IP version; ``tables[(table_name, ip_version)]``."""

    renderer: RuleRenderer
    versions: tuple[int, ...]
    tables: dict[tuple[str, int], Table]
    ipsets: dict[int, IPSets]
    routes: dict[int, RouteTable]
    sysctls: Sysctls
    iface_prefixes: tuple[str, ...] = ("cali",)
    max_ipset_size: int = 1048576
    netns: str | None = None
    # Interface state from the monitor: name -> (index, oper-up) and name -> addresses.
    links: dict[str, tuple[int, bool]] = field(default_factory=dict)
    addrs: dict[str, frozenset[str]] = field(default_factory=dict)

    def table(self, name: str, ip_version: int) -> Table:
        return self.tables[(name, ip_version)]

    def all_tables(self) -> Iterator[Table]:
        yield from self.tables.values()

    def is_workload_iface(self, name: str) -> bool:
        return name.startswith(self.iface_prefixes)

    def link_up(self, name: str) -> bool:
        link = self.links.get(name)
        return bool(link and link[1])
