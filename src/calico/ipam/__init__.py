"""Calico IPAM: pools split into host-affine blocks, handles, borrowing, release (see docs/ipam.md).

``IPAMClient(ds)`` is the entry point for the CNI plugin, the Docker and Neutron drivers, calico-node
and calicoctl; ``calico.ipam.block`` is the pure block model underneath.
"""

from calico.ipam.allocator import AssignResult, IPAMClient
from calico.ipam.errors import (
    AddressInUse,
    AddressNotInPool,
    AddressReserved,
    BlockLimitReached,
    BlockNotEmpty,
    HandleNotFound,
    InvalidAddress,
    IPAMError,
    NoFreeAddresses,
    NoPools,
    NotAssigned,
    PoolNotFound,
    StrictAffinityViolation,
    TooManyConflicts,
)
from calico.ipam.model import IPAMConfig

__all__ = [
    "AddressInUse",
    "AddressNotInPool",
    "AddressReserved",
    "AssignResult",
    "BlockLimitReached",
    "BlockNotEmpty",
    "HandleNotFound",
    "IPAMClient",
    "IPAMConfig",
    "IPAMError",
    "InvalidAddress",
    "NoFreeAddresses",
    "NoPools",
    "NotAssigned",
    "PoolNotFound",
    "StrictAffinityViolation",
    "TooManyConflicts",
]
