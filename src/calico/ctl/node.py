"""``calicoctl node``: run, status, checksystem, diags.

``node run`` starts calico-node as a detached plain process tree on this host (not a container),
with its output in ``<log-dir>/calico-node.log``, and waits for "Calico node started successfully".
``node status`` reads BIRD's control socket (``CALICO_BIRD_SOCKET``, else
``$CALICO_RUN_DIR/bird.ctl``, else /var/run/calico/bird.ctl, then /var/run/bird/bird.ctl).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click

from calico.ctl.common import config_option, fail

STARTED_MESSAGE = "Calico node started successfully"


@click.group("node")
def node() -> None:
    """Calico node management."""


# ---------------------------------------------------------------------------------------------
# node run


def _validate_run(ip: str | None, ip6: str | None, as_number: str | None, name: str | None) -> None:
    for flag, value, version in (("--ip", ip, 4), ("--ip6", ip6, 6)):
        if value and value.lower() not in ("autodetect", "none"):
            try:
                iface = ipaddress.ip_interface(value)
            except ValueError:
                fail(f"Error executing command: {flag}: {value!r} is not a valid IPv{version} address")
            if iface.version != version:
                fail(f"Error executing command: {flag}: {value!r} is not a valid IPv{version} address")
    if as_number:
        from calico.bgp.inputs import InputError, parse_asn

        try:
            parse_asn(as_number, "--as")
        except InputError as exc:
            fail(f"Error executing command: {exc}")
    if name is not None and not name.strip():
        fail("Error executing command: --name: must not be empty")


def _datastore_env(config_file: str) -> dict[str, str]:
    """Datastore settings for calico-node, from calicoctl's config file or environment."""
    from calico.datastore.config import ConfigError, load_config

    try:
        cfg = load_config(config_file)
    except ConfigError as exc:
        fail(str(exc))
    env = {"DATASTORE_TYPE": cfg.datastore_type, "ETCD_ENDPOINTS": ",".join(cfg.endpoints)}
    for var, value in (("ETCD_DISCOVERY_SRV", cfg.discovery_srv), ("ETCD_CA_CERT_FILE", cfg.ca_cert_file),
                       ("ETCD_CERT_FILE", cfg.cert_file), ("ETCD_KEY_FILE", cfg.key_file),
                       ("ETCD_USERNAME", cfg.username), ("ETCD_PASSWORD", cfg.password)):
        if value:
            env[var] = value
    return env


def _node_command() -> list[str]:
    exe = Path(sys.executable).with_name("calico-node")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "calico.node.main"]


@node.command("run")
@click.option("--ip", default=None, help="Set the IPv4 address of this node (or autodetect / none).")
@click.option("--ip6", default=None, help="Set the IPv6 address of this node (or autodetect / none).")
@click.option("--as", "as_number", default=None, help="Set the AS number for this node.")
@click.option("--name", default=None, help="The name of the Calico node (default: hostname).")
@click.option("--ip-autodetection-method", default="first-found", show_default=True,
              help="first-found, can-reach=DEST, interface=REGEX, skip-interface=REGEX, cidr=CIDR.")
@click.option("--ip6-autodetection-method", default="first-found", show_default=True)
@click.option("--log-dir", default="/var/log/calico", show_default=True,
              help="The directory containing Calico logs.")
@click.option("--backend", default="bird", show_default=True, type=click.Choice(["bird", "none", "vxlan"]),
              help="Networking backend: bird (BGP), vxlan (no BGP) or none (policy only).")
@click.option("--felix-config", default=None, help="Path to a Felix configuration file.")
@click.option("--no-default-ippools", is_flag=True, help="Do not create default IP pools.")
@click.option("--dryrun", is_flag=True, help="Print the command and environment instead of running.")
@click.option("--node-image", default=None, hidden=True, help="Ignored: calico-node runs as a process here.")
@click.option("--init-system", is_flag=True, help="Run in the foreground (for an init system).")
@click.option("--timeout", default=60.0, show_default=True, hidden=True,
              help="Seconds to wait for calico-node to report it started.")
@config_option
def run(ip: str | None, ip6: str | None, as_number: str | None, name: str | None,
        ip_autodetection_method: str, ip6_autodetection_method: str, log_dir: str, backend: str,
        felix_config: str | None, no_default_ippools: bool, dryrun: bool, node_image: str | None,
        init_system: bool, timeout: float, config_file: str) -> None:
    """Run calico-node on this host (as a detached process tree)."""
    _validate_run(ip, ip6, as_number, name)
    env = dict(os.environ)
    env.update(_datastore_env(config_file))
    env["CALICO_NETWORKING_BACKEND"] = backend
    env["CALICO_LOG_DIR"] = log_dir
    env["CALICO_MANAGE_CNI"] = "false"
    settings = {"NODENAME": name, "IP": ip, "IP6": ip6, "AS": as_number, "FELIX_CONFIGFILE": felix_config}
    for var, value in settings.items():
        if value:
            env[var] = value
    if no_default_ippools:
        env["NO_DEFAULT_POOLS"] = "true"
    if ip_autodetection_method != "first-found":
        env["IP_AUTODETECTION_METHOD"] = ip_autodetection_method
    if ip6_autodetection_method != "first-found":
        env["IP6_AUTODETECTION_METHOD"] = ip6_autodetection_method
        env.setdefault("IP6", "autodetect")
    argv = _node_command()
    log_path = Path(log_dir) / "calico-node.log"
    from calico.node.paths import node_paths

    pidfile = node_paths(env).node_pidfile
    if not dryrun and _pid_alive(pidfile):
        fail(f"calico-node is already running on this host (pid {pidfile.read_text().strip()}, {pidfile})")
    if dryrun:
        shown = [f"{k}={env[k]}" for k in sorted(env) if k not in os.environ or os.environ[k] != env[k]]
        click.echo("Use the following command to start the calico/node process:\n")
        click.echo(" ".join([*shown, *argv]) + f" >>{log_path} 2>&1 &")
        return
    if init_system:
        os.execvpe(argv[0], argv, env)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, start_new_session=True)
    click.echo(f"Running calico-node (pid {proc.pid}) with its log at {log_path}")
    click.echo("Waiting for calico-node to start...")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if STARTED_MESSAGE in _read_from(log_path, offset):
            click.echo("Calico node started successfully")
            return
        if proc.poll() is not None:
            tail = _read_from(log_path, offset)[-2000:]
            fail(f"calico-node exited with code {proc.returncode}; see {log_path}:\n{tail}")
        time.sleep(0.1)
    fail(f"Timed out after {timeout:.0f}s waiting for calico-node to start; see {log_path}")


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# node status


def bird_socket_candidates() -> list[str]:
    explicit = os.environ.get("CALICO_BIRD_SOCKET")
    if explicit:
        return [explicit]
    run_dir = os.environ.get("CALICO_RUN_DIR")
    out = [os.path.join(run_dir, "bird.ctl")] if run_dir else []
    return [*out, "/var/run/calico/bird.ctl", "/var/run/bird/bird.ctl"]


def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def calico_running() -> bool:
    """calico-node's pidfile (per host; the only evidence when CALICO_RUN_DIR names this host's
    directory), else any calico-felix / calico-node -felix process, as calicoctl checks."""
    from calico.node.paths import node_paths

    paths = node_paths()
    if paths.node_pidfile.exists() or os.environ.get("CALICO_RUN_DIR"):
        return _pid_alive(paths.node_pidfile)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = b" ".join(cmd)
        if b"calico-felix" in text or (b"calico-node" in text and b"-felix" in cmd) \
                or b"calico.felix.daemon" in text:
            return True
    return False


@node.command("status")
def status() -> None:
    """Print the status of Calico on this host."""
    from calico.bgp.status import BirdError, bgp_peers, format_family

    if os.geteuid() != 0:
        fail("Need super user privileges: Operation not permitted")
    if not calico_running():
        fail("Calico process is not running.")
    click.echo("Calico process is running.\n")
    sockets = [s for s in bird_socket_candidates() if os.path.exists(s)]
    if not sockets:
        click.echo("INFO: BIRDv4 process: 'bird' is not running.")
        click.echo("INFO: BIRDv6 process: 'bird6' is not running.")
        fail("The BGP backend process (BIRD) is not running.")
    try:
        rows = bgp_peers(sockets[0])
    except BirdError as exc:
        fail(f"Error querying BIRD: unable to connect to BIRDv4 socket: {exc}")
    click.echo(format_family(rows, 4))
    click.echo(format_family(rows, 6))


# ---------------------------------------------------------------------------------------------
# node checksystem


REQUIRED_MODULES = ("ip_set", "ip_tables", "ip6_tables", "ipt_ipvs", "ipt_REJECT", "ipt_rpfilter", "nf_conntrack",
                    "xt_addrtype", "xt_conntrack", "xt_icmp", "xt_icmp6", "xt_mark", "xt_multiport",
                    "xt_rpfilter", "xt_sctp", "xt_set", "xt_u32", "vfio-pci", "ipip")
REQUIRED_BINARIES = ("bird", "birdc", "ip", "iptables", "iptables-save", "iptables-restore", "ipset")
MIN_KERNEL = (2, 6, 24)


def _module_available(name: str, release: str, loaded: str, builtin: str) -> bool:
    mod = name.replace("-", "_")
    if f"\n{mod} " in "\n" + loaded or f"/{name}.ko" in builtin or f"/{mod}.ko" in builtin:
        return True
    moddir = Path("/lib/modules") / release
    return any(moddir.glob(f"kernel/**/{name}.ko*")) if moddir.exists() else False


@node.command("checksystem")
@click.option("-f", "--kernel-config", default=None, help="Override the kernel config file location.")
def checksystem(kernel_config: str | None) -> None:
    """Check the system meets Calico's requirements (kernel version, modules, programs)."""
    release = os.uname().release
    ok = True
    nums = tuple(int(p) for p in release.split("-")[0].split(".")[:3] if p.isdigit())
    click.echo(f"Checking kernel version...\n\t\t{release:<30}OK" if nums >= MIN_KERNEL
               else f"Checking kernel version...\n\t\t{release:<30}FAIL")
    ok &= nums >= MIN_KERNEL
    click.echo("Checking kernel modules...")
    loaded = Path("/proc/modules").read_text() if Path("/proc/modules").exists() else ""
    builtin_path = Path("/lib/modules") / release / "modules.builtin"
    builtin = builtin_path.read_text() if builtin_path.exists() else ""
    for mod in REQUIRED_MODULES:
        present = _module_available(mod, release, loaded, builtin)
        click.echo(f"\t\t{mod:<30}{'OK' if present else 'WARNING: Unable to detect the ' + mod + ' module'}")
    click.echo("Checking programs...")
    for binary in REQUIRED_BINARIES:
        found = shutil.which(binary) is not None
        ok &= found
        click.echo(f"\t\t{binary:<30}{'OK' if found else 'FAIL: not found'}")
    if not ok:
        fail("System doesn't meet one or more minimum systems requirements to run Calico")
    click.echo("System meets minimum system requirements to run Calico!")


# ---------------------------------------------------------------------------------------------
# node diags


def _capture(argv: list[str]) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return f"$ {' '.join(argv)}\n{res.stdout}{res.stderr}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"$ {' '.join(argv)}\nfailed: {exc}\n"


@node.command("diags")
@click.option("--log-dir", default=None, help="The directory containing Calico logs (default $CALICO_LOG_DIR "
              "or /var/log/calico).")
@click.option("--output-dir", default=None, hidden=True, help="Where to write the tarball (default: a temp dir).")
def diags(log_dir: str | None, output_dir: str | None) -> None:
    """Collect diagnostics (logs, BIRD config, routes, iptables) into a tarball."""
    import tarfile
    import tempfile
    from datetime import datetime

    from calico.node.paths import node_paths

    paths = node_paths()
    logs = Path(log_dir or os.environ.get("CALICO_LOG_DIR") or "/var/log/calico")
    work = Path(tempfile.mkdtemp(prefix="calico-diags-"))
    diag = work / "diagnostics"
    diag.mkdir()
    click.echo("Collecting diagnostics")
    commands = {
        "date": ["date"], "hostname": ["hostname"], "ip_addr": ["ip", "addr"], "ip_route": ["ip", "route"],
        "ip6_route": ["ip", "-6", "route"], "ip_rule": ["ip", "rule"], "ip_link": ["ip", "-d", "link"],
        "iptables-save": ["iptables-save", "-c"], "ip6tables-save": ["ip6tables-save", "-c"],
        "ipset_list": ["ipset", "list"], "netstat": ["ss", "-antp"],
    }
    for fname, argv in commands.items():
        click.echo(f"Dumping {fname}")
        (diag / fname).write_text(_capture(argv))
    if paths.bird_socket.exists():
        for fname, cmd in (("bird_protocols", "show protocols all"), ("bird_routes", "show route all")):
            (diag / fname).write_text(_capture(["birdc", "-s", str(paths.bird_socket), cmd]))
    if paths.bird_config.exists():
        shutil.copy(paths.bird_config, diag / "bird.cfg")
    if logs.is_dir():
        click.echo(f"Copying Calico logs from {logs}")
        shutil.copytree(logs, diag / "logs", dirs_exist_ok=True)
    else:
        click.echo(f"Calico log directory {logs} does not exist")
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out_dir = Path(output_dir) if output_dir else work
    tarball = out_dir / f"diags-{stamp}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(diag, arcname="diagnostics")
    shutil.rmtree(diag)
    click.echo(f"\nDiags saved to {tarball}")
