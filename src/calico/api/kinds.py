"""The table of v3 kinds: etcd plural, scope and the names calicoctl accepts for each."""

from __future__ import annotations

from calico.common.record import record

API_GROUP = "projectcalico.org"
API_VERSION = "projectcalico.org/v3"


@record
class KindInfo:
    kind: str
    plural: str  # etcd path segment
    namespaced: bool
    aliases: tuple[str, ...]  # lower-case names calicoctl accepts on the command line
    readonly: bool = False  # calicoctl create/apply/replace refuse it


KINDS: tuple[KindInfo, ...] = (
    KindInfo("IPPool", "ippools", False, ("ippool", "ippools", "ipp", "ipps", "pool", "pools")),
    KindInfo("IPReservation", "ipreservations", False,
             ("ipreservation", "ipreservations", "reservation", "reservations")),
    KindInfo("BGPPeer", "bgppeers", False, ("bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps")),
    KindInfo("BGPConfiguration", "bgpconfigurations", False,
             ("bgpconfiguration", "bgpconfigurations", "bgpconfig", "bgpconfigs")),
    KindInfo("BGPFilter", "bgpfilters", False, ("bgpfilter", "bgpfilters", "bgpf", "bgpfs", "bf", "bfs")),
    KindInfo("Node", "nodes", False, ("node", "nodes", "no", "nos")),
    KindInfo("Profile", "profiles", False, ("profile", "profiles", "pro", "pros")),
    KindInfo("NetworkPolicy", "networkpolicies", True,
             ("networkpolicy", "networkpolicies", "policy", "policies", "np", "nps", "pol", "pols")),
    KindInfo("GlobalNetworkPolicy", "globalnetworkpolicies", False,
             ("globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps")),
    KindInfo("Tier", "tiers", False, ("tier", "tiers")),
    KindInfo("HostEndpoint", "hostendpoints", False, ("hostendpoint", "hostendpoints", "hep", "heps")),
    KindInfo("WorkloadEndpoint", "workloadendpoints", True,
             ("workloadendpoint", "workloadendpoints", "wep", "weps")),
    KindInfo("NetworkSet", "networksets", True, ("networkset", "networksets", "netset", "netsets")),
    KindInfo("GlobalNetworkSet", "globalnetworksets", False,
             ("globalnetworkset", "globalnetworksets", "gnetset", "gnetsets")),
    KindInfo("FelixConfiguration", "felixconfigurations", False,
             ("felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs")),
    KindInfo("ClusterInformation", "clusterinformations", False,
             ("clusterinformation", "clusterinformations", "clusterinfo", "clusterinfos"), readonly=True),
    KindInfo("KubeControllersConfiguration", "kubecontrollersconfigurations", False,
             ("kubecontrollersconfiguration", "kubecontrollersconfigurations",
              "kubecontrollersconfig", "kubecontrollersconfigs")),
)

BY_KIND: dict[str, KindInfo] = {k.kind: k for k in KINDS}
BY_ALIAS: dict[str, KindInfo] = {a: k for k in KINDS for a in (*k.aliases, k.kind.lower())}
BY_PLURAL: dict[str, KindInfo] = {k.plural: k for k in KINDS}


def lookup_kind(name: str) -> KindInfo | None:
    """Resolve a kind as typed on the command line (case-insensitive, aliases and plurals)."""
    return BY_ALIAS.get(name.lower())
