"""Is IPv6 usable on this host? Decides the dataplane's IP versions at start.

Calico turns IPv6 on by default (``Ipv6Support=true``) and still runs on hosts booted with
``ipv6.disable=1`` or without ip6tables: Felix then logs a warning and programs IPv4 only, instead
of failing every apply on ip6tables. Probed once at start in the namespace Felix runs in.
"""

from __future__ import annotations

import logging
import os
import subprocess

from calico.felix.config import FelixConfig, with_values

log = logging.getLogger(__name__)

PROC_IPV6 = "/proc/sys/net/ipv6"


def ip6tables_save_cmd(backend: str) -> str:
    """The ``ip6tables-save`` binary the iptables driver would use for this backend."""
    return f"ip6tables-{backend}-save" if backend in ("nft", "legacy") else "ip6tables-save"


def ipv6_unusable_reason(backend: str = "auto", *, proc_ipv6: str = PROC_IPV6,
                         timeout: float = 10.0) -> str | None:
    """None if IPv6 can be programmed here, else why not (for the warning)."""
    if not os.path.isdir(proc_ipv6):
        return f"the kernel has no IPv6 ({proc_ipv6} is missing)"
    try:
        with open(os.path.join(proc_ipv6, "conf", "all", "disable_ipv6")) as f:
            if f.read().strip() == "1":
                return "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)"
    except OSError:
        pass
    cmd = ip6tables_save_cmd(backend)
    try:
        res = subprocess.run([cmd, "-t", "filter"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd} cannot run: {exc}"
    if res.returncode != 0:
        return f"{cmd} -t filter failed (exit {res.returncode}): {res.stderr.strip()[:200]}"
    return None


def dataplane_versions(ipv6_support: bool, backend: str = "auto") -> tuple[int, ...]:
    """(4, 6) when IPv6 is wanted and usable, else (4,) -- with a warning when it was wanted."""
    if not ipv6_support:
        log.info("IPv6 support disabled by configuration (Ipv6Support=false); programming IPv4 only")
        return (4,)
    reason = ipv6_unusable_reason(backend)
    if reason is not None:
        log.warning("Ipv6Support is true but IPv6 is not usable on this host: %s; "
                    "running IPv4 only (set FELIX_IPV6SUPPORT=false to silence this warning)", reason)
        return (4,)
    return (4, 6)


def check_ipv6(cfg: FelixConfig) -> FelixConfig:
    """``cfg`` with ``Ipv6Support`` turned off (and a warning logged) when IPv6 is wanted but the
    host cannot do it; unchanged otherwise. Called by the daemon before building the dataplane."""
    versions = dataplane_versions(bool(cfg["Ipv6Support"]), str(cfg["IptablesBackend"]))
    return cfg if (6 in versions) == bool(cfg["Ipv6Support"]) else with_values(cfg, Ipv6Support=False)
