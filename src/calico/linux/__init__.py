"""Linux drivers: the only code that touches the kernel.

Each driver keeps desired state, reads the kernel back at start and on refresh, and applies only
the difference. ``delta`` (DeltaTracker), ``cmd`` (the single subprocess runner), ``iptables``
(Table: iptables-restore transactions with hash comments), ``ipsets`` (IPSets: ipset restore,
two-phase), ``routes`` (RouteTable: netlink / ip -batch), ``vxlan`` and ``ipip`` (tunnel devices),
``sysctl``, ``ifacemon`` (netlink interface monitor), ``netlink`` (the one rtnetlink module: dumps,
route/neighbour changes, event subscription, netns entry), ``readahead`` (start-of-day kernel reads
started early), ``conntrack`` and ``metrics``. Every driver takes an optional network namespace
name so tests can run it inside a namespace they created.

Drivers are blocking and not thread-safe: call their ``apply*`` methods from one worker thread at a
time (``asyncio.to_thread``), never from the event loop thread (they block).
``RouteTable.on_iface_update`` alone may be called from any thread.
"""
