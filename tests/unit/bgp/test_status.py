"""``calicoctl node status`` rows and tables from BIRD's control-socket replies."""

from __future__ import annotations

import pytest

from calico.bgp.status import BirdError, PeerRow, format_family, format_table, parse_protocols, peer_rows

BIRD2_REPLY = """\
2002-Name       Proto      Table      State  Since         Info
1002-calico_static_v4 Static     master4    up     13:40:29
 kernel_v4  Kernel     master4    up     13:40:29
 Global_10_10_1_1 BGP        ---        up     13:40:31  Established
 Node_10_10_1_99 BGP        ---        start  13:41:14  Connect       Socket: No route to host
 Mesh_10_10_1_1_port_1790 BGP        ---        start  13:41:14  Active        Socket: Connection refused
 Mesh_fd00__2 BGP        ---        up     13:41:15  Established
 Local_Workload_10_0_0_5 BGP        ---        up     13:41:15  Established
""".splitlines()


def test_parse_bird2_reply() -> None:
    rows = peer_rows(parse_protocols(BIRD2_REPLY))
    assert rows == [
        PeerRow("10.10.1.1", 4, "global", "up", "13:40:31", "Established"),
        PeerRow("10.10.1.99", 4, "node specific", "start", "13:41:14", "Connect Socket: No route to host"),
        PeerRow("10.10.1.1.port.1790", 4, "node-to-node mesh", "start", "13:41:14",
                "Active Socket: Connection refused"),
        PeerRow("fd00::2", 6, "node-to-node mesh", "up", "13:41:15", "Established"),
    ]


def test_bird1_lowercase_header_accepted_and_bad_header_rejected() -> None:
    assert len(parse_protocols(["2002-name proto table state since info", "1002-x BGP --- up 1 Established"])) == 1
    with pytest.raises(BirdError):
        parse_protocols(["2002-foo bar"])


def test_table_matches_calicoctl_layout() -> None:
    rows = [PeerRow("10.0.0.12", 4, "node-to-node mesh", "up", "09:14:02", "Established"),
            PeerRow("10.0.0.1", 4, "global", "start", "09:14:00", "Connect"),
            PeerRow("10.0.0.2", 4, "node specific", "up", "09:14:05", "Established")]
    assert format_table(rows) == """\
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 10.0.0.12    | node-to-node mesh | up    | 09:14:02 | Established |
| 10.0.0.1     | global            | start | 09:14:00 | Connect     |
| 10.0.0.2     | node specific     | up    | 09:14:05 | Established |
+--------------+-------------------+-------+----------+-------------+"""


def test_family_sections() -> None:
    rows = [PeerRow("10.0.0.12", 4, "node-to-node mesh", "up", "09:14:02", "Established")]
    assert format_family(rows, 6) == "IPv6 BGP status\nNo IPv6 peers found.\n"
    assert format_family(rows, 4).startswith("IPv4 BGP status\n+---")
