"""Calico's static chains and kernel-chain hooks (felix.md §2.1, §2.3)."""

from __future__ import annotations

from calico.felix.messages import ALL_HOSTS_SET_ID, ALL_VXLAN_SET_ID
from calico.felix.rules.config import ProtoPort, RenderConfig
from calico.felix.rules.dispatch import LONG_IFACE_FLAGS
from calico.felix.rules.model import Chain, Rule
from calico.felix.rules.names import ipset_name, sanitize_comment
from calico.felix.rules.policy import deny_word, mark_clear, mark_set, match_mark_clear, match_mark_set

FILTER, NAT, MANGLE, RAW = "filter", "nat", "mangle", "raw"
TABLES = (RAW, MANGLE, NAT, FILTER)

CHAIN_FILTER_INPUT = "cali-INPUT"
CHAIN_FILTER_FORWARD = "cali-FORWARD"
CHAIN_FILTER_OUTPUT = "cali-OUTPUT"
CHAIN_PREROUTING = "cali-PREROUTING"
CHAIN_POSTROUTING = "cali-POSTROUTING"
CHAIN_OUTPUT = "cali-OUTPUT"
CHAIN_WL_TO_HOST = "cali-wl-to-host"
CHAIN_FROM_WL_DISPATCH = "cali-from-wl-dispatch"
CHAIN_TO_WL_DISPATCH = "cali-to-wl-dispatch"
CHAIN_FROM_HOST_ENDPOINT = "cali-from-host-endpoint"
CHAIN_TO_HOST_ENDPOINT = "cali-to-host-endpoint"
CHAIN_FROM_HEP_FORWARD = "cali-from-hep-forward"
CHAIN_TO_HEP_FORWARD = "cali-to-hep-forward"
CHAIN_FAILSAFE_IN = "cali-failsafe-in"
CHAIN_FAILSAFE_OUT = "cali-failsafe-out"
CHAIN_NAT_OUTGOING = "cali-nat-outgoing"
CHAIN_FIP_DNAT = "cali-fip-dnat"
CHAIN_FIP_SNAT = "cali-fip-snat"

# Chains the static chains reference whose contents depend on state: the dataplane must always
# write them (rendered from empty inputs at start) -- see RuleRenderer.dynamic_chains().
DYNAMIC_CHAINS: dict[str, tuple[str, ...]] = {
    FILTER: (CHAIN_FROM_WL_DISPATCH, CHAIN_TO_WL_DISPATCH, CHAIN_FROM_HOST_ENDPOINT, CHAIN_TO_HOST_ENDPOINT,
             CHAIN_FROM_HEP_FORWARD, CHAIN_TO_HEP_FORWARD),
    RAW: (CHAIN_FROM_HOST_ENDPOINT, CHAIN_TO_HOST_ENDPOINT),
    MANGLE: (CHAIN_FROM_HOST_ENDPOINT,),
    NAT: (CHAIN_NAT_OUTGOING, CHAIN_FIP_DNAT, CHAIN_FIP_SNAT),
}

_CT_ESTABLISHED = "-m conntrack --ctstate RELATED,ESTABLISHED"


def _c(text: str) -> str:
    return sanitize_comment(text)


def _wl_iface_matches(cfg: RenderConfig, flag: str) -> list[str]:
    flag = LONG_IFACE_FLAGS.get(flag, flag)
    return [f"{flag} {p}+" for p in cfg.workload_iface_prefixes]


def _port_match(pp: ProtoPort, direction: str) -> str:
    """Go Felix's ``Protocol(p).DestPorts(n)`` / ``SourcePorts(n)`` text."""
    side = "destination" if direction == "dport" else "source"
    return f"-p {pp.protocol.lower()} -m multiport --{side}-ports {pp.port}"


def vxlan_match(cfg: RenderConfig) -> str:
    """Go Felix's ``ProtocolNum(17).DestPorts(VXLANPort)``."""
    return f"-p 17 -m multiport --destination-ports {cfg.vxlan_port}"


def failsafe_chains(cfg: RenderConfig, ip_version: int, *, raw: bool) -> list[Chain]:
    """cali-failsafe-in/out; the raw copies also allow the reply direction (source port)."""
    def entries(ports: tuple[ProtoPort, ...], direction: str, net_flag: str) -> list[Rule]:
        rules = []
        for pp in ports:
            if pp.net and (":" in pp.net) != (ip_version == 6):
                continue
            net = f" {net_flag} {pp.net}" if pp.net else ""
            rules.append(Rule(_port_match(pp, direction) + net, "--jump ACCEPT"))
        return rules

    inbound = entries(cfg.failsafe_inbound, "dport", "--source")
    outbound = entries(cfg.failsafe_outbound, "dport", "--destination")
    if raw:
        inbound += entries(cfg.failsafe_outbound, "sport", "--source")
        outbound += entries(cfg.failsafe_inbound, "sport", "--destination")
    return [Chain(CHAIN_FAILSAFE_IN, tuple(inbound)), Chain(CHAIN_FAILSAFE_OUT, tuple(outbound))]


def _filter_input(cfg: RenderConfig, ip_version: int) -> Chain:
    allow = f"--jump {cfg.filter_allow_action}"
    rules: list[Rule] = []
    if cfg.ipip_enabled and ip_version == 4:
        hosts = ipset_name(ALL_HOSTS_SET_ID, ip_version)
        rules.append(Rule(f"-p 4 -m set --match-set {hosts} src -m addrtype --dst-type LOCAL", allow,
                          _c("Allow IPIP packets from Calico hosts")))
        rules.append(Rule("-p 4", f"--jump {cfg.filter_deny_action}",
                          _c(f"{deny_word(cfg.filter_deny_action)} IPIP packets from non-Calico hosts")))
    if cfg.vxlan_enabled:
        vx = ipset_name(ALL_VXLAN_SET_ID, ip_version)
        udp = vxlan_match(cfg)
        rules.append(Rule(f"{udp} -m set --match-set {vx} src -m addrtype --dst-type LOCAL", allow,
                          _c(f"Allow IPv{ip_version} VXLAN packets from allowed hosts")))
        # Go Felix always drops (not the deny action) for IPv4 here
        deny = "DROP" if ip_version == 4 else cfg.filter_deny_action
        rules.append(Rule(f"{udp} -m addrtype --dst-type LOCAL", f"--jump {deny}",
                          _c(f"{deny_word(deny)} IPv{ip_version} VXLAN packets from non-allowed hosts")))
    rules += [Rule(m, f"--goto {CHAIN_WL_TO_HOST}") for m in _wl_iface_matches(cfg, "-i")]
    rules.append(Rule(match_mark_set(cfg.mark_accept), allow))
    rules.append(Rule("", mark_clear(cfg.all_calico_marks)))
    rules.append(Rule("", f"--jump {CHAIN_FROM_HOST_ENDPOINT}"))
    rules.append(Rule(match_mark_set(cfg.mark_accept), allow, _c("Host endpoint policy accepted packet.")))
    return Chain(CHAIN_FILTER_INPUT, tuple(rules))


def _filter_forward(cfg: RenderConfig) -> Chain:
    rules: list[Rule] = []
    if cfg.conntrack_fast_path and cfg.filter_allow_action == "ACCEPT":
        # A workload flow is established only after its first packet passed dispatch and policy
        # (and Felix deletes the conntrack entries of an endpoint whose route goes away), so its
        # later packets can skip the dispatch trees.  Non-workload traffic is left to the host.
        for flag in ("-i", "-o"):
            rules += [Rule(f"{m} {_CT_ESTABLISHED}", "--jump ACCEPT",
                           _c("Accept established workload traffic before dispatch"))
                      for m in _wl_iface_matches(cfg, flag)]
    rules += [Rule("", mark_clear(cfg.all_calico_marks & ~cfg.mark_accept)),
              Rule(match_mark_clear(cfg.mark_accept), f"--jump {CHAIN_FROM_HEP_FORWARD}")]
    rules += [Rule(m, f"--jump {CHAIN_FROM_WL_DISPATCH}") for m in _wl_iface_matches(cfg, "-i")]
    rules += [Rule(m, f"--jump {CHAIN_TO_WL_DISPATCH}") for m in _wl_iface_matches(cfg, "-o")]
    rules.append(Rule("", f"--jump {CHAIN_TO_HEP_FORWARD}"))
    return Chain(CHAIN_FILTER_FORWARD, tuple(rules))


def _filter_output(cfg: RenderConfig, ip_version: int) -> Chain:
    allow = f"--jump {cfg.filter_allow_action}"
    rules = [Rule(match_mark_set(cfg.mark_accept), allow)]
    rules += [Rule(m, "--jump RETURN") for m in _wl_iface_matches(cfg, "-o")]
    if cfg.ipip_enabled and ip_version == 4:
        hosts = ipset_name(ALL_HOSTS_SET_ID, ip_version)
        rules.append(Rule(f"-p 4 -m set --match-set {hosts} dst -m addrtype --src-type LOCAL", allow,
                          _c("Allow IPIP packets to other Calico hosts")))
    if cfg.vxlan_enabled:
        vx = ipset_name(ALL_VXLAN_SET_ID, ip_version)
        rules.append(Rule(f"{vxlan_match(cfg)} -m addrtype --src-type LOCAL -m set --match-set {vx} dst", allow,
                          _c(f"Allow IPv{ip_version} VXLAN packets to other allowed hosts")))
    rules.append(Rule("", mark_clear(cfg.all_calico_marks)))
    rules.append(Rule("", f"--jump {CHAIN_TO_HOST_ENDPOINT}"))
    rules.append(Rule(match_mark_set(cfg.mark_accept), allow, _c("Host endpoint policy accepted packet.")))
    return Chain(CHAIN_FILTER_OUTPUT, tuple(rules))


def _wl_to_host(cfg: RenderConfig, ip_version: int) -> Chain:
    allow = f"--jump {cfg.filter_allow_action}"
    rules: list[Rule] = []
    if ip_version == 6:
        for icmp_type in (130, 131, 132, 133, 135, 136):
            rules.append(Rule(f"-p 58 -m icmp6 --icmpv6-type {icmp_type}", allow))
    rules.append(Rule("", f"--jump {CHAIN_FROM_WL_DISPATCH}"))
    action = cfg.default_endpoint_to_host_action.upper()
    target = {"ACCEPT": cfg.filter_allow_action, "RETURN": "RETURN"}.get(action, cfg.filter_deny_action)
    if target != "RETURN":
        rules.append(Rule("", f"--jump {target}", _c("Configured DefaultEndpointToHostAction")))
    return Chain(CHAIN_WL_TO_HOST, tuple(rules))


def _raw_chains(cfg: RenderConfig) -> list[Chain]:
    """raw cali-PREROUTING / cali-OUTPUT.  Go Felix flags workload packets with Scratch0 and skips
    the host-endpoint (untracked) dispatch for them; here they return at once: nothing in raw
    applies to them (no untracked workload policy; anti-spoofing is in cali-fw-), so the hot path
    costs one rule instead of four.  Their mark needs no clearing: a packet crossing from a
    workload's namespace arrives with mark 0, and the filter chains clear it again anyway."""
    pre: list[Rule] = [Rule(m, "--jump RETURN") for m in _wl_iface_matches(cfg, "-i")]
    pre.append(Rule("", mark_clear(cfg.all_calico_marks)))
    if cfg.vxlan_enabled:
        pre.append(Rule(f"-p udp -m udp --dport {cfg.vxlan_port}", "--jump NOTRACK"))
    pre.append(Rule("", f"--jump {CHAIN_FROM_HOST_ENDPOINT}"))
    pre.append(Rule(match_mark_set(cfg.mark_accept), "--jump ACCEPT"))
    out: list[Rule] = [Rule("", mark_clear(cfg.all_calico_marks)), Rule("", f"--jump {CHAIN_TO_HOST_ENDPOINT}")]
    if cfg.vxlan_enabled:
        out.append(Rule(f"-p udp -m udp --dport {cfg.vxlan_port}", "--jump NOTRACK"))
    out.append(Rule(match_mark_set(cfg.mark_accept), "--jump ACCEPT"))
    return [Chain(CHAIN_PREROUTING, tuple(pre)), Chain(CHAIN_OUTPUT, tuple(out))]


def _mangle_prerouting(cfg: RenderConfig) -> Chain:
    allow = f"--jump {cfg.mangle_allow_action}"
    return Chain(CHAIN_PREROUTING, (
        Rule(_CT_ESTABLISHED, allow),
        Rule(match_mark_set(cfg.mark_accept), allow),
        Rule("", f"--jump {CHAIN_FROM_HOST_ENDPOINT}"),
        Rule(match_mark_set(cfg.mark_accept), allow, _c("Host endpoint policy accepted packet.")),
    ))


def _nat_chains(cfg: RenderConfig, ip_version: int) -> list[Chain]:
    post: list[Rule] = [Rule("", f"--jump {CHAIN_FIP_SNAT}"), Rule("", f"--jump {CHAIN_NAT_OUTGOING}")]
    devices: list[str] = []
    if cfg.ipip_enabled and ip_version == 4:
        devices.append(cfg.ipip_device)
    if cfg.vxlan_enabled:
        devices.append(cfg.vxlan_device if ip_version == 4 else cfg.vxlan_device_v6)
    masq = "--jump MASQUERADE --random-fully" if cfg.masq_random_fully else "--jump MASQUERADE"
    for dev in devices:
        post.append(Rule(f"--out-interface {dev} -m addrtype ! --src-type LOCAL --limit-iface-out "
                         "-m addrtype --src-type LOCAL", masq))
    return [Chain(CHAIN_PREROUTING, (Rule("", f"--jump {CHAIN_FIP_DNAT}"),)),
            Chain(CHAIN_OUTPUT, (Rule("", f"--jump {CHAIN_FIP_DNAT}"),)),
            Chain(CHAIN_POSTROUTING, tuple(post))]


def static_chains(cfg: RenderConfig, ip_version: int) -> dict[str, list[Chain]]:
    return {
        RAW: [*_raw_chains(cfg), *failsafe_chains(cfg, ip_version, raw=True)],
        MANGLE: [_mangle_prerouting(cfg), failsafe_chains(cfg, ip_version, raw=False)[0]],
        NAT: _nat_chains(cfg, ip_version),
        FILTER: [_filter_input(cfg, ip_version), _filter_forward(cfg), _filter_output(cfg, ip_version),
                 _wl_to_host(cfg, ip_version), *failsafe_chains(cfg, ip_version, raw=False)],
    }


def kernel_hooks(cfg: RenderConfig, host_endpoints: bool = True,
                 floating_ips: bool = True) -> dict[str, dict[str, list[Rule]]]:
    """Jumps inserted (or appended, per ChainInsertMode) into the kernel chains.

    With ``host_endpoints=False`` (no host endpoint exists) and no VXLAN, raw and mangle get no
    hooks: their chains then only clear marks nothing reads and dispatch to empty host-endpoint
    chains, yet every packet would pay for them (~2 rule evaluations per table).  With
    ``floating_ips=False`` nat PREROUTING/OUTPUT get none either: they lead only to the empty
    ``cali-fip-dnat``, and the nat base chains cost every packet a hook call."""
    hooks: dict[str, dict[str, list[Rule]]] = {}
    if host_endpoints or cfg.vxlan_enabled:
        hooks[RAW] = {"PREROUTING": [Rule("", f"--jump {CHAIN_PREROUTING}")],
                      "OUTPUT": [Rule("", f"--jump {CHAIN_OUTPUT}")]}
    if host_endpoints:
        hooks[MANGLE] = {"PREROUTING": [Rule("", f"--jump {CHAIN_PREROUTING}")]}
    if floating_ips:
        hooks[NAT] = {"PREROUTING": [Rule("", f"--jump {CHAIN_PREROUTING}")],
                      "OUTPUT": [Rule("", f"--jump {CHAIN_OUTPUT}")]}
    return hooks | {
        FILTER: {"INPUT": [Rule("", f"--jump {CHAIN_FILTER_INPUT}")],
                 "FORWARD": [Rule("", f"--jump {CHAIN_FILTER_FORWARD}")],
                 "OUTPUT": [Rule("", f"--jump {CHAIN_FILTER_OUTPUT}")]},
    }


def kernel_appends(cfg: RenderConfig) -> dict[str, dict[str, list[Rule]]]:
    """Rules always appended to kernel chains, whatever the ChainInsertMode."""
    return {
        NAT: {"POSTROUTING": [Rule("", f"--jump {CHAIN_POSTROUTING}")]},
        FILTER: {"FORWARD": [Rule(match_mark_set(cfg.mark_accept), "--jump ACCEPT",
                                  _c("Policy explicitly accepted packet.")),
                             Rule("", mark_set(cfg.mark_accept))]},
    }
