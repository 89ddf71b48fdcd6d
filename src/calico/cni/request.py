"""One plugin invocation: the ``CNI_*`` environment checked per command (spec §"Parameters").

Pure: takes the environment as a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

from calico.cni.errors import INVALID_ENV, CNIError
from calico.common.record import record

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
# Which variables each command needs (DEL may omit CNI_NETNS).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "VERSION": (),
    "STATUS": (),
}
# Checked without regular expressions: compiling them is a measurable part of the plugin's start-up.
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_CHARS = _ALNUM | frozenset("_.-")


def valid_container_id(cid: str) -> bool:
    """Calico's ``^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$``."""
    return bool(cid) and cid[0] in _ALNUM and all(c in _ID_CHARS for c in cid)


@record
class Request:
    command: str
    container_id: str
    netns: str
    ifname: str
    args: tuple[tuple[str, str], ...]
    path: tuple[str, ...]

    def arg(self, key: str) -> str:
        """The value of ``key`` in CNI_ARGS ('' when absent)."""
        for k, v in self.args:
            if k == key:
                return v
        return ""


def parse_request(env: Mapping[str, str]) -> Request:
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise CNIError(INVALID_ENV, "required env variables [CNI_COMMAND] missing")
    if command not in COMMANDS:
        raise CNIError(INVALID_ENV, f"unknown CNI_COMMAND: {command}", f"expected one of {', '.join(COMMANDS)}")
    missing = [name for name in _REQUIRED[command] if not env.get(name)]
    if missing:
        raise CNIError(INVALID_ENV, f"required env variables [{','.join(missing)}] missing")
    container_id = env.get("CNI_CONTAINERID", "")
    ifname = env.get("CNI_IFNAME", "")
    if command in ("ADD", "DEL", "CHECK"):
        if not valid_container_id(container_id):
            raise CNIError(INVALID_ENV, "invalid CNI_CONTAINERID", f"{container_id!r}: must start with a letter "
                           "or digit and hold only letters, digits, '_', '.' and '-'")
        check_ifname(ifname)
    return Request(
        command=command,
        container_id=container_id,
        netns=env.get("CNI_NETNS", ""),
        ifname=ifname,
        args=parse_cni_args(env.get("CNI_ARGS", "")),
        path=tuple(p for p in env.get("CNI_PATH", "").split(":") if p),
    )


def check_ifname(ifname: str) -> None:
    if len(ifname) > 15:
        raise CNIError(INVALID_ENV, "invalid CNI_IFNAME", f"{ifname!r} is longer than 15 characters")
    if ifname in (".", "..") or any(c in "/:" or c.isspace() for c in ifname):
        raise CNIError(INVALID_ENV, "invalid CNI_IFNAME", f"{ifname!r}: no '/', ':', whitespace, '.' or '..'")


def parse_cni_args(text: str) -> tuple[tuple[str, str], ...]:
    """``K1=V1;K2=V2`` -> pairs. Keys are kept as given; unknown keys are ignored later."""
    out: list[tuple[str, str]] = []
    for part in text.split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise CNIError(INVALID_ENV, "invalid CNI_ARGS", f"{part!r} is not of the form KEY=VALUE")
        out.append((key.strip(), value.strip()))
    return tuple(out)
