"""Calc graph + renderer judged by real packets: datastore objects go through CalcGraph, the
messages are rendered by RuleRenderer and loaded with iptables-restore / ipset restore into a
throwaway host namespace with two workloads, and TCP/ICMP must pass or drop as policy says.
(No Felix daemon here: this pins the semantics of the pure layers.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import pytest

from calico.felix.calc.graph import CalcGraph
from calico.felix.messages import members_for_version
from calico.felix.rules.config import RenderConfig
from calico.felix.rules.model import Chain
from calico.felix.rules.render import RuleRenderer, policy_table
from tests.support.netns import Netns, veth
from tests.support.procs import stop_process, wait_until
from tests.unit.felix.calc_helpers import KV, Dataplane, gnp, kv, wep

pytestmark = [pytest.mark.needs_root,
              pytest.mark.skipif(shutil.which("iptables-restore") is None or shutil.which("ipset") is None,
                                 reason="iptables-restore / ipset missing")]

HOST = "h1"
A_IP, B_IP, C_IP, HOST_IP = "10.65.0.1", "10.65.0.2", "10.65.0.3", "192.168.77.1"
SERVER = """
import socket, sys, selectors
sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port))); s.listen(64); sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept(); conn.sendall(b"ok"); conn.close()
"""
CLIENT = """
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[3]))
if len(sys.argv) > 4: s.bind((sys.argv[4], 0))
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); sys.exit(0 if s.recv(2) == b"ok" else 1)
except OSError:
    sys.exit(1)
"""


class Lab:
    """A host namespace with workloads a, b (known to the datastore) and c (unknown)."""

    def __init__(self, make: Callable[[str], Netns]) -> None:
        self.host = make("felh")
        self.wl: dict[str, Netns] = {}
        self.host.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.host.run("ip", "addr", "add", f"{HOST_IP}/32", "dev", "lo")
        # an uplink with a default route, as on a real host: proxy ARP for 169.254.1.1 needs a route
        self.host.run("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer")
        self.host.run("ip", "link", "set", "uplink", "up")
        self.host.run("ip", "link", "set", "uplink-peer", "up")
        self.host.run("ip", "route", "add", "default", "dev", "uplink")
        for name, ip in (("a", A_IP), ("b", B_IP), ("c", C_IP)):
            ns = make(f"felw{name}")
            iface = f"cali{name}"
            veth(self.host, iface, ns, "eth0")
            ns.run("ip", "addr", "add", f"{ip}/32", "dev", "eth0")
            ns.run("ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
            ns.run("ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
            self.host.run("sysctl", "-qw", f"net.ipv4.conf.{iface}.proxy_arp=1",
                          f"net.ipv4.neigh.{iface}.proxy_delay=0")
            self.host.run("ip", "route", "add", f"{ip}/32", "dev", iface)
            self.wl[name] = ns
        self.graph = CalcGraph(HOST)
        self.dp = Dataplane()

    def update(self, *kvs: KV, config: RenderConfig | None = None) -> None:
        for k, v in kvs:
            self.graph.on_update(k, v)
        self.graph.on_in_sync()
        self.dp.apply(self.graph.flush())
        self.program(RuleRenderer(config or RenderConfig()))

    def program(self, r: RuleRenderer) -> None:
        d = self.dp
        sets = []
        for sid, (typ, members) in sorted(d.ipsets.items()):
            name = r.ipset_name(sid, 4)
            sets += [f"create {name} {typ} family inet -exist", f"flush {name}"]
            sets += [f"add {name} {mem}" for mem in sorted(members_for_version(members, 4))]
        self.host.run("ipset", "restore", input="\n".join(sets) + "\n")
        tables: dict[str, list[Chain]] = {t: [] for t in ("raw", "mangle", "nat", "filter")}
        for t, chs in r.static_chains(4).items():
            tables[t] += chs
        masq = any(p.masquerade for p in d.pools.values())
        for t, chs in r.dynamic_chains(4, workload_ifaces=[e.name for e in d.weps.values()],
                                       masq_pools_present=masq).items():
            tables[t] += chs
        for pid, pol in d.policies.items():
            tables[policy_table(pol)] += r.policy_chains(pid, pol, 4)
        for prid, prof in d.profiles.items():
            tables["filter"] += r.profile_chains(prid, prof, 4)
        for ep in d.weps.values():
            tables["filter"] += r.workload_endpoint_chains(ep.name, ep, 4)
        out = []
        for t, listed in tables.items():
            chains = list({c.name: c for c in listed}.values())  # shared group chains: once each
            out.append(f"*{t}")
            out += [f":{c.name} - [0:0]" for c in chains]
            out += [f"-A {c.name} {rule.render()}" for c in chains for rule in c.rules]
            for source in (r.kernel_hooks(4), r.kernel_appends(4)):
                out += [f"-A {kc} {rule.render()}" for kc, rules in source.get(t, {}).items() for rule in rules]
            out.append("COMMIT")
        self.host.run("iptables-restore", input="\n".join(out) + "\n")  # full replace: a scratch namespace

    def tcp(self, src: str, dst_ip: str, port: int, timeout: float = 0.5, bind: str | None = None) -> bool:
        argv = [sys.executable, "-c", CLIENT, dst_ip, str(port), str(timeout), *([bind] if bind else [])]
        return self.wl[src].run(*argv, check=False, timeout=10).returncode == 0

    def ping(self, src: str, dst_ip: str) -> bool:
        return self.wl[src].run("ping", "-c1", "-W1", dst_ip, check=False).returncode == 0

    def expect_tcp(self, src: str, dst_ip: str, port: int, ok: bool, bind: str | None = None) -> None:
        """Rules are loaded synchronously, so a drop shows at once; a pass may need a retry on a busy host."""
        if ok:
            wait_until(lambda: self.tcp(src, dst_ip, port, timeout=2.0, bind=bind), timeout=15,
                       what=f"{src} -> {dst_ip}:{port} to connect")
        else:
            assert not self.tcp(src, dst_ip, port, bind=bind), f"{src} -> {dst_ip}:{port} should be dropped"

    def expect_ping(self, src: str, dst_ip: str, ok: bool) -> None:
        if ok:
            wait_until(lambda: self.ping(src, dst_ip), timeout=15, what=f"{src} to ping {dst_ip}")
        else:
            assert not self.ping(src, dst_ip), f"{src} -> {dst_ip} ping should be dropped"


@pytest.fixture
def lab(netns_factory: Callable[[str], Netns]) -> Iterator[Lab]:
    lab = Lab(netns_factory)
    server = subprocess.Popen(lab.wl["b"].popen_argv([sys.executable, "-c", SERVER, "8080", "9090"]),
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield lab
    finally:
        stop_process(server)


KNS = kv("Profile", "kns.default", {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]})
WA = wep("a", HOST, f"{A_IP}/32", {"role": "a"}, profiles=("kns.default",), iface="calia")
WB = wep("b", HOST, f"{B_IP}/32", {"role": "b"}, profiles=("kns.default",), iface="calib",
         ports=[{"name": "http", "protocol": "TCP", "port": 9090}])


def test_policy_enforced_on_real_packets(lab: Lab) -> None:
    # profile only: full connectivity between known workloads; the unknown one is cut off
    lab.update(KNS, WA, WB)
    lab.expect_tcp("a", B_IP, 8080, True)
    lab.expect_ping("a", B_IP, True)
    lab.expect_tcp("c", B_IP, 8080, False)
    # workload -> host: DefaultEndpointToHostAction Drop, then Accept
    lab.expect_ping("a", HOST_IP, False)
    lab.update(config=RenderConfig(default_endpoint_to_host_action="ACCEPT"))
    lab.expect_ping("a", HOST_IP, True)

    # a policy selecting b: only TCP 8080 from role a; everything else to b is denied
    lab.update(gnp("only-8080", "role == 'b'",
                   ingress=[{"action": "Allow", "protocol": "TCP", "source": {"selector": "role == 'a'"},
                             "destination": {"ports": [8080]}}]))
    lab.expect_ping("a", B_IP, False)
    lab.expect_tcp("a", B_IP, 8080, True)
    lab.expect_tcp("a", B_IP, 9090, False)
    # anti-spoofing: a's packets from an address that is not a's are dropped
    lab.wl["a"].run("ip", "addr", "add", "10.65.0.99/32", "dev", "eth0")
    lab.expect_tcp("a", B_IP, 8080, False, bind="10.65.0.99")

    # a higher tier passes 9090 to the default tier... which still denies it; then allow by named port
    lab.update(kv("Tier", "first", {"order": 10}),
               gnp("pass-9090", "all()", tier="first", ingress=[{"action": "Pass", "protocol": "TCP",
                                                                 "destination": {"ports": [9090]}}]))
    lab.expect_tcp("a", B_IP, 9090, False)
    lab.expect_tcp("a", B_IP, 8080, False)
    lab.update(gnp("pass-9090", "all()", tier="first",
                   ingress=[{"action": "Pass", "protocol": "TCP", "destination": {"ports": [9090, 8080]}}]),
               gnp("named", "role == 'b'", order=1,
                   ingress=[{"action": "Allow", "protocol": "TCP", "destination": {"ports": ["http"]}}]))
    lab.expect_tcp("a", B_IP, 9090, True)
    lab.expect_tcp("a", B_IP, 8080, True)

    # egress deny on a by CIDR, then removing every policy restores the profile's allow-all
    lab.update(gnp("no-egress", "role == 'a'", tier="first", order=1,
                   egress=[{"action": "Deny", "destination": {"nets": [f"{B_IP}/32", "10.99.0.0/16"]}}]))
    lab.expect_tcp("a", B_IP, 8080, False)
    lab.update(("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/no-egress", None),
               ("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/pass-9090", None),
               ("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/named", None),
               ("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/only-8080", None))
    lab.expect_ping("a", B_IP, True)
    lab.expect_tcp("a", B_IP, 9090, True)


class RefCountedChains:
    """The dataplane's chain ownership, reduced to what this test needs: chains are written per
    endpoint key and a chain is deleted from the kernel only when its last user goes."""

    def __init__(self, host: Netns) -> None:
        self.host = host
        self.owned: dict[str, set[str]] = {}
        self.refs: Counter[str] = Counter()

    def set(self, key: str, chains: Sequence[Chain], also: Sequence[Chain] = ()) -> list[str]:
        """Write ``chains`` (owned by ``key``) and ``also`` (e.g. dispatch) with one
        ``iptables-restore --noflush``; return the chains deleted."""
        new = {c.name for c in chains}
        old = self.owned.pop(key, set())
        self.refs.update(new - old)
        gone = []
        for name in sorted(old - new):
            self.refs[name] -= 1
            if self.refs[name] <= 0:
                del self.refs[name]
                gone.append(name)
        if new:
            self.owned[key] = new
        writes = list({c.name: c for c in [*also, *chains]}.values())
        lines = ["*filter", *(f":{c.name} - [0:0]" for c in writes)]
        lines += [f"-A {c.name} {rule.render()}" for c in writes for rule in c.rules]
        lines += [f"-F {n}" for n in gone] + [f"-X {n}" for n in gone] + ["COMMIT"]
        self.host.run("iptables-restore", "--noflush", input="\n".join(lines) + "\n")
        return gone


def test_shared_policy_group_survives_removal_of_one_user(lab: Lab) -> None:
    """a and b share a policy-group chain (same three policies in one tier); removing a keeps
    b's policy working through the shared chain, removing b too deletes it.  Inside the group a
    Pass skips the rest of the tier (the Deny after it) and an Allow is final."""
    wc = wep("c", HOST, f"{C_IP}/32", {"role": "c"}, profiles=("kns.default",), iface="calic")
    wa = wep("a", HOST, f"{A_IP}/32", {"role": "a", "shared": ""}, profiles=("kns.default",), iface="calia")
    wb = wep("b", HOST, f"{B_IP}/32", {"role": "b", "shared": ""}, profiles=("kns.default",), iface="calib")
    lab.update(KNS, wa, wb, wc,
               gnp("g0", "has(shared)", order=1, ingress=[{"action": "Pass", "protocol": "TCP",
                                                             "destination": {"ports": [9090]}}]),
               gnp("g1", "has(shared)", order=2, ingress=[{"action": "Deny", "protocol": "TCP",
                                                             "destination": {"ports": [9090]}}]),
               gnp("g2", "has(shared)", order=3, ingress=[{"action": "Allow", "protocol": "TCP",
                                                             "destination": {"ports": [8080]}}]))
    r = RuleRenderer(RenderConfig())
    chains = {e.name: r.workload_endpoint_chains(e.name, e, 4) for e in lab.dp.weps.values()}
    groups = {c.name for c in chains["calia"] if c.name.startswith("cali-gi-")}
    assert len(groups) == 1 and groups == {c.name for c in chains["calib"] if c.name.startswith("cali-gi-")}
    group = groups.pop()
    owned = RefCountedChains(lab.host)
    for name, cs in chains.items():  # adopt what lab.update() loaded
        owned.set(name, cs)
    lab.expect_tcp("c", B_IP, 8080, True)  # g2 allows
    lab.expect_tcp("c", B_IP, 9090, True)  # g0 passes over g1's deny to the profile, which allows
    lab.expect_ping("c", B_IP, False)  # a policy applies to b and allows no ICMP: end-of-tier drop

    # remove a: only its own chains go, b keeps working through the shared group chain
    lab.graph.on_update(wa[0], None)
    lab.dp.apply(lab.graph.flush())
    gone = owned.set("calia", [], also=r.workload_dispatch_chains([e.name for e in lab.dp.weps.values()], 4))
    assert set(gone) == {"cali-tw-calia", "cali-fw-calia"}
    saved = lab.host.run("iptables-save", "-t", "filter").stdout
    assert f":{group} " in saved and "cali-tw-calia" not in saved
    lab.expect_tcp("c", B_IP, 8080, True)
    lab.expect_tcp("c", B_IP, 9090, True)
    lab.expect_ping("c", B_IP, False)
    lab.expect_tcp("a", B_IP, 8080, False)  # a's interface is unknown now

    # remove b: the last user of the group chain goes, so does the chain
    lab.graph.on_update(wb[0], None)
    lab.dp.apply(lab.graph.flush())
    gone = owned.set("calib", [], also=r.workload_dispatch_chains([e.name for e in lab.dp.weps.values()], 4))
    assert group in gone
    assert f":{group} " not in lab.host.run("iptables-save", "-t", "filter").stdout


def test_positive_and_negated_matches_judge_packets(lab: Lab) -> None:
    """nets+notNets (source and destination), ports+notPorts with a named port, selector+notSelector,
    protocol+notProtocol and icmp+notICMP: each rendered as valid iptables with the AND-NOT meaning."""
    def ingress(*rules: dict[str, object]) -> None:
        lab.update(gnp("mix", "role == 'b'", ingress=list(rules)))

    lab.update(KNS, WA, WB)
    ingress({"action": "Allow", "source": {"nets": ["10.65.0.0/29"], "notNets": [f"{A_IP}/32"]}})
    lab.expect_tcp("a", B_IP, 8080, False)
    ingress({"action": "Allow", "source": {"nets": ["10.65.0.0/29"], "notNets": ["10.65.0.5/32"]}})
    lab.expect_tcp("a", B_IP, 8080, True)
    ingress({"action": "Allow", "protocol": "TCP", "destination": {"ports": [8080, "http"], "notPorts": [8080]}})
    lab.expect_tcp("a", B_IP, 9090, True)
    lab.expect_tcp("a", B_IP, 8080, False)
    ingress({"action": "Allow", "source": {"selector": "has(role)", "notSelector": "role == 'a'"}})
    lab.expect_tcp("a", B_IP, 8080, False)
    ingress({"action": "Allow", "source": {"selector": "has(role)", "notSelector": "role == 'x'"}},
            {"action": "Allow", "protocol": "TCP", "notProtocol": "UDP", "destination": {"ports": [9090]}},
            {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}, "notICMP": {"type": 8, "code": 1}})
    lab.expect_tcp("a", B_IP, 8080, True)
    ingress({"action": "Allow", "protocol": "TCP", "notProtocol": "UDP", "destination": {"ports": [9090]}},
            {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}, "notICMP": {"type": 8, "code": 1}})
    lab.expect_tcp("a", B_IP, 9090, True)
    lab.expect_tcp("a", B_IP, 8080, False)
    lab.expect_ping("a", B_IP, True)
    ingress({"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}, "notICMP": {"type": 8}})
    lab.expect_ping("a", B_IP, False)

    # destination side, egress of a: deny the /29 except b, then allow the rest
    lab.update(("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/mix", None),
               gnp("egress-mix", "role == 'a'", egress=[
                   {"action": "Deny", "destination": {"nets": ["10.65.0.0/29"], "notNets": [f"{B_IP}/32"]}},
                   {"action": "Allow"}]))
    lab.expect_tcp("a", B_IP, 8080, True)
    lab.update(gnp("egress-mix", "role == 'a'", egress=[
        {"action": "Deny", "destination": {"nets": ["10.65.0.0/29"], "notNets": ["10.65.0.7/32"]}},
        {"action": "Allow"}]))
    lab.expect_tcp("a", B_IP, 8080, False)
