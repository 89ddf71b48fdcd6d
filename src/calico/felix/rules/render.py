"""The pure rule renderer: messages in, iptables chains out (felix.md §2).

Everything here is deterministic and I/O free.  The dataplane writes, per IP version and table:
``static_chains`` + ``dynamic chains`` (dispatch, nat-outgoing, floating IPs -- always, rendered
from empty inputs at start) + per-policy/profile/endpoint chains (endpoint chains come with the
shared ``cali-gi-``/``cali-go-`` policy-group chains they use; see ``groups.py``), and the hooks from
``kernel_hooks`` (insert or append per ``RenderConfig.chain_insert_mode``) and ``kernel_appends``
(always appended).  Chains are Chain/Rule values from ``calico.felix.rules.model``; the Table
driver adds the ``cali:<hash>`` comments.  Rule text uses Go Felix's long forms (``--jump``,
``--goto``, ``--in-interface`` ...) so those hashes match a host programmed by Go Felix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from calico.felix.messages import (
    ALL_POOLS_SET_ID,
    MASQ_POOLS_SET_ID,
    NatInfo,
    ParsedPolicy,
    ParsedProfile,
    PolicyID,
    ProfileID,
    TierInfo,
    WorkloadEndpointInfo,
)
from calico.felix.messages import HostEndpointInfo as HostEndpointInfo
from calico.felix.rules import endpoints as ep
from calico.felix.rules import names
from calico.felix.rules import static as st
from calico.felix.rules.config import RenderConfig
from calico.felix.rules.dispatch import dispatch_tree
from calico.felix.rules.model import Chain, Rule
from calico.felix.rules.policy import rules_chain

FILTER, NAT, MANGLE, RAW = st.FILTER, st.NAT, st.MANGLE, st.RAW
WILDCARD_HEP_IFACE = "any-interface-at-all"  # deliberately longer than IFNAMSIZ


def count_rules(chains: Iterable[Chain]) -> int:
    """Total number of rules in some chains (for the rules-grow-additively benchmark)."""
    return sum(len(c.rules) for c in chains)


def policy_table(policy: ParsedPolicy) -> str:
    """The table a policy's chains belong in: raw (untracked), mangle (pre-DNAT) or filter."""
    if policy.untracked:
        return RAW
    if policy.pre_dnat:
        return MANGLE
    return FILTER


class RuleRenderer:
    """Renders Calico's iptables chains for one configuration (both IP versions)."""

    def __init__(self, config: RenderConfig) -> None:
        self.config = config

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def chain_name(prefix: str, suffix: str) -> str:
        """Length-limited chain name (≤28 chars, hashed suffix when too long)."""
        return names.chain_name(prefix, suffix)

    @staticmethod
    def ipset_name(set_id: str, ip_version: int) -> str:
        """Kernel name of an IP set: ``cali40<id>`` / ``cali60<id>`` (≤31 chars)."""
        return names.ipset_name(set_id, ip_version)

    @staticmethod
    def policy_chain_names(policy_id: PolicyID) -> tuple[str, str]:
        """(inbound ``cali-pi-…``, outbound ``cali-po-…``) chain names of a policy."""
        return (ep.policy_chain_name(ep.POLICY_IN, policy_id), ep.policy_chain_name(ep.POLICY_OUT, policy_id))

    @staticmethod
    def profile_chain_names(profile_id: ProfileID | str) -> tuple[str, str]:
        name = profile_id.name if isinstance(profile_id, ProfileID) else profile_id
        return (ep.profile_chain_name(ep.PROFILE_IN, name), ep.profile_chain_name(ep.PROFILE_OUT, name))

    # -- static ----------------------------------------------------------------------------

    def static_chains(self, ip_version: int) -> dict[str, list[Chain]]:
        """Chains that depend only on config, by table (raw, mangle, nat, filter).  They jump to
        the dynamic chains listed in ``calico.felix.rules.static.DYNAMIC_CHAINS``."""
        return st.static_chains(self.config, ip_version)

    def kernel_hooks(self, ip_version: int, *, host_endpoints: bool = True,
                     floating_ips: bool = True) -> dict[str, dict[str, list[Rule]]]:
        """{table: {kernel chain: rules}} to insert (ChainInsertMode insert) or append.  Pass
        ``host_endpoints=False`` while no host endpoint exists: raw and mangle then get no hook
        (unless VXLAN needs raw's NOTRACK), so packets skip two tables; the dataplane must call
        again (and remove the dropped hooks) when the first host endpoint appears.
        ``floating_ips=False`` likewise leaves out the nat PREROUTING/OUTPUT hooks."""
        return st.kernel_hooks(self.config, host_endpoints, floating_ips)

    def kernel_appends(self, ip_version: int) -> dict[str, dict[str, list[Rule]]]:
        """{table: {kernel chain: rules}} always appended (nat POSTROUTING, filter FORWARD tail)."""
        return st.kernel_appends(self.config)

    def dynamic_chains(self, ip_version: int, *, workload_ifaces: Iterable[str] = (),
                       host_endpoints: Mapping[str, HostEndpointInfo] | None = None,
                       masq_pools_present: bool = False, nats: Iterable[NatInfo] = ()) -> dict[str, list[Chain]]:
        """All state-dependent shared chains by table: workload and host dispatch, nat-outgoing,
        floating-IP chains.  With default arguments: the start-of-day (fail-closed) versions."""
        out: dict[str, list[Chain]] = {t: [] for t in st.TABLES}
        out[FILTER] += self.workload_dispatch_chains(workload_ifaces, ip_version)
        for table, chains in self.host_dispatch_chains(host_endpoints or {}, ip_version).items():
            out[table] += chains
        out[NAT].append(self.nat_outgoing_chain(masq_pools_present, ip_version))
        out[NAT] += self.floating_ip_chains(nats, ip_version)
        return out

    # -- policies and profiles -------------------------------------------------------------

    def policy_chains(self, policy_id: PolicyID, policy: ParsedPolicy, ip_version: int) -> list[Chain]:
        """``cali-pi-<id>`` and ``cali-po-<id>``; they belong in ``policy_table(policy)``."""
        deny = "DROP" if policy.untracked or policy.pre_dnat else self.config.filter_deny_action
        pi, po = self.policy_chain_names(policy_id)
        what = f"{'Policy' if not policy_id.namespace else 'NetworkPolicy'} {policy_id.display()}"
        return [
            rules_chain(pi, policy.inbound_rules, ip_version, self.config, comment=f"{what} ingress", deny_action=deny),
            rules_chain(po, policy.outbound_rules, ip_version, self.config, comment=f"{what} egress", deny_action=deny),
        ]

    def profile_chains(self, profile_id: ProfileID, profile: ParsedProfile, ip_version: int) -> list[Chain]:
        """``cali-pri-<name>`` and ``cali-pro-<name>`` (filter table)."""
        pri, pro = self.profile_chain_names(profile_id)
        deny = self.config.filter_deny_action
        return [
            rules_chain(pri, profile.inbound_rules, ip_version, self.config,
                        comment=f"Profile {profile_id.name} ingress", deny_action=deny),
            rules_chain(pro, profile.outbound_rules, ip_version, self.config,
                        comment=f"Profile {profile_id.name} egress", deny_action=deny),
        ]

    # -- endpoints -------------------------------------------------------------------------

    def workload_endpoint_chains(self, ifname: str, endpoint: WorkloadEndpointInfo, ip_version: int) -> list[Chain]:
        """``cali-tw-<iface>`` (to workload: ingress policy) and ``cali-fw-<iface>`` (from
        workload: anti-spoofing then egress policy), filter table, followed by the policy-group
        chains (``cali-gi-``/``cali-go-``) they jump to.  Group chains are shared: other endpoints
        with the same per-tier policy lists return the same chains (identical name and rules), so
        the dataplane reference-counts them by name."""
        cfg = self.config
        admin_up = endpoint.state == "active"
        own = endpoint.ipv4_nets if ip_version == 4 else endpoint.ipv6_nets
        spoof_ok = [p for p in endpoint.allow_spoofed_source_prefixes if (":" in p) == (ip_version == 6)]
        groups: dict[str, Chain] = {}

        def body(ingress: bool, anti_spoof: Sequence[str] | None) -> list[Rule]:
            return ep.endpoint_rules(cfg, ip_version=ip_version, admin_up=admin_up, tiers=endpoint.tiers,
                                     ingress=ingress, profile_ids=endpoint.profile_ids, kind=ep.WORKLOAD,
                                     deny=cfg.filter_deny_action, anti_spoof=anti_spoof,
                                     drop_encap=not ingress, groups=groups)

        to_rules = body(True, None)
        from_rules = body(False, [*own, *spoof_ok])
        return [Chain(names.chain_name("cali-tw-", ifname), tuple(to_rules)),
                Chain(names.chain_name("cali-fw-", ifname), tuple(from_rules)),
                *groups.values()]

    def host_endpoint_chains(self, ifname: str, endpoint: HostEndpointInfo, ip_version: int) -> dict[str, list[Chain]]:
        """By table: filter ``cali-th-``/``cali-fh-`` (normal policy + profiles, failsafes) and
        ``cali-thfw-``/``cali-fhfw-`` (applyOnForward); mangle ``cali-fh-`` when pre-DNAT
        policies apply; raw ``cali-th-``/``cali-fh-`` when untracked policies apply.  Each table's
        list ends with the (shared, see ``workload_endpoint_chains``) policy-group chains its
        endpoint chains jump to.
        ``ifname`` is the interface, or ``WILDCARD_HEP_IFACE`` for ``interfaceName: "*"``."""
        cfg = self.config
        deny = cfg.filter_deny_action
        cn = names.chain_name
        prof = endpoint.profile_ids
        if ifname == "*":
            ifname = WILDCARD_HEP_IFACE

        groups: dict[str, dict[str, Chain]] = {FILTER: {}, MANGLE: {}, RAW: {}}

        def body(tiers: Sequence[TierInfo], ingress: bool, kind: ep.ChainKind, d: str = deny,
                 table: str = FILTER) -> tuple[Rule, ...]:
            return tuple(ep.endpoint_rules(cfg, ip_version=ip_version, admin_up=True, tiers=tiers,
                                           ingress=ingress, profile_ids=prof, kind=kind, deny=d,
                                           groups=groups[table]))

        host_in = ep.ChainKind(failsafe=st.CHAIN_FAILSAFE_IN)
        host_out = ep.ChainKind(failsafe=st.CHAIN_FAILSAFE_OUT)
        out: dict[str, list[Chain]] = {
            FILTER: [Chain(cn("cali-th-", ifname), body(endpoint.tiers, False, host_out)),
                     Chain(cn("cali-fh-", ifname), body(endpoint.tiers, True, host_in)),
                     Chain(cn("cali-thfw-", ifname), body(endpoint.forward_tiers, False, ep.FORWARD)),
                     Chain(cn("cali-fhfw-", ifname), body(endpoint.forward_tiers, True, ep.FORWARD))],
            MANGLE: [], RAW: [], NAT: []}
        if _has_policies(endpoint.pre_dnat_tiers, ingress=True):
            kind = ep.ChainKind(conntrack=False, failsafe=st.CHAIN_FAILSAFE_IN, end_of_tier_drop=False,
                                profiles=False, final_drop=False)
            out[MANGLE].append(Chain(cn("cali-fh-", ifname),
                                     body(endpoint.pre_dnat_tiers, True, kind, "DROP", MANGLE)))
        if _has_policies(endpoint.untracked_tiers, ingress=True) or _has_policies(endpoint.untracked_tiers,
                                                                                 ingress=False):
            k_in = ep.ChainKind(conntrack=False, failsafe=st.CHAIN_FAILSAFE_IN, end_of_tier_drop=False,
                                profiles=False, final_drop=False, untracked=True)
            k_out = ep.ChainKind(conntrack=False, failsafe=st.CHAIN_FAILSAFE_OUT, end_of_tier_drop=False,
                                 profiles=False, final_drop=False, untracked=True)
            out[RAW] += [Chain(cn("cali-th-", ifname), body(endpoint.untracked_tiers, False, k_out, "DROP", RAW)),
                         Chain(cn("cali-fh-", ifname), body(endpoint.untracked_tiers, True, k_in, "DROP", RAW))]
        for table, chains in groups.items():
            out[table] += chains.values()
        return out

    # -- dispatch --------------------------------------------------------------------------

    def workload_dispatch_chains(self, ifnames: Iterable[str], ip_version: int) -> list[Chain]:
        """``cali-from-wl-dispatch`` and ``cali-to-wl-dispatch`` (+ children), each ending in a
        drop of unknown workload interfaces (fail closed)."""
        names_ = sorted(set(ifnames))
        end = (Rule("", f"--jump {self.config.filter_deny_action}", "Unknown interface"),)
        return [
            *dispatch_tree(st.CHAIN_FROM_WL_DISPATCH, names_, "-i",
                           lambda n: names.chain_name("cali-fw-", n), end),
            *dispatch_tree(st.CHAIN_TO_WL_DISPATCH, names_, "-o",
                           lambda n: names.chain_name("cali-tw-", n), end),
        ]

    def host_dispatch_chains(self, endpoints: Mapping[str, HostEndpointInfo],
                             ip_version: int) -> dict[str, list[Chain]]:
        """Host endpoint dispatch by table, keyed by interface name (``*`` or
        ``WILDCARD_HEP_IFACE`` = all interfaces).  Unknown interfaces fall through (RETURN),
        unless a wildcard host endpoint exists, whose chains then catch them."""
        eps = {(WILDCARD_HEP_IFACE if k == "*" else k): v for k, v in endpoints.items()}
        wildcard = WILDCARD_HEP_IFACE in eps
        named = sorted(k for k in eps if k != WILDCARD_HEP_IFACE)
        cn = names.chain_name

        def tree(root: str, ifaces: list[str], flag: str, prefix: str, all_ifaces: bool,
                 head: tuple[Rule, ...] = ()) -> list[Chain]:
            end = (Rule("", f"--goto {cn(prefix, WILDCARD_HEP_IFACE)}"),) if all_ifaces else ()
            return dispatch_tree(root, ifaces, flag, lambda n: cn(prefix, n), end, head)

        skip_wl = tuple(Rule(f"--out-interface {p}+", "--jump RETURN",
                             "Skip egress WHEP policy for traffic to local workload")
                        for p in self.config.workload_iface_prefixes) if wildcard else ()
        out: dict[str, list[Chain]] = {FILTER: [], MANGLE: [], RAW: [], NAT: []}
        out[FILTER] += tree(st.CHAIN_FROM_HOST_ENDPOINT, named, "-i", "cali-fh-", wildcard)
        out[FILTER] += tree(st.CHAIN_TO_HOST_ENDPOINT, named, "-o", "cali-th-", wildcard, skip_wl)
        out[FILTER] += tree(st.CHAIN_FROM_HEP_FORWARD, named, "-i", "cali-fhfw-", wildcard)
        out[FILTER] += tree(st.CHAIN_TO_HEP_FORWARD, named, "-o", "cali-thfw-", wildcard)

        def having(attr: str, ingress: bool) -> tuple[list[str], bool]:
            sel = [k for k, v in eps.items() if _has_policies(getattr(v, attr), ingress)]
            return sorted(k for k in sel if k != WILDCARD_HEP_IFACE), WILDCARD_HEP_IFACE in sel

        pre, pre_wild = having("pre_dnat_tiers", True)
        out[MANGLE] += tree(st.CHAIN_FROM_HOST_ENDPOINT, pre, "-i", "cali-fh-", pre_wild)
        unt_in, unt_in_wild = having("untracked_tiers", True)
        unt_out, unt_out_wild = having("untracked_tiers", False)
        raw_eps = sorted(set(unt_in) | set(unt_out))
        raw_wild = unt_in_wild or unt_out_wild
        out[RAW] += tree(st.CHAIN_FROM_HOST_ENDPOINT, raw_eps, "-i", "cali-fh-", raw_wild)
        out[RAW] += tree(st.CHAIN_TO_HOST_ENDPOINT, raw_eps, "-o", "cali-th-", raw_wild)
        return out

    # -- NAT -------------------------------------------------------------------------------

    def nat_outgoing_rules(self, masq_pools_present: bool, ip_version: int) -> list[Rule]:
        """Rules of ``cali-nat-outgoing``: masquerade traffic from natOutgoing pools to anywhere
        outside all pools.  Empty when no pool masquerades."""
        if not masq_pools_present:
            return []
        cfg = self.config
        match = (f"-m set --match-set {names.ipset_name(MASQ_POOLS_SET_ID, ip_version)} src "
                 f"-m set ! --match-set {names.ipset_name(ALL_POOLS_SET_ID, ip_version)} dst")
        if cfg.nat_outgoing_interface_filter:
            match += f" -o {cfg.nat_outgoing_interface_filter}"
        if cfg.nat_outgoing_address and ip_version == 4:
            target = f"--jump SNAT --to-source {cfg.nat_outgoing_address}"
        else:
            target = "--jump MASQUERADE"
        random = " --random-fully" if cfg.masq_random_fully else ""
        rules: list[Rule] = []
        if cfg.nat_port_range:
            ports = cfg.nat_port_range.replace(":", "-")
            ported = (f"{target}:{ports}" if target.startswith("--jump SNAT") else f"{target} --to-ports {ports}")
            for proto in ("tcp", "udp"):
                rules.append(Rule(f"-p {proto} {match}", ported + random))
                rules.append(Rule(f"-p {proto} {match}", "--jump RETURN"))
        rules.append(Rule(match, target + random))
        return rules

    def nat_outgoing_chain(self, masq_pools_present: bool, ip_version: int) -> Chain:
        return Chain(st.CHAIN_NAT_OUTGOING, tuple(self.nat_outgoing_rules(masq_pools_present, ip_version)))

    def floating_ip_chains(self, nats: Iterable[NatInfo], ip_version: int) -> list[Chain]:
        """``cali-fip-dnat`` / ``cali-fip-snat`` (nat table) for the endpoints' 1:1 NATs."""
        plen = 32 if ip_version == 4 else 128
        fam = sorted({(n.ext_ip, n.int_ip) for n in nats if (":" in n.ext_ip) == (ip_version == 6)})
        dnat = tuple(Rule(f"--destination {e}/{plen}", f"--jump DNAT --to-destination {i}") for e, i in fam)
        snat = tuple(Rule(f"--source {i}/{plen} --destination {i}/{plen}", f"--jump SNAT --to-source {e}")
                     for e, i in fam)
        return [Chain(st.CHAIN_FIP_DNAT, dnat), Chain(st.CHAIN_FIP_SNAT, snat)]


def _has_policies(tiers: Iterable[TierInfo], ingress: bool) -> bool:
    return any(t.ingress_policies if ingress else t.egress_policies for t in tiers)
