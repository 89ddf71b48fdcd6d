"""Calico IPAM: pools split into host-affine blocks, handles, borrowing, release (see docs/ipam.md).

``IPAMClient(ds)`` is the entry point for the CNI plugin, the Docker and Neutron drivers, calico-node
and calicoctl; ``calico.ipam.block`` is the pure block model underneath. Names are imported lazily,
so importing the pure ``calico.ipam.block`` does not pull in the allocator.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_EXPORTS = {
    "IPAMClient": "calico.ipam.allocator",
    "AssignResult": "calico.ipam.allocator",
    "IPAMConfig": "calico.ipam.model",
    **{name: "calico.ipam.errors" for name in (
        "AddressInUse", "AddressNotInPool", "AddressReserved", "BlockLimitReached", "BlockNotEmpty",
        "HandleNotFound", "InvalidAddress", "IPAMError", "NoFreeAddresses", "NoPools", "NotAssigned",
        "PoolNotFound", "StrictAffinityViolation", "TooManyConflicts")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'calico.ipam' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
