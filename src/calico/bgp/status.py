"""BIRD's control socket -> the rows of ``calicoctl node status``.

Talks BIRD's line protocol directly (greeting ``0001``, table header ``2002-``, rows ``1002-``
and continuation lines starting with a space, end ``0000``). The header is compared
case-insensitively because BIRD 2 capitalises it where BIRD 1.x did not.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from calico.bgp.model import PEER_TYPE_TEXT, PeerKind

_NAME_RE = re.compile(r"^(Global|Node|Mesh)_(.+)$")
_HEADER = ["name", "proto", "table", "state", "since", "info"]


class BirdError(Exception):
    """BIRD could not be queried (socket missing, refused, bad reply)."""


@dataclass(frozen=True, slots=True)
class PeerRow:
    address: str
    version: int
    peer_type: str
    state: str
    since: str
    info: str


@dataclass(frozen=True, slots=True)
class ProtocolRow:
    name: str
    proto: str
    table: str
    state: str
    since: str
    info: str


def query(socket_path: str, command: str, timeout: float = 2.0) -> list[str]:
    """Send one command over BIRD's control socket and return the reply lines (without ``0000``)."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(socket_path)
    except OSError as exc:
        raise BirdError(f"unable to connect to BIRD socket {socket_path}: {exc.strerror or exc}") from exc
    try:
        reader = sock.makefile("r", encoding="utf-8", errors="replace")
        greeting = reader.readline()
        if not greeting.startswith("0001"):
            raise BirdError(f"unexpected greeting from BIRD: {greeting.strip()!r}")
        sock.sendall(command.encode() + b"\n")
        lines: list[str] = []
        for line in reader:
            line = line.rstrip("\n")
            if re.match(r"^[89]\d{3}", line):
                raise BirdError(f"BIRD error: {line[5:].strip()}")
            if line.startswith("0000"):
                return lines
            lines.append(line)
            if re.match(r"^\d{4} ", line):  # a one-line reply (e.g. "0003 Reconfigured")
                return lines
        raise BirdError("BIRD closed the connection before the end of the reply")
    except TimeoutError as exc:
        raise BirdError("timed out reading from BIRD") from exc
    finally:
        sock.close()


def parse_protocols(lines: list[str]) -> list[ProtocolRow]:
    """Rows of ``show protocols`` (BIRD 1.x or 2.x)."""
    rows: list[ProtocolRow] = []
    in_table = False
    for line in lines:
        if line.startswith("2002-"):
            header = [h.lower() for h in line[5:].split()]
            if header != _HEADER:
                raise BirdError(f"unexpected 'show protocols' header: {line[5:].strip()!r}")
            in_table = True
            continue
        if line.startswith("1002-"):
            body = line[5:]
        elif line.startswith(" ") and in_table:
            body = line[1:]
        else:
            continue
        cols = body.split()
        if len(cols) < 5:
            continue
        rows.append(ProtocolRow(cols[0], cols[1], cols[2], cols[3], cols[4], " ".join(cols[5:])))
    return rows


def peer_address(suffix: str) -> tuple[str, int]:
    """Peer address from a protocol-name suffix, as calicoctl derives it (a port suffix leaks in)."""
    v4 = suffix.replace("_", ".")
    try:
        ipaddress.IPv4Address(v4.split(".port.")[0])
        return v4, 4
    except ValueError:
        return suffix.replace("_", ":"), 6


def peer_rows(protocols: list[ProtocolRow]) -> list[PeerRow]:
    out = []
    for row in protocols:
        if row.proto.upper() != "BGP":
            continue
        match = _NAME_RE.match(row.name)
        if match is None:
            continue
        address, version = peer_address(match.group(2))
        out.append(PeerRow(address, version, PEER_TYPE_TEXT[PeerKind(match.group(1))],
                           row.state, row.since, row.info))
    return out


def bgp_peers(socket_path: str, timeout: float = 2.0) -> list[PeerRow]:
    return peer_rows(parse_protocols(query(socket_path, "show protocols", timeout)))


def format_table(rows: list[PeerRow]) -> str:
    """An ASCII table as calicoctl's tablewriter prints it (headers centred, cells left)."""
    headers = ["PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"]
    cells = [[r.address, r.peer_type, r.state, r.since, r.info] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centre(text: str, width: int) -> str:
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)

    lines = [border, "| " + " | ".join(centre(h, w) for h, w in zip(headers, widths, strict=True)) + " |",
             border]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.append(border)
    return "\n".join(lines)


def format_family(rows: list[PeerRow], version: int) -> str:
    mine = [r for r in rows if r.version == version]
    title = f"IPv{version} BGP status"
    if not mine:
        return f"{title}\nNo IPv{version} peers found.\n"
    return f"{title}\n{format_table(mine)}\n"


__all__ = ["BirdError", "PeerRow", "bgp_peers", "format_family", "format_table", "parse_protocols",
           "peer_rows", "query"]
