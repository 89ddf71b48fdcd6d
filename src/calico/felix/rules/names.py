"""Chain, ipset and comment naming with Felix's length limits (felix.md §2.9)."""

from __future__ import annotations

import base64
import hashlib
import re

MAX_CHAIN_NAME = 28
MAX_IPSET_NAME = 31
MAX_COMMENT = 256

_COMMENT_BAD = re.compile(r"[^\w @%+=:,./-]")


def length_limited_id(prefix: str, suffix: str, max_len: int) -> str:
    """Felix's ``GetLengthLimitedID``: ``prefix+suffix`` when it fits, else ``prefix_<hash>``."""
    if len(prefix) + len(suffix) > max_len or (len(prefix) + len(suffix) == max_len and suffix.startswith("_")):
        digest = base64.urlsafe_b64encode(hashlib.sha256(suffix.encode()).digest()).decode().rstrip("=")
        return prefix + "_" + digest[: max_len - len(prefix) - 1]
    return prefix + suffix


def chain_name(prefix: str, suffix: str) -> str:
    """An iptables chain name of at most 28 characters (``cali-pi-`` + policy id, ...)."""
    return length_limited_id(prefix, suffix, MAX_CHAIN_NAME)


def ipset_name(set_id: str, ip_version: int) -> str:
    """Kernel name of a main IP set: ``cali40<id>`` / ``cali60<id>``, truncated to 31 chars."""
    return f"cali{ip_version}0{set_id}"[:MAX_IPSET_NAME]


def temp_ipset_name(index: int, ip_version: int) -> str:
    """Name of a temporary set used to swap contents in (``cali4t0``, ``cali4t1``, ...)."""
    return f"cali{ip_version}t{index}"


def sanitize_comment(text: str) -> str:
    """Make text safe as an iptables comment: odd characters become ``_``, max 256 chars."""
    return _COMMENT_BAD.sub("_", text)[:MAX_COMMENT]
