"""The FelixConfiguration values that shape rendered iptables rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProtoPort:
    """A failsafe port entry (``FailsafeInboundHostPorts`` item): ``tcp:22`` or ``tcp:10.0.0.0/8:22``."""

    protocol: str
    port: int
    net: str = ""

    @classmethod
    def parse(cls, text: str) -> ProtoPort:
        """Parse ``proto:port``, ``proto:net:port`` or a bare ``port`` (tcp)."""
        parts = text.strip().split(":")
        if len(parts) == 1:
            return cls("tcp", int(parts[0]))
        if len(parts) == 2:
            return cls(parts[0].lower(), int(parts[1]))
        # proto:net:port; an IPv6 net contains colons, so the port is the last field
        return cls(parts[0].lower(), int(parts[-1]), ":".join(parts[1:-1]).strip("[]"))


DEFAULT_FAILSAFE_IN: tuple[ProtoPort, ...] = tuple(
    ProtoPort(p, n) for p, n in (("tcp", 22), ("udp", 68), ("tcp", 179), ("tcp", 2379), ("tcp", 2380),
                                 ("tcp", 5473), ("tcp", 6443), ("tcp", 6666), ("tcp", 6667)))
DEFAULT_FAILSAFE_OUT: tuple[ProtoPort, ...] = tuple(
    ProtoPort(p, n) for p, n in (("udp", 53), ("udp", 67), ("tcp", 179), ("tcp", 2379), ("tcp", 2380),
                                 ("tcp", 5473), ("tcp", 6443), ("tcp", 6666), ("tcp", 6667)))


def _bits_of(mask: int) -> list[int]:
    return [1 << i for i in range(32) if mask & (1 << i)]


@dataclass(frozen=True, slots=True)
class RenderConfig:
    """Inputs of the renderer.  Actions are iptables targets (upper case).  Mark bits default to
    the allocation Felix makes from ``IptablesMarkMask`` 0xffff0000 (lowest bits first); build
    from another mask with ``RenderConfig.with_mark_mask``."""

    workload_iface_prefixes: tuple[str, ...] = ("cali",)
    mark_accept: int = 0x10000
    mark_pass: int = 0x20000
    mark_scratch0: int = 0x40000
    mark_scratch1: int = 0x80000
    filter_allow_action: str = "ACCEPT"  # ACCEPT | RETURN
    mangle_allow_action: str = "ACCEPT"  # ACCEPT | RETURN
    filter_deny_action: str = "DROP"  # DROP | REJECT
    default_endpoint_to_host_action: str = "DROP"  # DROP | RETURN | ACCEPT
    failsafe_inbound: tuple[ProtoPort, ...] = DEFAULT_FAILSAFE_IN
    failsafe_outbound: tuple[ProtoPort, ...] = DEFAULT_FAILSAFE_OUT
    nat_outgoing_address: str = ""  # SNAT --to-source instead of MASQUERADE when set
    nat_port_range: str = ""  # "a:b" or "a-b": restrict masquerade source ports
    nat_outgoing_interface_filter: str = ""  # -o filter on the nat-outgoing rule
    masq_random_fully: bool = False
    log_prefix: str = "calico-packet"
    log_rate_limit: str = ""  # e.g. "10/second"; empty = no limit
    log_rate_limit_burst: int = 5
    ipip_enabled: bool = False
    vxlan_enabled: bool = False
    vxlan_port: int = 4789
    vxlan_device: str = "vxlan.calico"
    vxlan_device_v6: str = "vxlan-v6.calico"
    ipip_device: str = "tunl0"
    chain_insert_mode: str = "insert"  # insert | append
    disable_conntrack_invalid_check: bool = False
    allow_vxlan_packets_from_workloads: bool = False
    allow_ipip_packets_from_workloads: bool = False
    # a tier's policy list of at least this many policies becomes a shared cali-gi-/cali-go- group
    # chain (rules/groups.py); 0 = never group (every policy jump inline in the endpoint chain)
    policy_group_min_size: int = 2
    # Established/related traffic to or from a workload interface is accepted at the top of
    # cali-FORWARD, before the interface dispatch (~20 rule evaluations per packet with 250
    # endpoints); new flows still go through dispatch and policy.  False = Go Felix's exact layout
    # (conntrack accept only at the top of each endpoint chain).  Only with filter allow ACCEPT.
    conntrack_fast_path: bool = True

    @property
    def all_calico_marks(self) -> int:
        return self.mark_accept | self.mark_pass | self.mark_scratch0 | self.mark_scratch1

    @classmethod
    def with_mark_mask(cls, mask: int, **kwargs: object) -> RenderConfig:
        """A config whose mark bits are allocated from ``mask`` as Felix does; raises ValueError
        when the mask has fewer than four bits."""
        bits = _bits_of(mask)
        if len(bits) < 4:
            raise ValueError(f"IptablesMarkMask {mask:#x} has fewer than the 4 bits Felix needs")
        return cls(mark_accept=bits[0], mark_pass=bits[1], mark_scratch0=bits[2], mark_scratch1=bits[3],
                   **kwargs)  # type: ignore[arg-type]
