"""Every filesystem path calico-node, its BGP agent and BIRD use, each overridable by env.

Several simulated hosts share one filesystem in tests, so nothing may hard-code /var/run/calico:
each host gets its own directories through these variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class NodePaths:
    run_dir: Path  # CALICO_RUN_DIR: pid files, BIRD control socket
    lib_dir: Path  # CALICO_LIB_DIR: nodename file
    log_dir: Path  # CALICO_LOG_DIR: daemon logs
    bird_config_dir: Path  # CALICO_BIRD_CONFIG_DIR: bird.cfg
    bird_socket: Path  # CALICO_BIRD_SOCKET
    secrets_dir: Path  # CALICO_SECRETS_DIR: <secret name>/<key> files for BGP passwords
    nodename_file: Path  # CALICO_NODENAME_FILE

    @property
    def bird_config(self) -> Path:
        return self.bird_config_dir / "bird.cfg"

    @property
    def bird_pidfile(self) -> Path:
        return self.run_dir / "bird.pid"

    @property
    def node_pidfile(self) -> Path:
        return self.run_dir / "calico-node.pid"

    def ensure(self) -> None:
        for d in (self.run_dir, self.lib_dir, self.log_dir, self.bird_config_dir, self.bird_socket.parent):
            d.mkdir(parents=True, exist_ok=True)


def node_paths(env: Mapping[str, str] | None = None) -> NodePaths:
    env = os.environ if env is None else env
    run_dir = Path(env.get("CALICO_RUN_DIR") or "/var/run/calico")
    lib_dir = Path(env.get("CALICO_LIB_DIR") or "/var/lib/calico")
    return NodePaths(
        run_dir=run_dir,
        lib_dir=lib_dir,
        log_dir=Path(env.get("CALICO_LOG_DIR") or "/var/log/calico"),
        bird_config_dir=Path(env.get("CALICO_BIRD_CONFIG_DIR") or "/etc/calico/confd/config"),
        bird_socket=Path(env.get("CALICO_BIRD_SOCKET") or run_dir / "bird.ctl"),
        secrets_dir=Path(env.get("CALICO_SECRETS_DIR") or "/etc/calico/secrets"),
        nodename_file=Path(env.get("CALICO_NODENAME_FILE") or lib_dir / "nodename"),
    )
