"""Endpoint status files (``EndpointStatusPathPrefix``), as Calico's Felix writes them.

The CNI plugin can wait for a pod's policy to be in place before it returns: Felix writes one
file per local workload endpoint whose dataplane state (routes, sysctls, iptables chains) has been
programmed and that is up, in ``<prefix>/endpoint-status/``, and removes it when the endpoint goes
down or away. Format, as Calico's ``epstatusfile`` package:

* file name: ``<orchestrator> <workload> <endpoint>``, each URL path-escaped (Go's
  ``url.PathEscape``: ``/`` -> ``%2F``), joined by one space; the workload ID is
  ``<namespace>/<name>``, e.g. ``k8s default%2Fnginx eth0``;
* content: compact JSON ``{"ifaceName":..., "mac":..., "ipv4Nets":[...], "ipv6Nets":[...]}`` with
  empty fields left out; mode 0644 in a 0755 directory.

Files are reconciled against the directory after the first apply (stale files from an earlier
run are removed, valid ones kept untouched) and then every ``RESYNC_INTERVAL`` seconds, so a file
deleted by someone else comes back. Naming and content are pure; :class:`StatusDir` does the I/O.
"""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import quote

from calico.felix import messages as m

log = logging.getLogger(__name__)

STATUS_DIR = "endpoint-status"
RESYNC_INTERVAL = 10.0
_GO_PATH_SAFE = "$&+:=@"  # besides letters, digits and -_.~, what url.PathEscape leaves alone


def enabled(prefix: str) -> bool:
    return bool(prefix.strip()) and prefix.strip().lower() != "none"


def workload_id(eid: m.WorkloadEndpointID) -> str:
    return f"{eid.namespace}/{eid.workload}" if eid.namespace else eid.workload


def filename_for(orchestrator: str, workload: str, endpoint: str) -> str:
    """Calico's ``WorkloadEndpointKeyToStatusFilename``; ``workload`` is ``<namespace>/<name>`` for
    namespaced endpoints. The CNI plugin waits for ``<prefix>/endpoint-status/<this>``."""
    return " ".join(quote(part, safe=_GO_PATH_SAFE) for part in (orchestrator, workload, endpoint))


def status_filename(eid: m.WorkloadEndpointID) -> str:
    return filename_for(eid.orchestrator, workload_id(eid), eid.endpoint)


def status_content(ep: m.WorkloadEndpointInfo) -> str:
    """Calico's ``WorkloadEndpointStatus`` JSON (Go ``omitempty``: empty fields are left out)."""
    doc: dict[str, object] = {"ifaceName": ep.name, "mac": ep.mac, "ipv4Nets": list(ep.ipv4_nets),
                              "ipv6Nets": list(ep.ipv6_nets)}
    return json.dumps({k: v for k, v in doc.items() if v}, separators=(",", ":"))


class StatusDir:
    """The ``endpoint-status`` directory: write what is wanted, remove what is not."""

    def __init__(self, prefix: str) -> None:
        self.path = os.path.join(prefix, STATUS_DIR)
        self.on_disk: dict[str, str | None] | None = None  # name -> content; None until read

    def _read_dir(self) -> dict[str, str | None]:
        os.makedirs(self.path, mode=0o755, exist_ok=True)
        found: dict[str, str | None] = {}
        with os.scandir(self.path) as it:
            for entry in it:
                if not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    with open(entry.path) as f:
                        found[entry.name] = f.read()
                except OSError:
                    found[entry.name] = None
        return found

    def sync(self, desired: dict[str, str], *, full: bool) -> int:
        """Make the directory hold exactly ``desired``; ``full`` re-reads it first. Returns the
        number of files written or removed; raises OSError (the caller retries)."""
        if full or self.on_disk is None:
            self.on_disk = self._read_dir()
        on_disk = self.on_disk
        changes = 0
        for name, content in desired.items():
            if on_disk.get(name) == content:
                continue
            with open(os.path.join(self.path, name), "w") as f:
                f.write(content)
            os.chmod(os.path.join(self.path, name), 0o644)
            on_disk[name] = content
            changes += 1
            log.debug("Wrote endpoint status file %r", name)
        for name in [n for n in on_disk if n not in desired]:
            try:
                os.remove(os.path.join(self.path, name))
            except FileNotFoundError:
                log.warning("Endpoint status file %r was already gone", name)
            del on_disk[name]
            changes += 1
            log.debug("Removed endpoint status file %r", name)
        return changes
