"""IPSetsManager: IPSetUpdate / IPSetDeltaUpdate / IPSetRemove -> the IPSets driver of each family.

Sets are family-neutral in the messages; each family's kernel set keeps only its own members
(``members_for_version``). Creation/updates are applied before iptables, deletions after it
(by the Dataplane), so a rule never references a missing set.
"""

from __future__ import annotations

from calico.felix import messages as m
from calico.felix.dataplane.context import DataplaneContext
from calico.linux.ipsets import IPSetMetadata


class IPSetsManager:
    def __init__(self, ctx: DataplaneContext) -> None:
        self.ctx = ctx
        self.types: dict[str, str] = {}

    def on_update(self, msg: object) -> None:
        if isinstance(msg, m.IPSetUpdate):
            self.types[msg.id] = msg.type
            for v, ipsets in self.ctx.ipsets.items():
                meta = IPSetMetadata(self.ctx.renderer.ipset_name(msg.id, v), msg.type, self.ctx.max_ipset_size)
                ipsets.add_or_replace_ipset(meta, m.members_for_version(msg.members, v))
        elif isinstance(msg, m.IPSetDeltaUpdate):
            if msg.id not in self.types:
                return
            for v, ipsets in self.ctx.ipsets.items():
                name = self.ctx.renderer.ipset_name(msg.id, v)
                removed = m.members_for_version(msg.removed, v)
                added = m.members_for_version(msg.added, v)
                if removed:
                    ipsets.remove_members(name, removed)
                if added:
                    ipsets.add_members(name, added)
        elif isinstance(msg, m.IPSetRemove):
            self.types.pop(msg.id, None)
            for v, ipsets in self.ctx.ipsets.items():
                ipsets.remove_ipset(self.ctx.renderer.ipset_name(msg.id, v))

    def complete_deferred_work(self) -> None:
        return None

    @property
    def num_sets(self) -> int:
        return len(self.types)
