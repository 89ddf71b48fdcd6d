"""PolicyManager: active policies and profiles -> their ``cali-pi-/po-/pri-/pro-`` chains.

A policy's chains go in the table its kind needs (raw for doNotTrack, mangle for preDNAT, filter
otherwise); when a policy moves table its old chains are removed. Rendering happens on the
message (pure, cheap); writing happens in the Dataplane's apply.
"""

from __future__ import annotations

from calico.felix import messages as m
from calico.felix.dataplane.context import DataplaneContext
from calico.felix.rules.render import policy_table


class PolicyManager:
    def __init__(self, ctx: DataplaneContext) -> None:
        self.ctx = ctx
        self.policies: dict[m.PolicyID, m.ParsedPolicy] = {}
        self.profiles: dict[m.ProfileID, m.ParsedProfile] = {}
        self._policy_table: dict[m.PolicyID, str] = {}

    def on_update(self, msg: object) -> None:
        r = self.ctx.renderer
        if isinstance(msg, m.ActivePolicyUpdate):
            self.policies[msg.id] = msg.policy
            table = policy_table(msg.policy)
            old = self._policy_table.get(msg.id)
            if old is not None and old != table:
                self._remove_policy_chains(msg.id, old)
            self._policy_table[msg.id] = table
            for v in self.ctx.versions:
                self.ctx.table(table, v).update_chains(r.policy_chains(msg.id, msg.policy, v))
        elif isinstance(msg, m.ActivePolicyRemove):
            self.policies.pop(msg.id, None)
            old = self._policy_table.pop(msg.id, None)
            if old is not None:
                self._remove_policy_chains(msg.id, old)
        elif isinstance(msg, m.ActiveProfileUpdate):
            self.profiles[msg.id] = msg.profile
            for v in self.ctx.versions:
                self.ctx.table("filter", v).update_chains(r.profile_chains(msg.id, msg.profile, v))
        elif isinstance(msg, m.ActiveProfileRemove):
            self.profiles.pop(msg.id, None)
            for v in self.ctx.versions:
                self.ctx.table("filter", v).remove_chains(r.profile_chain_names(msg.id))

    def _remove_policy_chains(self, pid: m.PolicyID, table: str) -> None:
        for v in self.ctx.versions:
            self.ctx.table(table, v).remove_chains(self.ctx.renderer.policy_chain_names(pid))

    def complete_deferred_work(self) -> None:
        return None
