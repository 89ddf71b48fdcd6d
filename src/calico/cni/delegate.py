"""Run a delegated plugin (an IPAM binary such as ``host-local``) the way libcni does."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from calico.cni.errors import CALICO_FAILURE, DECODE_FAILURE, CNIError
from calico.cni.logs import get_logger
from calico.common import jsonlite as json

log = get_logger(__name__)


def find_plugin(name: str, path: tuple[str, ...]) -> str:
    for directory in path:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CNIError(CALICO_FAILURE, f'failed to find plugin "{name}" in path {list(path)}')


def exec_plugin(name: str, path: tuple[str, ...], env: Mapping[str, str], command: str,
                stdin: bytes) -> dict[str, object] | None:
    """Run ``name`` with CNI_COMMAND=command; its JSON result (None when it prints nothing).

    The delegate's own error object becomes a CNIError with the same code, msg and details.
    """
    binary = find_plugin(name, path)
    child_env = dict(env)
    child_env["CNI_COMMAND"] = command
    log.debug("calling %s %s", binary, command)
    proc = subprocess.run([binary], input=stdin, env=child_env, capture_output=True, timeout=60, check=False)
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        try:
            err = json.loads(out)
            raise CNIError(int(err.get("code", CALICO_FAILURE)), str(err.get("msg", "")), str(err.get("details", "")))
        except (ValueError, AttributeError):
            detail = out or proc.stderr.decode(errors="replace").strip()
            raise CNIError(CALICO_FAILURE, f"{name} {command} failed", detail) from None
    if not out:
        return None
    try:
        doc = json.loads(out)
    except ValueError:
        raise CNIError(DECODE_FAILURE, f"{name} printed an invalid result", out[:200]) from None
    if not isinstance(doc, dict):
        raise CNIError(DECODE_FAILURE, f"{name} printed an invalid result", out[:200])
    return doc
