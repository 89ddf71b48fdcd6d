"""CNI errors: the spec's error object and its reserved codes.

Every failure the plugins report is a ``CNIError``; ``main`` prints it as
``{"cniVersion", "code", "msg", "details"}`` on stdout and exits non-zero, as the spec says.
"""

from __future__ import annotations

from calico.common import jsonlite as json

# Codes reserved by the CNI specification (1.0.0 / 1.1.0).
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
NOT_AVAILABLE_DEGRADED = 51
# Calico's plugin-specific failures (the spec leaves 100+ to plugins).
CALICO_FAILURE = 100


class CNIError(Exception):
    """A failure to report to the runtime; ``msg`` is short, ``details`` says why."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"{msg}: {details}" if details else msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str) -> dict[str, object]:
        out: dict[str, object] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out

    def to_json(self, cni_version: str) -> str:
        return json.dumps(self.to_dict(cni_version), indent=1)
