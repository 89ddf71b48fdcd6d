"""HostEndpoint and WorkloadEndpoint, including Calico's derived WorkloadEndpoint names."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from calico.api.checks import CONTAINER_ID_RE, INTERFACE_RE, MAC_RE, Errs, name_ok
from calico.api.errors import FieldError
from calico.api.meta import CalicoModel, Resource
from calico.api.values import Protocol, parse_cidr_or_ip, parse_ip

NAMESPACE_LABEL = "projectcalico.org/namespace"
ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"
_IANA_SVC = re.compile(r"^[-a-z0-9]+$")


def _strict_net(text: str) -> bool:
    try:
        addr, net = parse_cidr_or_ip(text)
    except ValueError:
        return False
    return addr == net.network_address


def port_name_problems(name: str) -> bool:
    """k8s IsValidPortName failed (or empty)."""
    if not name or len(name) > 15 or not _IANA_SVC.match(name):
        return True
    return not re.search(r"[a-z]", name) or name.startswith("-") or name.endswith("-") or "--" in name


class EndpointPort(CalicoModel):
    name: str = ""
    protocol: Protocol = Field(Protocol("TCP"))
    port: int = 0
    ALWAYS = frozenset({"name", "protocol", "port"})

    def check(self, errs: Errs, prefix: str = "EndpointPort", name_required: bool = True) -> None:
        if (name_required or self.name) and port_name_problems(self.name):
            errs.tag("Name", self.name, "portName")
        if not 0 < self.port <= 65535:
            errs.tag("Port", self.port, "gt")
        if not self.protocol.supports_ports():
            errs.add(f"{prefix}.Protocol", self.protocol.value, f"{prefix} protocol does not support ports.")


class WorkloadEndpointPort(EndpointPort):
    host_port: int = Field(0, alias="hostPort")
    host_ip: str = Field("", alias="hostIP")
    ALWAYS = frozenset({"name", "protocol", "port", "host_port", "host_ip"})

    def check_wep(self, errs: Errs) -> None:
        self.check(errs, "WorkloadEndpointPort", name_required=False)
        if not self.name and self.host_port == 0:
            errs.add("WorkloadEndpointPort.Name", self.name,
                     "WorkloadEndpointPort name must not be empty if no HostPort is specified")
        if self.host_ip and not _strict_net(self.host_ip):
            errs.tag("HostIP", self.host_ip, "net")


class HostEndpointSpec(CalicoModel):
    node: str = ""
    interface_name: str = Field("", alias="interfaceName")
    expected_ips: list[str] | None = Field(None, alias="expectedIPs")
    profiles: list[str] | None = None
    ports: list[EndpointPort] | None = None


class HostEndpoint(Resource):
    KIND = "HostEndpoint"
    spec: HostEndpointSpec = Field(default_factory=lambda: HostEndpointSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        if s.node and not name_ok(s.node):
            errs.tag("Node", s.node, "name")
        if s.interface_name and not (s.interface_name == "*" or INTERFACE_RE.match(s.interface_name)):
            errs.tag("InterfaceName", s.interface_name, "interface")
        for i, ip in enumerate(s.expected_ips or []):
            if parse_ip(ip) is None:
                errs.tag(f"ExpectedIPs[{i}]", ip, "ip")
        for i, p in enumerate(s.profiles or []):
            if not name_ok(p):
                errs.tag(f"Profiles[{i}]", p, "name")
        for port in s.ports or []:
            port.check(errs)
        if not s.interface_name and not s.expected_ips:
            errs.add("InterfaceName", s.interface_name, "no interface or expected IPs have been specified")
        if not s.node:
            errs.add("InterfaceName", s.node, "no node has been specified")


class IPNAT(CalicoModel):
    internal_ip: str = Field("", alias="internalIP")
    external_ip: str = Field("", alias="externalIP")
    source: str = ""
    ALWAYS = frozenset({"internal_ip", "external_ip", "source"})


class WorkloadEndpointSpec(CalicoModel):
    orchestrator: str = ""
    workload: str = ""
    node: str = ""
    container_id: str = Field("", alias="containerID")
    pod: str = ""
    endpoint: str = ""
    service_account_name: str = Field("", alias="serviceAccountName")
    ip_networks: list[str] | None = Field(None, alias="ipNetworks")
    ip_nats: list[IPNAT] | None = Field(None, alias="ipNATs")
    ipv4_gateway: str = Field("", alias="ipv4Gateway")
    ipv6_gateway: str = Field("", alias="ipv6Gateway")
    profiles: list[str] | None = None
    interface_name: str = Field("", alias="interfaceName")
    mac: str = Field("", alias="mac")
    ports: list[WorkloadEndpointPort] | None = None
    allow_spoofed_source_prefixes: list[str] | None = Field(None, alias="allowSpoofedSourcePrefixes")
    qos_controls: dict[str, Any] | None = Field(None, alias="qosControls")


def _escape(segment: str) -> str:
    return segment.replace("-", "--")


def workload_endpoint_name(node: str, orchestrator: str, workload: str = "", endpoint: str = "",
                           pod: str = "", container_id: str = "") -> str:
    """Calico's WorkloadEndpoint name: ``<node>-<orch>-<workload|pod|containerID>-<endpoint>``, ``-`` doubled.

    Raises ValueError (InsufficientIdentifiers or a segment problem) when it cannot be derived.
    """
    from calico.api.errors import InsufficientIdentifiers

    if orchestrator == "k8s":
        middle, middle_name = pod, "pod"
    elif orchestrator == "cni":
        middle, middle_name = container_id, "containerID"
    elif orchestrator == "libnetwork":
        middle, middle_name = "libnetwork", "workload"
    else:
        middle, middle_name = workload, "workload"
    for value, name in ((node, "node"), (orchestrator, "orchestrator"), (middle, middle_name),
                        (endpoint, "endpoint")):
        if not value:
            raise InsufficientIdentifiers(name)
        if value.startswith("-") or value.endswith("-"):
            raise ValueError(f"{name} '{value}' cannot start or end with a '-'")
    return "-".join(_escape(s) for s in (node, orchestrator, middle, endpoint))


class WorkloadEndpoint(Resource):
    KIND = "WorkloadEndpoint"
    spec: WorkloadEndpointSpec = Field(default_factory=lambda: WorkloadEndpointSpec.model_validate({}))

    def expected_name(self) -> str:
        s = self.spec
        return workload_endpoint_name(s.node, s.orchestrator, s.workload, s.endpoint, s.pod, s.container_id)

    def apply_defaults(self) -> None:
        if not self.metadata.name:
            try:
                self.metadata.name = self.expected_name()
            except ValueError:
                pass
        labels = dict(self.metadata.labels or {})
        if self.metadata.namespace:
            labels[NAMESPACE_LABEL] = self.metadata.namespace
        if self.spec.orchestrator:
            labels[ORCHESTRATOR_LABEL] = self.spec.orchestrator
        if labels:
            self.metadata.labels = labels

    def client_checks(self) -> list[FieldError]:
        try:
            expected = self.expected_name()
        except ValueError as exc:
            return [FieldError("Metadata.Name", self.metadata.name, str(exc))]
        if self.metadata.name != expected:
            return [FieldError("Name", self.metadata.name,
                               "the WorkloadEndpoint name does not match the primary identifiers assigned in the "
                               f"Spec: expected name {expected}")]
        return []

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        for field, value in (("Orchestrator", s.orchestrator), ("Workload", s.workload), ("Node", s.node),
                             ("Pod", s.pod), ("Endpoint", s.endpoint),
                             ("ServiceAccountName", s.service_account_name)):
            if value and not name_ok(value):
                errs.tag(field, value, "name")
        if s.container_id and not CONTAINER_ID_RE.match(s.container_id):
            errs.tag("ContainerID", s.container_id, "containerID")
        for i, n in enumerate(s.ip_networks or []):
            if not _strict_net(n):
                errs.tag(f"IPNetworks[{i}]", n, "net")
        for field, gw, version in (("IPv4Gateway", s.ipv4_gateway, 4), ("IPv6Gateway", s.ipv6_gateway, 6)):
            if gw:
                addr = parse_ip(gw)
                if addr is None or addr.version != version:
                    errs.tag(field, gw, f"ipv{version}")
        for i, p in enumerate(s.profiles or []):
            if not name_ok(p):
                errs.tag(f"Profiles[{i}]", p, "name")
        if not INTERFACE_RE.match(s.interface_name):
            errs.tag("InterfaceName", s.interface_name, "interface")
        if s.mac and not MAC_RE.match(s.mac):
            errs.tag("MAC", s.mac, "mac")
        for port in s.ports or []:
            port.check_wep(errs)
        for i, n in enumerate(s.allow_spoofed_source_prefixes or []):
            try:
                parse_cidr_or_ip(n)
            except ValueError:
                errs.tag(f"AllowSpoofedSourcePrefixes[{i}]", n, "cidr")
        for nat in s.ip_nats or []:
            self._check_nat(errs, nat)
        self._struct_check(errs)

    @staticmethod
    def _check_nat(errs: Errs, nat: IPNAT) -> None:
        """validateIPNAT."""
        versions = []
        for ip in (nat.internal_ip, nat.external_ip):
            try:
                versions.append(parse_cidr_or_ip(ip)[0].version)
            except ValueError:
                errs.add("InternalIP", nat.external_ip, "invalid IP address")
        if len(versions) == 2 and versions[0] != versions[1]:
            errs.add("ExternalIP", nat.external_ip, "mismatched IP versions")

    def _struct_check(self, errs: Errs) -> None:
        """validateWorkloadEndpointSpec."""
        s = self.spec
        nets = []
        for n in s.ip_networks or []:
            try:
                _, net = parse_cidr_or_ip(n)
            except ValueError:
                errs.add("IPNetworks", n, "invalid CIDR")
                continue
            nets.append(net)
            if net.prefixlen != net.max_prefixlen:
                errs.add("IPNetworks", s.ip_networks, "IP network contains multiple addresses")
        if s.ip_nats:
            valid = False
            for nat in s.ip_nats:
                try:
                    nat_ip = parse_cidr_or_ip(nat.internal_ip)[0]
                except ValueError:
                    errs.add("IPNATs", nat.internal_ip, "invalid InternalIP CIDR")
                    valid = False
                    break
                valid = any(nat_ip in net for net in nets)
                if not valid:
                    break
            if not valid:
                errs.add("IPNATs", [n.to_json() for n in s.ip_nats], "NAT is not in the endpoint networks")
