"""IPAM errors: each names what was asked for and why it could not be done."""

from __future__ import annotations


class IPAMError(Exception):
    """Base of every IPAM failure."""


class InvalidAddress(IPAMError):
    def __init__(self, ip: str) -> None:
        super().__init__(f"invalid IP address: {ip!r}")
        self.ip = ip


class NoPools(IPAMError):
    """No enabled pool of the wanted IP version matches this host (or the request)."""


class PoolNotFound(IPAMError):
    def __init__(self, pool: str) -> None:
        super().__init__(f"the given pool ({pool}) does not exist, or is not enabled")
        self.pool = pool


class NoFreeAddresses(IPAMError):
    """Exhaustion: the request could not be met in full (nothing was kept)."""

    def __init__(self, version: int, requested: int, got: int, pools: list[str], detail: str = "") -> None:
        msg = (f"no more free addresses in the matching pools: requested {requested} IPv{version} "
               f"address(es), only {got} available in pools {pools}")
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)
        self.version, self.requested, self.got, self.pools = version, requested, got, pools


class BlockLimitReached(IPAMError):
    def __init__(self, host: str, limit: int) -> None:
        super().__init__(f"cannot allocate new block due to per host block limit "
                         f"(host {host} already has {limit} blocks)")
        self.host, self.limit = host, limit


class AddressNotInPool(IPAMError):
    def __init__(self, ip: str, detail: str = "") -> None:
        msg = f"the provided IP address {ip} is not in a configured pool"
        super().__init__(msg + (f" ({detail})" if detail else ""))
        self.ip = ip


class AddressReserved(IPAMError):
    def __init__(self, ip: str, reservation: str) -> None:
        super().__init__(f"the provided IP address {ip} is reserved by IPReservation({reservation})")
        self.ip, self.reservation = ip, reservation


class AddressInUse(IPAMError):
    def __init__(self, ip: str, handle: str | None) -> None:
        super().__init__(f"Address already assigned in block: {ip} is in use by handle {handle}")
        self.ip, self.handle = ip, handle


class StrictAffinityViolation(IPAMError):
    def __init__(self, ip: str, block: str, owner: str | None) -> None:
        super().__init__(f"the provided IP address {ip} is in block {block} affine to {owner or 'no host'} "
                         "and strict affinity is enabled")


class NotAssigned(IPAMError):
    def __init__(self, ip: str) -> None:
        super().__init__(f"{ip} is not assigned")
        self.ip = ip


class HandleNotFound(IPAMError):
    def __init__(self, handle: str) -> None:
        super().__init__(f"resource does not exist: IPAMHandle({handle}) with error: <nil>")
        self.handle = handle


class BlockNotEmpty(IPAMError):
    def __init__(self, cidr: str) -> None:
        super().__init__(f"block '{cidr}' is not empty")
        self.cidr = cidr


class TooManyConflicts(IPAMError):
    """Compare-and-swap kept losing (heavy contention); the caller may retry."""
