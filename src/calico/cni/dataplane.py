"""The kernel side of an attachment: a veth into the container, addresses and routes, host sysctls.

Uses iproute2 in batch mode (one process per namespace) rather than pyroute2, whose import alone
costs more than the whole kernel work; sysctls of the host side are written directly to
/proc/sys (which always shows the caller's own network namespace). Host-side link existence is
checked with ``if_nametoindex`` for the same reason (``/sys/class/net`` may show another namespace).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
import subprocess
from dataclasses import dataclass

from calico.cni.errors import CALICO_FAILURE, UNKNOWN_CONTAINER, CNIError

log = logging.getLogger(__name__)

GATEWAY_V4 = "169.254.1.1"
HOST_MAC = "ee:ee:ee:ee:ee:ee"
# The host veth's link-local address follows from its fixed MAC (EUI-64).
GATEWAY_V6 = "fe80::ecee:eeff:feee:eeee"
_RUN_NETNS = ("/run/netns/", "/var/run/netns/")
_BATCH_FAILED = re.compile(r"Command failed -:(\d+)")


@dataclass(frozen=True)
class Plan:
    """Everything ADD does to the kernel for one attachment."""

    netns: str
    ifname: str
    host_ifname: str
    mtu: int
    addresses: tuple[str, ...]  # host addresses in CIDR form, /32 or /128
    container_mac: str
    allow_ip_forwarding: bool = False

    @property
    def v4(self) -> list[str]:
        return [a for a in self.addresses if ipaddress.ip_interface(a).version == 4]

    @property
    def v6(self) -> list[str]:
        return [a for a in self.addresses if ipaddress.ip_interface(a).version == 6]


def random_mac() -> str:
    """A random unicast, locally administered MAC for the container side."""
    octets = list(os.urandom(6))
    octets[0] = (octets[0] & 0xFE) | 0x02
    return ":".join(f"{o:02x}" for o in octets)


def ip_in(netns: str) -> list[str]:
    """The iproute2 command line that runs inside ``netns`` (``ip -n`` for named namespaces)."""
    for root in _RUN_NETNS:
        if netns.startswith(root) and "/" not in netns[len(root):]:
            return ["ip", "-n", netns[len(root):]]
    return ["nsenter", f"--net={netns}", "ip"]


def container_batch(plan: Plan, host_pid: int) -> list[str]:
    """Commands run in the container: create the veth (peer straight into the host), then L3 config."""
    lines = [
        f"link add {plan.ifname} address {plan.container_mac} mtu {plan.mtu} type veth "
        f"peer name {plan.host_ifname} address {HOST_MAC} mtu {plan.mtu} netns {host_pid}",
        f"link set {plan.ifname} up",
    ]
    for addr in plan.v4:
        lines.append(f"addr add {addr} dev {plan.ifname}")
    if plan.v4:
        lines.append(f"route add {GATEWAY_V4}/32 dev {plan.ifname} scope link")
        lines.append(f"route add default via {GATEWAY_V4} dev {plan.ifname}")
    for addr in plan.v6:
        lines.append(f"addr add {addr} dev {plan.ifname} nodad")
    if plan.v6:
        lines.append(f"route add default via {GATEWAY_V6} dev {plan.ifname}")
    return lines


def host_batch(plan: Plan) -> list[str]:
    """Commands run on the host: bring the cali side up and route each address to it."""
    lines = [f"link set {plan.host_ifname} up"]
    for addr in plan.addresses:  # ip infers the family from the address
        lines.append(f"route add {addr} dev {plan.host_ifname} scope link")
    return lines


def host_sysctls(plan: Plan) -> list[tuple[str, str]]:
    """(path under /proc/sys/net, value) for the host side, as Calico and Felix set them."""
    h = plan.host_ifname
    out = [
        (f"ipv4/conf/{h}/route_localnet", "1"),
        (f"ipv4/neigh/{h}/proxy_delay", "0"),
        (f"ipv4/conf/{h}/proxy_arp", "1"),
        (f"ipv4/conf/{h}/forwarding", "1"),
    ]
    if plan.v6:
        out += [(f"ipv6/conf/{h}/disable_ipv6", "0"), (f"ipv6/conf/{h}/accept_ra", "0"),
                (f"ipv6/conf/{h}/proxy_ndp", "1"), (f"ipv6/conf/{h}/forwarding", "1")]
    else:
        out.append((f"ipv6/conf/{h}/accept_ra", "0"))
    return out


def container_sysctls(plan: Plan) -> list[str]:
    """``sysctl -w`` arguments needed inside the container (none for a plain IPv4 attachment)."""
    out = []
    if plan.v6:
        out += ["net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0",
                "net.ipv6.conf.lo.disable_ipv6=0"]
    if plan.allow_ip_forwarding:
        out.append("net.ipv4.ip_forward=1")
    return out


# ----------------------------------------------------------------------------------------------
# I/O


def check_netns(netns: str) -> None:
    """ADD/CHECK need an existing namespace; report code 3 (container unknown) otherwise."""
    if not os.path.exists(netns):
        raise CNIError(UNKNOWN_CONTAINER, f'failed to open netns "{netns}"', "no such file or directory")


def link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    log.debug("running %s", " ".join(argv))
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False)


def _batch(prefix: list[str], lines: list[str]) -> tuple[int, str]:
    """Run lines with ``ip -batch -``: (0, '') on success, else (failed line number, error text)."""
    proc = _run([*prefix, "-batch", "-"], "\n".join(lines) + "\n")
    if proc.returncode == 0:
        return 0, ""
    m = _BATCH_FAILED.search(proc.stderr)
    line = int(m.group(1)) if m else 1
    text = " ".join(proc.stderr.replace(m.group(0), "").split()) if m else proc.stderr.strip()
    return line, text or f"ip exited {proc.returncode}"


def write_sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/net/{path}", "w") as fh:
        fh.write(value)


def setup(plan: Plan) -> None:
    """Create and configure the attachment; on failure remove what this call created and raise."""
    if link_exists(plan.host_ifname):
        log.info("deleting stale host interface %s", plan.host_ifname)
        _run(["ip", "link", "del", plan.host_ifname])
    prefix = ip_in(plan.netns)
    sysctls = container_sysctls(plan)
    lines = container_batch(plan, os.getpid())
    if sysctls:
        # IPv6 must be enabled in the container before the link and its addresses appear.
        proc = _run(["nsenter", f"--net={plan.netns}", "sysctl", "-q", "-w", *sysctls])
        if proc.returncode != 0:
            raise CNIError(CALICO_FAILURE, "failed to configure container sysctls", proc.stderr.strip())
    failed, text = _batch(prefix, lines)
    if failed:
        if failed > 1:  # the veth exists: take it away again (its host peer goes with it)
            _run([*prefix, "link", "del", plan.ifname])
        raise CNIError(CALICO_FAILURE, "failed to set up the container interface",
                       f"{lines[failed - 1]!r}: {text}")
    try:
        for path, value in host_sysctls(plan):
            try:
                write_sysctl(path, value)
            except OSError as exc:
                if "proxy_delay" not in path:  # Calico only warns about proxy_delay
                    raise CNIError(CALICO_FAILURE, "failed to set host sysctl", f"{path}: {exc}") from None
                log.warning("could not set %s: %s", path, exc)
        hlines = host_batch(plan)
        failed, text = _batch(["ip"], hlines)
        if failed:
            raise CNIError(CALICO_FAILURE, "failed to set up the host interface",
                           f"{hlines[failed - 1]!r}: {_route_clash(hlines[failed - 1], plan.host_ifname, text)}")
    except BaseException:
        _run([*prefix, "link", "del", plan.ifname])
        raise


def _route_clash(line: str, host_ifname: str, text: str) -> str:
    if "route add" in line and "File exists" in text:
        words = line.split()
        dst = words[words.index("add") + 1]
        return f"route ({dst}) already exists for an interface other than '{host_ifname}'"
    return text


def teardown(netns: str, ifname: str) -> None:
    """Delete the container interface; a missing namespace or interface is not an error."""
    if not netns or not os.path.exists(netns):
        return
    proc = _run([*ip_in(netns), "link", "del", ifname])
    if proc.returncode == 0:
        return
    err = proc.stderr
    if "Cannot find device" in err or "does not exist" in err or "Cannot open network namespace" in err \
            or "reassociate" in err or "Invalid argument" in err:
        log.info("nothing to delete in %s: %s", netns, err.strip())
        return
    raise CNIError(CALICO_FAILURE, f"failed to delete {ifname} in {netns}", err.strip())


@dataclass(frozen=True)
class Observed:
    """What CHECK finds in the container: the interface's addresses and routes through it."""

    exists: bool
    addresses: frozenset[str]
    routes: frozenset[tuple[str, str]]  # (dst, gateway)


def observe(netns: str, ifname: str) -> Observed:
    prefix = ip_in(netns)
    proc = _run([*prefix, "-j", "addr", "show", "dev", ifname])
    if proc.returncode != 0:
        return Observed(False, frozenset(), frozenset())
    addrs = set()
    for link in json.loads(proc.stdout or "[]"):
        for info in link.get("addr_info", []):
            if info.get("scope") != "link":
                addrs.add(f"{info['local']}/{info['prefixlen']}")
    routes = set()
    for fam in ("-4", "-6"):
        out = _run([*prefix, "-j", fam, "route", "show", "dev", ifname])
        for r in json.loads(out.stdout or "[]") if out.returncode == 0 else []:
            routes.add((str(r.get("dst", "")), str(r.get("gateway", ""))))
    return Observed(True, frozenset(addrs), frozenset(routes))
