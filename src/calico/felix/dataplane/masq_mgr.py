"""MasqManager: IP pools with natOutgoing -> ``cali-nat-outgoing`` (nat table).

The pool CIDRs themselves live in the ``masq-ipam-pools`` / ``all-ipam-pools`` sets the calc graph
fills; this manager only decides whether the masquerade rule exists (some pool masquerades).
"""

from __future__ import annotations

from calico.felix import messages as m
from calico.felix.dataplane.context import DataplaneContext


class MasqManager:
    def __init__(self, ctx: DataplaneContext) -> None:
        self.ctx = ctx
        self.pools: dict[str, m.IPAMPool] = {}
        self._dirty = True

    def on_update(self, msg: object) -> None:
        if isinstance(msg, m.IPAMPoolUpdate):
            self.pools[msg.id] = msg.pool
            self._dirty = True
        elif isinstance(msg, m.IPAMPoolRemove):
            self.pools.pop(msg.id, None)
            self._dirty = True

    def masq_present(self, ip_version: int) -> bool:
        return any(p.masquerade and not p.disabled and (":" in p.cidr) == (ip_version == 6)
                   for p in self.pools.values())

    def complete_deferred_work(self) -> None:
        if not self._dirty:
            return
        for v in self.ctx.versions:
            self.ctx.table("nat", v).update_chain(self.ctx.renderer.nat_outgoing_chain(self.masq_present(v), v))
        self._dirty = False
