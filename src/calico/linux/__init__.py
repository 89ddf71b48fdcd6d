"""Linux drivers: the only code that touches the kernel.

Each driver keeps desired state, reads the kernel back at start and on refresh, and applies only
the difference. ``delta`` (DeltaTracker), ``cmd`` (the single subprocess runner), ``iptables``
(Table: iptables-restore transactions with hash comments), ``ipsets`` (IPSets: ipset restore,
two-phase), ``routes`` (RouteTable: netlink / ip -batch), ``vxlan`` and ``ipip`` (tunnel devices),
``sysctl``, ``ifacemon`` (netlink interface monitor), ``conntrack`` and ``metrics``. Every driver
takes an optional network namespace name so tests can run it inside a namespace they created.
"""
