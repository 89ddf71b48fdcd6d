"""Interface dispatch trees (felix.md §2.4): one level of binning on the character after the
common prefix keeps the per-packet cost sub-linear; ``goto`` so a match never scans on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from calico.felix.rules.model import Chain, Rule

LONG_IFACE_FLAGS = {"-i": "--in-interface", "-o": "--out-interface"}


def dispatch_tree(root: str, ifnames: Iterable[str], iface_flag: str, target: Callable[[str], str],
                  end_rules: Sequence[Rule], head_rules: Sequence[Rule] = ()) -> list[Chain]:
    """``root`` plus child chains ``<root>-<c>``; every chain ends with ``end_rules``.

    ``iface_flag`` is ``-i`` or ``-o`` (rendered in Go Felix's long form, ``--in-interface`` /
    ``--out-interface``); ``target(name)`` is the per-endpoint chain to goto.
    """
    iface_flag = LONG_IFACE_FLAGS.get(iface_flag, iface_flag)
    names = sorted(set(ifnames))
    root_rules: list[Rule] = list(head_rules)
    children: list[Chain] = []
    if len(names) == 1:
        root_rules.append(Rule(f"{iface_flag} {names[0]}", f"--goto {target(names[0])}"))
    elif names:
        prefix = _common_prefix(names)
        bins: dict[str, list[str]] = {}
        for name in names:
            key = name[len(prefix)] if len(name) > len(prefix) else ""
            bins.setdefault(key, []).append(name)
        for key, members in sorted(bins.items()):
            if len(members) == 1 or key == "":
                root_rules.extend(Rule(f"{iface_flag} {m}", f"--goto {target(m)}") for m in members)
                continue
            child = f"{root}-{key}"
            root_rules.append(Rule(f"{iface_flag} {prefix}{key}+", f"--goto {child}"))
            child_rules = [Rule(f"{iface_flag} {m}", f"--goto {target(m)}") for m in members]
            children.append(Chain(child, (*child_rules, *end_rules)))
    return [Chain(root, (*root_rules, *end_rules)), *children]


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]
