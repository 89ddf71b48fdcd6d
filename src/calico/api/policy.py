"""Policy kinds: Rule/EntityRule and friends, Profile, NetworkPolicy, GlobalNetworkPolicy, Tier.

Checks follow libcalico-go's validator (validateRule, validateEntityRule, validateICMPFields,
validatePort, validateProtocol, validate(Global)NetworkPolicySpec, validateTier) and report
the same field names, in the order Go's validator walks the structs.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from calico.api.checks import (
    GNP_NAME_RE,
    NP_NAME_RE,
    TIER_NAME_RE,
    Errs,
    check_annotations,
    check_labels,
    check_policy_name,
    check_selector,
    name_ok,
)
from calico.api.meta import CalicoModel, Resource
from calico.api.values import Port, Protocol, parse_cidr_or_ip

ACTIONS = ("Allow", "Deny", "Log", "Pass")
POLICY_TYPES = ("Ingress", "Egress")
GLOBAL = "global()"
GLOBAL_ENT_RULE_MSG = "global() can only be used in an EntityRule namespaceSelector"
GLOBAL_ONLY_MSG = "global() cannot be combined with other selectors"
PORTS_MSG = "rules that specify ports must set protocol to TCP or UDP or SCTP"
ICMP_MSG = "rules that specify ICMP fields must set protocol to ICMP"
HTTP_PROTO_MSG = "rules that specify HTTP fields must set protocol to TCP or empty"
DEFAULT_TIER = "default"
TIER_LABEL = "projectcalico.org/tier"


class ICMPFields(CalicoModel):
    type: int | None = None
    code: int | None = None
    KEEP = frozenset({"type", "code"})

    def check(self, errs: Errs) -> None:
        for name, value, hi in (("Type", self.type, 254), ("Code", self.code, 255)):
            if value is not None:
                if value < 0:
                    errs.tag(name, value, "gte")
                elif value > hi:
                    errs.tag(name, value, "lte")
        if self.code is not None and self.type is None:
            errs.add("Code", self.code, "ICMP code specified without an ICMP type")


class ServiceAccountMatch(CalicoModel):
    names: list[str] | None = None
    selector: str = ""


class ServiceMatch(CalicoModel):
    name: str = ""
    namespace: str = ""


class HTTPPath(CalicoModel):
    exact: str = ""
    prefix: str = ""


class HTTPMatch(CalicoModel):
    methods: list[str] | None = None
    paths: list[HTTPPath] | None = None

    def check(self, errs: Errs) -> None:
        methods = self.methods or []
        if len(set(methods)) != len(methods):
            errs.add("Methods", methods, f"Invalid methods (duplicates): [{' '.join(methods)}]")
        for p in self.paths or []:
            if p.exact and p.prefix:
                errs.add("Paths", [x.to_json() for x in self.paths or []],
                         "Invalid path match. Both 'exact' and 'prefix' are set")
                break
            v = p.exact or p.prefix
            if not v:
                errs.add("Paths", [x.to_json() for x in self.paths or []],
                         "Invalid path match. Either 'exact' or 'prefix' must be set")
                break
            if not v.startswith("/") or any(c in v for c in "? #"):
                errs.add("Paths", [x.to_json() for x in self.paths or []],
                         f"Invalid path {v}. (must start with `/` and not contain `?` or `#`")
                break


class RuleMetadata(CalicoModel):
    annotations: dict[str, str] | None = None


class EntityRule(CalicoModel):
    nets: list[str] | None = None
    selector: str = ""
    namespace_selector: str = Field("", alias="namespaceSelector")
    services: ServiceMatch | None = None
    ports: list[Port] | None = None
    not_nets: list[str] | None = Field(None, alias="notNets")
    not_selector: str = Field("", alias="notSelector")
    not_ports: list[Port] | None = Field(None, alias="notPorts")
    service_accounts: ServiceAccountMatch | None = Field(None, alias="serviceAccounts")

    def check(self, errs: Errs) -> None:
        for i, n in enumerate(self.nets or []):
            if not _strict_net(n):
                errs.tag(f"Nets[{i}]", n, "net")
        check_selector(errs, "Selector", self.selector)
        check_selector(errs, "NamespaceSelector", self.namespace_selector)
        if self.services is not None:
            pass
        for p in self.ports or []:
            for value, reason in p.problems():
                errs.add("Port", value, reason)
        for i, n in enumerate(self.not_nets or []):
            if not _strict_net(n):
                errs.tag(f"NotNets[{i}]", n, "net")
        check_selector(errs, "NotSelector", self.not_selector)
        for p in self.not_ports or []:
            for value, reason in p.problems():
                errs.add("Port", value, reason)
        if self.service_accounts is not None:
            check_selector(errs, "Selector", self.service_accounts.selector)
        # struct level (validateEntityRule)
        if GLOBAL in self.selector:
            errs.add("Selector field", self.selector, GLOBAL_ENT_RULE_MSG)
        ns = self.namespace_selector
        if "global(" in ns and ns.strip() != GLOBAL:
            errs.add("NamespaceSelector field", ns, GLOBAL_ONLY_MSG)
        if self.services is not None:
            svc = self.services.to_json()
            if not self.services.name:
                errs.add("Services field", svc, "must specify a service name")
            if ns:
                errs.add("Services field", svc, "cannot specify NamespaceSelector and Services on the same rule")
            if self.selector or self.not_selector:
                errs.add("Services field", svc,
                         "cannot specify Selector/NotSelector and Services on the same rule")
            if self.service_accounts is not None:
                errs.add("Services field", svc, "cannot specify ServiceAccounts and Services on the same rule")
            if self.nets or self.not_nets:
                errs.add("Services field", svc, "cannot specify Nets/NotNets and Services on the same rule")


def _strict_net(text: str) -> bool:
    try:
        addr, net = parse_cidr_or_ip(text)
    except ValueError:
        return False
    return addr == net.network_address


class Rule(CalicoModel):
    action: str = ""
    ip_version: int | None = Field(None, alias="ipVersion")
    protocol: Protocol | None = None
    icmp: ICMPFields | None = Field(None, alias="icmp")
    not_protocol: Protocol | None = Field(None, alias="notProtocol")
    not_icmp: ICMPFields | None = Field(None, alias="notICMP")
    source: EntityRule = Field(default_factory=lambda: EntityRule.model_validate({}))
    destination: EntityRule = Field(default_factory=lambda: EntityRule.model_validate({}))
    http: HTTPMatch | None = Field(None, alias="http")
    metadata: RuleMetadata | None = None

    KEEP = frozenset({"ip_version"})
    ALWAYS = frozenset({"action", "source", "destination"})

    def check(self, errs: Errs) -> None:
        if self.action not in ACTIONS:
            errs.tag("Action", self.action, "action")
        if self.ip_version is not None and self.ip_version not in (4, 6):
            errs.tag("IPVersion", self.ip_version, "ipVersion")
        for proto in (self.protocol, self.not_protocol):
            if proto is not None:
                problem = proto.problem()
                if problem:
                    errs.add("Protocol", proto.value, problem)
        if self.icmp is not None:
            self.icmp.check(errs)
        if self.not_icmp is not None:
            self.not_icmp.check(errs)
        self.source.check(errs)
        self.destination.check(errs)
        if self.http is not None:
            self.http.check(errs)
        if self.metadata is not None:
            check_annotations(errs, self.metadata.annotations)
        self._struct_check(errs)

    def _struct_check(self, errs: Errs) -> None:
        """validateRule."""
        src, dst = self.source, self.destination
        if self.protocol is None or not self.protocol.supports_ports():
            for field, ports in (("Source.Ports", src.ports), ("Source.NotPorts", src.not_ports),
                                 ("Destination.Ports", dst.ports), ("Destination.NotPorts", dst.not_ports)):
                if ports:
                    errs.add(field, [p.to_json() for p in ports], PORTS_MSG)
        if self.http is not None and self.protocol is not None and self.protocol != "TCP":
            errs.add("Protocol", self.protocol.value, HTTP_PROTO_MSG)
        if self.icmp is not None and (self.protocol is None or self.protocol not in ("ICMP", "ICMPv6")):
            errs.add("ICMP", self.icmp.to_json(), ICMP_MSG)
        if self.not_icmp is not None and (self.protocol is None or self.protocol not in ("ICMP", "ICMPv6")) \
                and (self.not_protocol is None or self.not_protocol not in ("ICMP", "ICMPv6")):
            errs.add("NotICMP", self.not_icmp.to_json(), ICMP_MSG)
        icmp_v = self.icmp.to_json() if self.icmp is not None else None
        if "ICMP" in (self.protocol, self.not_protocol) and self.ip_version not in (None, 4):
            errs.add("IPVersion", icmp_v, "must set ipversion to '4' with protocol icmp")
        if "ICMPv6" in (self.protocol, self.not_protocol) and self.ip_version not in (None, 6):
            errs.add("IPVersion", icmp_v, "must set ipversion to '6' with protocol icmpv6")
        seen4 = seen6 = False
        for field, nets in (("Source.Nets", src.nets), ("Source.NotNets", src.not_nets),
                            ("Destination.Nets", dst.nets), ("Destination.NotNets", dst.not_nets)):
            v4 = v6 = False
            for n in nets or []:
                try:
                    net = parse_cidr_or_ip(n)[1]
                except ValueError:
                    errs.add(field, n, "invalid CIDR")
                    continue
                v4 = v4 or net.version == 4
                v6 = v6 or net.version == 6
            if self.ip_version is not None and ((v4 and self.ip_version != 4) or (v6 and self.ip_version != 6)):
                errs.add(field, src.nets or [], "rule IP version doesn't match CIDR version")
            if (v4 and seen6) or (v6 and seen4) or (v4 and v6):
                errs.add(field, nets or [], "rule contains both IPv4 and IPv6 CIDRs")
            seen4 = seen4 or v4
            seen6 = seen6 or v6
        if self.http is not None and self.action != "Allow":
            errs.add("HTTP", self.http.to_json(), "only valid for Allow rules")
        if dst.services is not None and dst.ports:
            errs.add("Destination.Ports", [p.to_json() for p in dst.ports],
                     "cannot specify ports with a service selector")
        if dst.services is not None and dst.not_ports:
            errs.add("Destination.NotPorts", [p.to_json() for p in dst.not_ports],
                     "cannot specify notports with a service selector")


def default_types(ingress: list[Rule] | None, egress: list[Rule] | None) -> list[str]:
    """Calico's defaultPolicyTypesField."""
    if not egress:
        return ["Ingress"]
    if not ingress:
        return ["Egress"]
    return ["Ingress", "Egress"]


def check_rules(errs: Errs, ingress: list[Rule] | None, egress: list[Rule] | None) -> None:
    for r in ingress or []:
        r.check(errs)
    for r in egress or []:
        r.check(errs)


# --- Profile --------------------------------------------------------------------------------

class ProfileSpec(CalicoModel):
    ingress: list[Rule] | None = None
    egress: list[Rule] | None = None
    labels_to_apply: dict[str, str] | None = Field(None, alias="labelsToApply")


class Profile(Resource):
    KIND = "Profile"
    spec: ProfileSpec = Field(default_factory=lambda: ProfileSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        check_rules(errs, self.spec.ingress, self.spec.egress)
        sub = Errs()
        check_labels(sub, self.spec.labels_to_apply)
        if sub:
            errs.tag("LabelsToApply", self.spec.labels_to_apply, "labels")


# --- NetworkPolicy / GlobalNetworkPolicy ------------------------------------------------------

class _PolicySpecBase(CalicoModel):
    tier: str = ""
    order: float | None = None
    ingress: list[Rule] | None = None
    egress: list[Rule] | None = None
    selector: str = ""
    types: list[str] | None = None

    KEEP = frozenset({"order"})


class NetworkPolicySpec(_PolicySpecBase):
    service_account_selector: str = Field("", alias="serviceAccountSelector")
    performance_hints: list[str] | None = Field(None, alias="performanceHints")


class GlobalNetworkPolicySpec(_PolicySpecBase):
    do_not_track: bool = Field(False, alias="doNotTrack")
    pre_dnat: bool = Field(False, alias="preDNAT")
    apply_on_forward: bool = Field(False, alias="applyOnForward")
    service_account_selector: str = Field("", alias="serviceAccountSelector")
    namespace_selector: str = Field("", alias="namespaceSelector")
    performance_hints: list[str] | None = Field(None, alias="performanceHints")


def _common_spec_field_checks(errs: Errs, spec: Any) -> None:
    if spec.tier and not name_ok(spec.tier):
        errs.tag("Tier", spec.tier, "name")
    check_rules(errs, spec.ingress, spec.egress)
    check_selector(errs, "Selector", spec.selector)
    for i, t in enumerate(spec.types or []):
        if t not in POLICY_TYPES:
            errs.tag(f"Types[{i}]", t, "policyType")
    check_selector(errs, "ServiceAccountSelector", spec.service_account_selector)
    hints = spec.performance_hints or []
    if len(set(hints)) != len(hints):
        errs.tag("PerformanceHints", hints, "unique")
    for i, h in enumerate(hints):
        if h != "AssumeNeededOnEveryNode":
            errs.tag(f"PerformanceHints[{i}]", h, "oneof")


def _dup_types(errs: Errs, field: str, types: list[str] | None) -> None:
    seen: set[str] = set()
    for t in types or []:
        if t in seen:
            errs.add(field, types, f"'{t}' type specified more than once")
        seen.add(t)


def _service_placement(errs: Errs, spec: Any, egress_alp_msg: str) -> None:
    for r in spec.egress or []:
        if r.source.services is not None:
            errs.add("Services", r.source.services.to_json(), "not allowed in egress rule source")
        if r.http is not None:
            errs.add("HTTP", r.http.to_json(), egress_alp_msg)
    for r in spec.ingress or []:
        if r.destination.services is not None:
            errs.add("Services", r.destination.services.to_json(), "not allowed in ingress rule destination")


class _PolicyBase(Resource):
    def apply_defaults(self) -> None:
        spec = self.spec  # type: ignore[attr-defined]
        if not spec.types:
            spec.types = default_types(spec.ingress, spec.egress)
        if not spec.tier:
            spec.tier = DEFAULT_TIER
        labels = dict(self.metadata.labels or {})
        if labels.get(TIER_LABEL) != spec.tier:
            labels[TIER_LABEL] = spec.tier
            self.metadata.labels = labels


class NetworkPolicy(_PolicyBase):
    KIND = "NetworkPolicy"
    spec: NetworkPolicySpec = Field(default_factory=lambda: NetworkPolicySpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        spec = self.spec
        _common_spec_field_checks(errs, spec)
        check_policy_name(errs, self.metadata.name, NP_NAME_RE)
        _dup_types(errs, "NetworkPolicySpec.Types", spec.types)
        _service_placement(errs, spec, "not allowed in egress rule")
        if GLOBAL in spec.selector:
            errs.add("NetworkPolicySpec.Selector", spec.selector, GLOBAL_ENT_RULE_MSG)
        if GLOBAL in spec.service_account_selector:
            errs.add("NetworkPolicySpec.ServiceAccountSelector", spec.service_account_selector, GLOBAL_ENT_RULE_MSG)


class GlobalNetworkPolicy(_PolicyBase):
    KIND = "GlobalNetworkPolicy"
    spec: GlobalNetworkPolicySpec = Field(default_factory=lambda: GlobalNetworkPolicySpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        spec = self.spec
        _common_spec_field_checks(errs, spec)
        check_selector(errs, "NamespaceSelector", spec.namespace_selector)
        check_policy_name(errs, self.metadata.name, GNP_NAME_RE)
        if spec.do_not_track and spec.pre_dnat:
            errs.add("PolicySpec.PreDNAT", spec.pre_dnat,
                     "PreDNAT and DoNotTrack cannot both be true, for a given PolicySpec")
        if spec.pre_dnat and spec.egress:
            errs.add("PolicySpec.Egress", [r.to_json() for r in spec.egress],
                     "PreDNAT PolicySpec cannot have any Egress rules")
        if spec.pre_dnat and "Egress" in (spec.types or []):
            errs.add("PolicySpec.Types", spec.types, "PreDNAT PolicySpec cannot have 'egress' Type")
        if not spec.apply_on_forward and (spec.do_not_track or spec.pre_dnat):
            errs.add("PolicySpec.ApplyOnForward", spec.apply_on_forward,
                     "ApplyOnForward must be true if either PreDNAT or DoNotTrack is true, for a given PolicySpec")
        _dup_types(errs, "GlobalNetworkPolicySpec.Types", spec.types)
        _service_placement(errs, spec, "not allowed in egress rules")
        for r in spec.egress or []:
            if r.destination.services is not None and not r.destination.services.namespace:
                errs.add("Namespace", "", "must specify a namespace")
        for r in spec.ingress or []:
            if r.source.services is not None and not r.source.services.namespace:
                errs.add("Namespace", "", "must specify a namespace")
        for field, text in (("GlobalNetworkPolicySpec.Selector", spec.selector),
                            ("GlobalNetworkPolicySpec.ServiceAccountSelector", spec.service_account_selector),
                            ("GlobalNetworkPolicySpec.NamespaceSelector", spec.namespace_selector)):
            if GLOBAL in text:
                errs.add(field, text, GLOBAL_ENT_RULE_MSG)


# --- Tier -------------------------------------------------------------------------------------

_BUILTIN_TIER_ORDERS = {"default": (1_000_000.0, "1e+06"), "adminnetworkpolicy": (1000.0, "1000"),
                        "baselineadminnetworkpolicy": (10_000_000.0, "1e+07")}


class TierSpec(CalicoModel):
    order: float | None = None
    default_action: str | None = Field(None, alias="defaultAction")
    KEEP = frozenset({"order"})


class Tier(Resource):
    KIND = "Tier"
    spec: TierSpec = Field(default_factory=lambda: TierSpec.model_validate({}))

    def apply_defaults(self) -> None:
        if self.spec.default_action is None:
            self.spec.default_action = "Deny"

    def meta_checks(self, errs: Errs) -> None:
        super().meta_checks(errs)
        name = self.metadata.name
        if len(name) > 63:
            errs.add("Metadata.Name", name, f"name is too long by {len(name) - 63} bytes")
        if not TIER_NAME_RE.match(name):
            errs.add("Metadata.Name", name,
                     "name must consist of lower case alphanumeric characters or '-' (regex: "
                     "[a-z0-9]([-a-z0-9]*[a-z0-9])?)")
        builtin = _BUILTIN_TIER_ORDERS.get(name)
        if builtin is not None and self.spec.order != builtin[0]:
            errs.add("TierSpec.Order", self.spec.order, f"{name} tier order must be {builtin[1]}")

    def field_checks(self, errs: Errs) -> None:
        if self.spec.default_action not in (None, "Deny", "Pass"):
            errs.tag("DefaultAction", self.spec.default_action, "oneof")
