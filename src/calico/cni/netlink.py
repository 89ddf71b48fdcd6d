"""The CNI plugin's rtnetlink: now :mod:`calico.linux.netlink` (one module for Felix and the plugin).

Kept so ``from calico.cni import netlink`` call sites stay as they are; see that module for the
``ip``-style command lines :func:`run_lines` carries out.
"""

from __future__ import annotations

from calico.linux.netlink import CommandError, NetlinkError, Rtnl, _options, preload, run_lines, setns
from calico.linux.netlink import attr as _attr

__all__ = ["CommandError", "NetlinkError", "Rtnl", "_attr", "_options", "preload", "run_lines", "setns"]
