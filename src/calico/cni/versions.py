"""CNI spec versions this implementation speaks, and how to compare them."""

from __future__ import annotations

from calico.cni.errors import INCOMPATIBLE_VERSION, CNIError

SUPPORTED_VERSIONS: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = "1.1.0"
# An empty cniVersion is the pre-versioning format, as libcni treats it.
IMPLICIT_VERSION = "0.2.0"


def parse_version(text: str) -> tuple[int, int, int]:
    """'1.0.0' -> (1, 0, 0); raises ValueError for anything that is not major.minor.patch."""
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"invalid version {text!r}: expected MAJOR.MINOR.PATCH")
    return int(parts[0]), int(parts[1]), int(parts[2])


def at_least(version: str, minimum: str) -> bool:
    return parse_version(version) >= parse_version(minimum)


def check_supported(version: str) -> None:
    """Refuse a config version this plugin cannot speak (spec error code 1)."""
    try:
        parse_version(version)
    except ValueError as exc:
        raise CNIError(INCOMPATIBLE_VERSION, "incompatible CNI versions", str(exc)) from None
    if version not in SUPPORTED_VERSIONS:
        raise CNIError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f'config is "{version}", plugin supports {list(SUPPORTED_VERSIONS)}'.replace("'", '"'),
        )
