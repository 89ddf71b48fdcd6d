"""A private podman (CNI backend) for tests: its own storage, config and CNI dirs under a temp dir.

Flags and files follow integrations.md Part B (b): vfs storage, cgroupfs, runc, explicit ulimits,
and podman itself run inside a test 'host' namespace (nsenter --net) so the plugin's host-side
veths and routes land there, never in the root namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.netns import Netns

IMAGE = "localhost/busybox:local"
RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
APPLETS = ("sh", "ip", "cat", "sleep", "ls", "ping", "hostname")


def missing_tools() -> list[str]:
    return [t for t in ("podman", "runc", "busybox", "conmon") if shutil.which(t) is None]


def busybox_tarball(workdir: Path) -> Path:
    """A root filesystem from Debian's busybox-static (no registry access needed)."""
    rootfs = workdir / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", rootfs / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", rootfs / "bin" / applet)
    tarball = workdir / "busybox.tar"
    subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
    return tarball


class Podman:
    def __init__(self, workdir: Path, host: Netns, bin_dir: Path) -> None:
        self.dir = workdir
        self.host = host
        (workdir / "net.d").mkdir(parents=True)
        (workdir / "tmp").mkdir()
        (workdir / "containers.conf").write_text(
            "[network]\n"
            'network_backend = "cni"\n'
            f'cni_plugin_dirs = ["{bin_dir}", "/usr/lib/cni"]\n'
            f'network_config_dir = "{workdir}/net.d"\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{workdir}/events.log"\n'
            f'tmp_dir = "{workdir}/tmp"\n'
            f'static_dir = "{workdir}/root/libpod"\n'
            f'volume_path = "{workdir}/root/volumes"\n'
        )
        (workdir / "storage.conf").write_text(
            f'[storage]\ndriver = "vfs"\nrunroot = "{workdir}/run"\ngraphroot = "{workdir}/root"\n'
        )

    def add_network(self, name: str, plugin_conf: dict[str, Any]) -> None:
        conflist = {"cniVersion": "1.0.0", "name": name, "plugins": [dict(plugin_conf, type="calico")]}
        (self.dir / "net.d" / f"{name}.conflist").write_text(json.dumps(conflist))

    def __call__(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = ["nsenter", f"--net=/run/netns/{self.host.name}", "env",
                f"CONTAINERS_CONF={self.dir}/containers.conf",
                f"CONTAINERS_STORAGE_CONF={self.dir}/storage.conf",
                "CONTAINERS_REGISTRIES_CONF=/dev/null",
                "podman", "--cgroup-manager", "cgroupfs", *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
        return proc

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self("run", *RUN_FLAGS, *args, check=check)

    def cleanup(self) -> None:
        """Remove every container this podman made (stops conmon/runc children by podman's own PIDs)."""
        self("rm", "--all", "--force", "--time", "0", check=False, timeout=60)


# System paths podman/libcni create outside its private config (integrations.md Part B b).
SYSTEM_PATHS = ("/var/lib/containers", "/var/lib/cni", "/run/runc")


def existing_system_paths() -> set[str]:
    return {p for p in SYSTEM_PATHS if os.path.exists(p)}


def remove_new_system_paths(before: set[str]) -> None:
    """Remove what podman created if it did not exist before the test (never anything else)."""
    for path in SYSTEM_PATHS:
        if path not in before and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
