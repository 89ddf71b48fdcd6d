"""IPPool and IPReservation, with libcalico's defaults and checks (clientv3 ippool.go + validator)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from calico.api.checks import Errs, check_selector
from calico.api.errors import CalicoValidationError, FieldError
from calico.api.meta import CalicoModel, Resource
from calico.api.values import parse_cidr, parse_cidr_or_ip

ENCAP_MODES = ("Always", "CrossSubnet", "Never")
ALLOWED_USES = ("Workload", "Tunnel", "LoadBalancer")
ASSIGNMENT_MODES = ("Automatic", "Manual")
DEFAULT_ALLOWED_USES = ["Workload", "Tunnel"]
_LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
GLOBAL_SEL_MSG = "global() can only be used in an EntityRule namespaceSelector"


def _strict(text: str) -> bool:
    try:
        addr, net = parse_cidr_or_ip(text)
    except ValueError:
        return False
    return addr == net.network_address


class IPIPConfiguration(CalicoModel):
    """The v1 leftover ``spec.ipip`` (must be absent in v3)."""

    enabled: bool = False
    mode: str = ""


class IPPoolSpec(CalicoModel):
    cidr: str = ""
    vxlan_mode: str = Field("", alias="vxlanMode")
    ipip_mode: str = Field("", alias="ipipMode")
    nat_outgoing: bool = Field(False, alias="natOutgoing")
    disabled: bool = False
    disable_bgp_export: bool = Field(False, alias="disableBGPExport")
    block_size: int = Field(0, alias="blockSize")
    node_selector: str = Field("", alias="nodeSelector")
    namespace_selector: str = Field("", alias="namespaceSelector")
    ipip: IPIPConfiguration | None = None
    nat_outgoing_v1: bool = Field(False, alias="nat-outgoing")
    allowed_uses: list[str] | None = Field(None, alias="allowedUses")
    assignment_mode: str | None = Field(None, alias="assignmentMode")

    KEEP = frozenset({"assignment_mode"})
    ALWAYS = frozenset({"cidr"})


class IPPool(Resource):
    KIND = "IPPool"
    spec: IPPoolSpec = Field(default_factory=lambda: IPPoolSpec.model_validate({}))
    status: dict[str, Any] | None = None

    def version(self) -> int:
        return parse_cidr(self.spec.cidr)[1].version

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return parse_cidr(self.spec.cidr)[1]

    def apply_defaults(self) -> None:
        s = self.spec
        try:
            addr, net = parse_cidr(s.cidr)
        except ValueError:
            net = None
        if net is not None:
            if addr == net.network_address:
                s.cidr = str(net)
            if not s.block_size:
                s.block_size = 26 if net.version == 4 else 122
        if not s.node_selector:
            s.node_selector = "all()"
        if not s.allowed_uses:
            s.allowed_uses = list(DEFAULT_ALLOWED_USES)
        if s.assignment_mode is None:
            s.assignment_mode = "Automatic"
        if not s.ipip_mode:
            s.ipip_mode = "Never"
        if not s.vxlan_mode:
            s.vxlan_mode = "Never"

    def client_checks(self) -> list[FieldError]:
        s = self.spec
        if not s.cidr:
            return [FieldError("IPPool.Spec.CIDR", reason="IPPool CIDR must be specified")]
        try:
            addr, net = parse_cidr(s.cidr)
        except ValueError:
            return [FieldError("IPPool.Spec.CIDR", s.cidr, "IPPool CIDR must be a valid subnet")]
        errs: list[FieldError] = []
        cidr = str(net)
        if net.version == 4:
            if not 20 <= s.block_size <= 32:
                errs.append(FieldError("IPPool.Spec.BlockSize", s.block_size,
                                       "IPv4 block size must be between 20 and 32"))
        elif not 116 <= s.block_size <= 128:
            errs.append(FieldError("IPPool.Spec.BlockSize", s.block_size,
                                   "IPv6 block size must be between 116 and 128"))
        if not s.disabled and net.prefixlen > s.block_size:
            errs.append(FieldError("IPPool.Spec.CIDR", cidr,
                                   "IP pool size is too small for use with Calico IPAM. It must be equal to "
                                   "or greater than the block size."))
        if s.vxlan_mode != "Never" and s.ipip_mode != "Never":
            errs.append(FieldError("IPPool.Spec.VXLANMode", s.vxlan_mode,
                                   "Cannot enable both VXLAN and IPIP on the same IPPool"))
        if net.version == 6 and s.ipip_mode != "Never":
            errs.append(FieldError("IPPool.Spec.IPIPMode", s.ipip_mode, "IPIP is not supported on an IPv6 IP pool"))
        if addr != net.network_address:
            errs.append(FieldError("IPPool.Spec.CIDR", cidr, "IPPool CIDR is not strictly masked"))
        if net.version == 4 and net.overlaps(_LINK_LOCAL_V4):
            errs.append(FieldError("IPPool.Spec.CIDR", cidr,
                                   "IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16"))
        if net.version == 6 and net.overlaps(_LINK_LOCAL_V6):
            errs.append(FieldError("IPPool.Spec.CIDR", cidr,
                                   "IPPool CIDR overlaps with IPv6 Link Local range fe80::/10"))
        return errs

    def struct_only_checks(self, errs: Errs) -> None:
        """validateIPPoolSpec's versions of the client checks (``IPpool.*`` names, its wording)."""
        s = self.spec
        if not s.cidr:
            errs.add("IPpool.CIDR", s.cidr, "IPPool CIDR must be specified")
        try:
            addr, net = parse_cidr_or_ip(s.cidr)
        except ValueError:
            errs.add("IPpool.CIDR", s.cidr, "IPPool CIDR must be a valid subnet")
            return
        cidr = str(net)
        if net.version == 6 and s.ipip_mode != "Never":
            errs.add("IPpool.IPIPMode", s.ipip_mode, "IPIPMode other than 'Never' is not supported on an IPv6 IP pool")
        if s.ipip_mode in ("Always", "CrossSubnet") and s.vxlan_mode in ("Always", "CrossSubnet"):
            errs.add("IPpool.IPIPMode", s.ipip_mode, "IPIPMode and VXLANMode cannot be enabled on LoadBalancer IP pool")
        block = s.block_size or (26 if net.version == 4 else 122)
        if not s.disabled and net.prefixlen > block:
            errs.add("IPpool.CIDR", cidr, "IP pool size is too small for use with Calico IPAM. It must be equal to "
                                          "or greater than the block size.")
        if addr != net.network_address:
            errs.add("IPpool.CIDR", cidr, "IP pool CIDR is not strictly masked")
        if net.version == 4 and net.overlaps(_LINK_LOCAL_V4):
            errs.add("IPpool.CIDR", cidr, "IP pool range overlaps with IPv4 Link Local range 169.254.0.0/16")
        if net.version == 6 and net.overlaps(_LINK_LOCAL_V6):
            errs.add("IPpool.CIDR", cidr, "IP pool range overlaps with IPv6 Link Local range fe80::/10")

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        if s.cidr and not _strict(s.cidr):
            errs.tag("CIDR", s.cidr, "net")
        if s.vxlan_mode and s.vxlan_mode not in ENCAP_MODES:
            errs.tag("VXLANMode", s.vxlan_mode, "vxlanMode")
        if s.ipip_mode and s.ipip_mode not in ENCAP_MODES:
            errs.tag("IPIPMode", s.ipip_mode, "ipIpMode")
        check_selector(errs, "NodeSelector", s.node_selector)
        if "global(" in s.node_selector:
            errs.add("IPPool.Spec.NodeSelector", s.node_selector, GLOBAL_SEL_MSG)
        check_selector(errs, "NamespaceSelector", s.namespace_selector)
        if s.ipip is not None:
            errs.tag("IPIP", s.ipip.to_json(), "mustBeNil")
        if s.nat_outgoing_v1:
            errs.tag("NATOutgoingV1", True, "mustBeFalse")
        if s.assignment_mode is not None and s.assignment_mode not in ASSIGNMENT_MODES:
            errs.tag("AssignmentMode", s.assignment_mode, "assignmentMode")
        uses = s.allowed_uses or []
        is_lb = "LoadBalancer" in uses
        if is_lb and (s.ipip_mode in ("Always", "CrossSubnet") or s.vxlan_mode in ("Always", "CrossSubnet")):
            errs.add("IPpool.IPIPMode", s.ipip_mode,
                     "Neither IPIPMode nor VXLANMode can be enabled on AllowedUses LoadBalancer IP pool")
        for use in uses:
            if use == "LoadBalancer":
                continue
            if use in ("Workload", "Tunnel"):
                if is_lb:
                    errs.add("IPpool.AllowedUses", uses, "LoadBalancer cannot be used at the same time as: " + use)
                continue
            errs.add("IPpool.AllowedUses", uses, "unknown use: " + use)
        if is_lb and s.disable_bgp_export:
            errs.add("IPpool.DisableBGPExport", s.cidr,
                     "IP Pool with AllowedUse LoadBalancer must have DisableBGPExport set to true")
        if is_lb and s.node_selector != "all()":
            errs.add("IPpool.NodeSelector", s.cidr,
                     "IP Pool with AllowedUse LoadBalancer must have node selector set to all()")
        if s.namespace_selector and "Tunnel" in uses:
            errs.add("IPPool.Spec.NamespaceSelector", s.namespace_selector,
                     "namespaceSelector cannot be used with allowedUses Tunnel")


def check_pool_overlap(new_pool: Resource, existing_pools: Iterable[Resource]) -> CalicoValidationError | None:
    """Create-time check: the new CIDR may not overlap any other pool's (libcalico's wording)."""
    if not isinstance(new_pool, IPPool):
        return None
    try:
        net = parse_cidr(new_pool.spec.cidr)[1]
    except ValueError:
        return None
    errs: list[FieldError] = []
    for other in existing_pools:
        if not isinstance(other, IPPool) or other.metadata.name == new_pool.metadata.name:
            continue
        try:
            other_net = parse_cidr(other.spec.cidr)[1]
        except ValueError:
            continue
        if other_net.version == net.version and other_net.overlaps(net):
            errs.append(FieldError(
                "IPPool.Spec.CIDR", new_pool.spec.cidr,
                f"IPPool({new_pool.metadata.name}) CIDR overlaps with IPPool({other.metadata.name}) "
                f"CIDR {other.spec.cidr}"))
    return CalicoValidationError(errs) if errs else None


def check_pool_update(old: Resource, new: Resource) -> CalicoValidationError | None:
    """Update-time check: CIDR, block size and a LoadBalancer use are immutable."""
    if not isinstance(old, IPPool) or not isinstance(new, IPPool):
        return None
    errs: list[FieldError] = []
    if not _same_cidr(old.spec.cidr, new.spec.cidr):
        errs.append(FieldError("IPPool.Spec.CIDR", new.spec.cidr, "IPPool CIDR cannot be modified"))
    if "LoadBalancer" in (old.spec.allowed_uses or []) and any(
            u != "LoadBalancer" for u in new.spec.allowed_uses or []):
        return CalicoValidationError([FieldError(
            "IPPool.Spec.AllowedUses", new.spec.allowed_uses,
            "IPPool allowed use cannot be changed from LoadBalacer to Workload or Tunnel")])
    if old.spec.block_size != new.spec.block_size:
        errs.append(FieldError("IPPool.Spec.BlockSize", new.spec.block_size, "IPPool BlockSize cannot be modified"))
    return CalicoValidationError(errs) if errs else None


def _same_cidr(old: str, new: str) -> bool:
    if old == new:
        return True
    try:
        old_net = parse_cidr(old)[1]
        new_net = parse_cidr(new)[1]
    except ValueError:
        return False
    return old_net == new_net and new == str(new_net)


class IPReservationSpec(CalicoModel):
    reserved_cidrs: list[str] | None = Field(None, alias="reservedCIDRs")


class IPReservation(Resource):
    KIND = "IPReservation"
    spec: IPReservationSpec = Field(default_factory=lambda: IPReservationSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        for c in self.spec.reserved_cidrs or []:
            try:
                parse_cidr_or_ip(c)
            except ValueError:
                errs.tag("ReservedCIDRs", self.spec.reserved_cidrs, "cidr")
                break
