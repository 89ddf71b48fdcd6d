"""Pure text side of the iptables Table driver: rule hashes, restore lines, iptables-save parsing.

Hashes follow Felix (felix.md §2.9): h0 = SHA-224(chain name); h_i = SHA-224(h_{i-1} ||
"-A <chain> HASH <comments> <match> <action>"); the comment is base64url(h_i)[:16]. A hash therefore
depends on the rule and everything before it, so one changed rule changes every later hash.
No I/O here, so it is unit-tested directly.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from calico.felix.rules.model import Chain, Rule

HASH_LENGTH = 16
HASH_PREFIX = "cali:"
MAX_COMMENT_LEN = 256
APPENDS_SUFFIX = "*appends*"

_SHELL_UNSAFE = re.compile(r"[^\w @%+=:,./-]")
_HASH_RE = re.compile(r'--comment "?' + HASH_PREFIX + r'([A-Za-z0-9_-]{' + str(HASH_LENGTH) + r'})"?')
_TARGET_RE = re.compile(r"(?:^|\s)(?:-j|-g|--jump|--goto) (\S+)")


def escape_comment(text: str) -> str:
    """Felix's lossy comment sanitiser: unsafe characters -> '_', at most 256 chars."""
    return _SHELL_UNSAFE.sub("_", text)[:MAX_COMMENT_LEN]


def _fragments(rule: Rule, hash_fragment: str) -> list[str]:
    frags = [hash_fragment] if hash_fragment else []
    if rule.comment:
        frags.append(f'-m comment --comment "{escape_comment(rule.comment)}"')
    if rule.match:
        frags.append(rule.match)
    if rule.action:
        frags.append(rule.action)
    return frags


def rule_spec(rule: Rule, rule_hash: str) -> str:
    """The rule as iptables arguments after ``-A <chain>`` (hash comment first, as Felix writes)."""
    return " ".join(_fragments(rule, f'-m comment --comment "{HASH_PREFIX}{rule_hash}"'))


def rule_hashes(chain_name: str, rules: Sequence[Rule]) -> list[str]:
    """Position-chained hashes of ``rules`` in chain ``chain_name``.

    Hashed text: ``-A <chain> HASH [-m comment --comment "<c>"] [<match>] [<action>]``. Written
    out by hand (no fragment list, no join) and only the 12 digest bytes that make the 16 base64
    characters are encoded: this runs for every rule of every chain on Felix's start-up path.
    """
    sha224 = hashlib.sha224
    b64 = base64.urlsafe_b64encode
    digest = sha224(chain_name.encode()).digest()
    head = f"-A {chain_name} HASH"
    out: list[str] = []
    for rule in rules:
        text = head
        if rule.comment:
            text += f' -m comment --comment "{escape_comment(rule.comment)}"'
        if rule.match:
            text += " " + rule.match
        if rule.action:
            text += " " + rule.action
        digest = sha224(digest + text.encode()).digest()
        out.append(b64(digest[:_HASH_BYTES]).decode())
    return out


_HASH_BYTES = HASH_LENGTH * 3 // 4  # 12 bytes -> exactly 16 base64 characters, no padding


def chain_hashes(chain: Chain) -> tuple[str, ...]:
    return tuple(rule_hashes(chain.name, chain.rules))


def insert_hashes(kernel_chain: str, rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(rule_hashes(kernel_chain, rules))


def append_hashes(kernel_chain: str, rules: Sequence[Rule]) -> tuple[str, ...]:
    return tuple(rule_hashes(kernel_chain + APPENDS_SUFFIX, rules))


@dataclass(slots=True)
class SavedChain:
    """One chain as iptables-save showed it: every rule's cali hash ('' if none) and its spec."""

    name: str
    hashes: list[str] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)

    def calico_specs(self) -> list[str]:
        return [s for h, s in zip(self.hashes, self.specs, strict=True) if h]

    def calico_hashes(self) -> list[str]:
        return [h for h in self.hashes if h]


@dataclass(slots=True)
class SavedTable:
    chains: dict[str, SavedChain] = field(default_factory=dict)


class SaveParseError(ValueError):
    pass


def parse_save(text: str, table: str) -> SavedTable:
    """Parse ``iptables-save -t <table>`` output (chains, rule specs and cali: hashes)."""
    saved = SavedTable()
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            if "incompatible" in line:
                raise SaveParseError(f"table {table} is incompatible with iptables: {line}")
            continue
        if line.startswith("*"):
            in_table = line[1:] == table
            continue
        if not in_table:
            continue
        if line.startswith(":"):
            name = line[1:].split(" ", 1)[0]
            saved.chains.setdefault(name, SavedChain(name))
        elif line.startswith("-A "):
            parts = line.split(" ", 2)
            name = parts[1]
            spec = parts[2] if len(parts) > 2 else ""
            chain = saved.chains.setdefault(name, SavedChain(name))
            m = _HASH_RE.search(spec)
            chain.hashes.append(m.group(1) if m else "")
            chain.specs.append(spec)
    return saved


def rule_targets(spec: str) -> list[str]:
    """Chains a rule spec jumps or goes to."""
    return _TARGET_RE.findall(spec)


def kernel_chain_in_sync(saved: SavedChain | None, inserts: Sequence[str], appends: Sequence[str],
                         insert_mode: str) -> bool:
    """True if the kernel chain holds exactly our inserts/appends, in the expected places."""
    hashes = saved.hashes if saved is not None else []
    ours = [h for h in hashes if h]
    if len(ours) != len(inserts) + len(appends):
        return False
    n_ins, n_app = len(inserts), len(appends)
    if insert_mode == "insert":
        if list(hashes[:n_ins]) != list(inserts):
            return False
    else:
        tail = hashes[len(hashes) - n_app - n_ins:len(hashes) - n_app] if n_ins else []
        if list(tail) != list(inserts):
            return False
    return not n_app or list(hashes[-n_app:]) == list(appends)
