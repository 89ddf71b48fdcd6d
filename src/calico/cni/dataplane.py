"""The kernel side of an attachment: a veth into the container, addresses and routes, host sysctls.

The work is planned as ``ip -batch`` command lines (readable, logged, quoted in errors) and
carried out in-process by ``calico.linux.netlink`` over rtnetlink sockets, switching into the
container's namespace with ``setns`` for its side: no ``ip`` process and no pyroute2 (whose import
alone costs more than the whole kernel work) on ADD or DEL. Sysctls are written to /proc/sys,
which shows the namespace the process is in when it opens the file. Host-side link existence is
checked with ``if_nametoindex`` for the same reason (``/sys/class/net`` may show another namespace).
CHECK still reads the state with ``ip -j``.
"""

from __future__ import annotations

import _socket  # not socket: its enum set-up costs start-up time
import ipaddress
import os
from collections.abc import Callable

from calico.cni.errors import CALICO_FAILURE, UNKNOWN_CONTAINER, CNIError
from calico.cni.logs import get_logger
from calico.common import jsonlite as json
from calico.common.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from calico.cni.spawn import Completed

log = get_logger(__name__)

GATEWAY_V4 = "169.254.1.1"
HOST_MAC = "ee:ee:ee:ee:ee:ee"
# The host veth's link-local address follows from its fixed MAC (EUI-64).
GATEWAY_V6 = "fe80::ecee:eeff:feee:eeee"
_RUN_NETNS = ("/run/netns/", "/var/run/netns/")


@record
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
        _socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def _run(argv: list[str], stdin: str | None = None) -> Completed:
    from calico.cni.spawn import run  # only CHECK runs commands: ADD and DEL use rtnetlink

    log.debug("running %s", " ".join(argv))
    return run(argv, stdin, timeout=30)


def write_sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/net/{path}", "w") as fh:
        fh.write(value)


def _in_netns(netns: str, lines: list[str], sysctls: list[str] | tuple[str, ...] = ()) -> tuple[int, str]:
    """Run command lines (after ``sysctl -w``-style settings) inside ``netns``; our namespace is the veth peer's.

    Returns (0, '') or (failed line number, error text) as ``ip -batch`` does; -1 when the
    namespace could not be entered, -2 when a sysctl could not be set. Only the calling thread
    switches namespace, and it always switches back.
    """
    from calico.linux import netlink

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            return -1, f'Cannot open network namespace "{netns}": {exc.strerror}'
        try:
            try:
                netlink.setns(target)
            except OSError as exc:
                return -1, f'failed to reassociate with network namespace "{netns}": {exc.strerror}'
            try:
                for setting in sysctls:
                    key, _, value = setting.partition("=")
                    try:
                        with open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
                            fh.write(value)
                    except OSError as exc:
                        return -2, f"sysctl {setting}: {exc.strerror}"
                return netlink.run_lines(lines, own)
            finally:
                netlink.setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def _in_host(lines: list[str]) -> tuple[int, str]:
    from calico.linux import netlink

    return netlink.run_lines(lines)


def setup(plan: Plan) -> None:
    """Create and configure the attachment; on failure remove what this call created and raise."""
    if link_exists(plan.host_ifname):
        log.info("deleting stale host interface %s", plan.host_ifname)
        _in_host([f"link del {plan.host_ifname}"])
    lines = container_batch(plan, os.getpid())
    log.debug("in %s: %s", plan.netns, "; ".join(lines))
    # IPv6 must be enabled in the container before the link and its addresses appear.
    failed, text = _in_netns(plan.netns, lines, container_sysctls(plan))
    if failed == -2:
        raise CNIError(CALICO_FAILURE, "failed to configure container sysctls", text)
    if failed == -1:
        raise CNIError(CALICO_FAILURE, "failed to set up the container interface", f"{lines[0]!r}: {text}")
    if failed:
        if failed > 1:  # the veth exists: take it away again (its host peer goes with it)
            _in_netns(plan.netns, [f"link del {plan.ifname}"])
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
        log.debug("on the host: %s", "; ".join(hlines))
        failed, text = _in_host(hlines)
        if failed:
            raise CNIError(CALICO_FAILURE, "failed to set up the host interface",
                           f"{hlines[failed - 1]!r}: {_route_clash(hlines[failed - 1], plan.host_ifname, text)}")
    except BaseException:
        _in_netns(plan.netns, [f"link del {plan.ifname}"])
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
    failed, err = _in_netns(netns, [f"link del {ifname}"])
    if not failed:
        return
    if "No such device" in err or "Cannot find device" in err or "Cannot open network namespace" in err \
            or "reassociate" in err or "Invalid argument" in err:
        log.info("nothing to delete in %s: %s", netns, err.strip())
        return
    raise CNIError(CALICO_FAILURE, f"failed to delete {ifname} in {netns}", err.strip())


def in_background(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
    """Start ``fn(*args)`` on a thread; the function returned waits for it and raises its error.

    ``setns`` moves only the calling thread, so the thread can work in the container's namespace
    while the main thread carries on (in the host's namespace) with the datastore.
    """
    import _thread

    done = _thread.allocate_lock()
    done.acquire()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            fn(*args)
        except BaseException as exc:
            failure.append(exc)
        finally:
            done.release()

    _thread.start_new_thread(work, ())

    def wait() -> None:
        with done:
            pass
        if failure:
            raise failure[0]

    return wait


def teardown_in_background(netns: str, ifname: str) -> Callable[[], None]:
    """``teardown`` on a thread (see ``in_background``).

    The delete should reach the kernel at once: the kernel then waits out RCU grace periods
    (≈ 20 ms, no interpreter lock held) while this thread goes on importing and talking to the
    datastore. So the thread's modules are loaded here first, and the interpreter's switch
    interval is shortened (5 ms → 0.2 ms) so the thread gets the lock back promptly after each
    of its few system calls instead of waiting out this thread's imports.
    """
    import sys

    from calico.linux import netlink

    netlink.preload()
    sys.setswitchinterval(0.0002)
    return in_background(teardown, netns, ifname)


@record
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
