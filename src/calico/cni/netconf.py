"""The network configuration on stdin, parsed into typed values (Calico's NetConf fields).

Pure: no I/O. Plain dataclasses rather than pydantic keep the plugin's start-up short (its run
time is part of every pod's start-up); each rejected field is named in the error.
"""

from __future__ import annotations

from calico.cni.errors import DECODE_FAILURE, INVALID_CONFIG, CNIError
from calico.cni.versions import IMPLICIT_VERSION
from calico.common import jsonlite as json
from calico.common.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NODENAME_FILE = "/var/lib/calico/nodename"
DEFAULT_MTU_FILE = "/var/lib/calico/mtu"
DEFAULT_MTU = 1500
CALICO_IPAM = "calico-ipam"


@record
class IpamConf:
    type: str = ""
    assign_ipv4: bool = True
    assign_ipv6: bool = False
    ipv4_pools: tuple[str, ...] = ()
    ipv6_pools: tuple[str, ...] = ()
    subnet: str = ""


@record
class NetConf:
    """Calico's plugin configuration; ``raw`` is the exact JSON to hand on to a delegated IPAM."""

    name: str
    cni_version: str
    type: str = "calico"
    ipam: IpamConf = field(default_factory=IpamConf)
    nodename: str = ""
    nodename_file: str = DEFAULT_NODENAME_FILE
    nodename_file_optional: bool = False
    hostname: str = ""  # deprecated spelling of nodename
    log_level: str = ""
    log_file_path: str = ""
    mtu: int = 0
    require_mtu_file: bool = False
    policy_type: str = ""
    datastore_type: str = ""
    etcd_endpoints: str = ""
    etcd_discovery_srv: str = ""
    etcd_scheme: str = ""
    etcd_authority: str = ""
    etcd_key_file: str = ""
    etcd_cert_file: str = ""
    etcd_ca_cert_file: str = ""
    allow_ip_forwarding: bool = False
    interface_prefix: str = "cali"
    labels: tuple[tuple[str, str], ...] = ()
    prev_result: dict[str, Any] | None = None
    valid_attachments: tuple[tuple[str, str], ...] | None = None  # GC only
    raw: bytes = b"{}"

    def datastore_spec(self) -> dict[str, str]:
        """CalicoAPIConfig spec fields set by this config (empty: use calicoctl.cfg / environment)."""
        spec: dict[str, str] = {}
        endpoints = self.etcd_endpoints
        if not endpoints and self.etcd_authority:
            endpoints = f"{self.etcd_scheme or 'http'}://{self.etcd_authority}"
        if endpoints:
            spec["etcdEndpoints"] = endpoints
        if self.etcd_discovery_srv:
            spec["etcdDiscoverySrv"] = self.etcd_discovery_srv
        if self.etcd_key_file:
            spec["etcdKeyFile"] = self.etcd_key_file
        if self.etcd_cert_file:
            spec["etcdCertFile"] = self.etcd_cert_file
        if self.etcd_ca_cert_file:
            spec["etcdCACertFile"] = self.etcd_ca_cert_file
        if spec and self.datastore_type:
            spec["datastoreType"] = self.datastore_type
        return spec


def parse_netconf(data: bytes) -> NetConf:
    """Decode and check stdin; errors name the field (code 6 for bad JSON, 7 for bad values)."""
    if not data.strip():
        raise CNIError(DECODE_FAILURE, "failed to load netconf", "no network configuration on stdin")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CNIError(DECODE_FAILURE, "failed to load netconf", f"invalid JSON on stdin: {exc}") from None
    if not isinstance(doc, dict):
        raise CNIError(DECODE_FAILURE, "failed to load netconf", "stdin must hold a JSON object")
    version = _str(doc, "cniVersion") or IMPLICIT_VERSION
    ipam = _ipam(doc.get("ipam"))
    policy = doc.get("policy") or {}
    if not isinstance(policy, dict):
        raise _bad("policy", policy, "an object")
    container = doc.get("container_settings") or {}
    if not isinstance(container, dict):
        raise _bad("container_settings", container, "an object")
    prev = doc.get("prevResult")
    if prev is not None and not isinstance(prev, dict):
        raise _bad("prevResult", prev, "an object")
    return NetConf(
        name=_str(doc, "name"),
        cni_version=version,
        type=_str(doc, "type") or "calico",
        ipam=ipam,
        nodename=_str(doc, "nodename"),
        nodename_file=_str(doc, "nodename_file") or DEFAULT_NODENAME_FILE,
        nodename_file_optional=_bool(doc, "nodename_file_optional", False),
        hostname=_str(doc, "hostname"),
        log_level=_str(doc, "log_level"),
        log_file_path=_str(doc, "log_file_path"),
        mtu=_int(doc, "mtu"),
        require_mtu_file=_bool(doc, "require_mtu_file", False),
        policy_type=_str(policy, "type", "policy."),
        datastore_type=_str(doc, "datastore_type"),
        etcd_endpoints=_str(doc, "etcd_endpoints"),
        etcd_discovery_srv=_str(doc, "etcd_discovery_srv"),
        etcd_scheme=_str(doc, "etcd_scheme"),
        etcd_authority=_str(doc, "etcd_authority"),
        etcd_key_file=_str(doc, "etcd_key_file"),
        etcd_cert_file=_str(doc, "etcd_cert_file"),
        etcd_ca_cert_file=_str(doc, "etcd_ca_cert_file"),
        allow_ip_forwarding=_bool(container, "allow_ip_forwarding", False, "container_settings."),
        labels=_labels(doc.get("args")),
        prev_result=prev,
        valid_attachments=_attachments(doc.get("cni.dev/valid-attachments")),
        raw=bytes(data),
    )


def _ipam(value: object) -> IpamConf:
    if value is None:
        return IpamConf()
    if not isinstance(value, dict):
        raise _bad("ipam", value, "an object")
    return IpamConf(
        type=_str(value, "type", "ipam."),
        assign_ipv4=_strbool(value, "assign_ipv4", True),
        assign_ipv6=_strbool(value, "assign_ipv6", False),
        ipv4_pools=_strlist(value, "ipv4_pools"),
        ipv6_pools=_strlist(value, "ipv6_pools"),
        subnet=_str(value, "subnet", "ipam."),
    )


def _labels(args: object) -> tuple[tuple[str, str], ...]:
    """Labels from ``args.cni.labels`` (CNI conventions) and Mesos ``network_info.labels``."""
    if not isinstance(args, dict):
        return ()
    out: list[tuple[str, str]] = []
    cni = args.get("cni")
    if isinstance(cni, dict) and isinstance(cni.get("labels"), list):
        out.extend(_pairs(cni["labels"], "args.cni.labels"))
    mesos = args.get("org.apache.mesos")
    if isinstance(mesos, dict):
        info = mesos.get("network_info")
        labels = info.get("labels") if isinstance(info, dict) else None
        inner = labels.get("labels") if isinstance(labels, dict) else None
        if isinstance(inner, list):
            out.extend(_pairs(inner, "args.org.apache.mesos.network_info.labels.labels"))
    return tuple(out)


def _pairs(items: list[Any], where: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise CNIError(INVALID_CONFIG, "invalid network config", f"{where}: each label needs a string key")
        out.append((item["key"], str(item.get("value", ""))))
    return out


def _attachments(value: object) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad("cni.dev/valid-attachments", value, "a list")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise _bad("cni.dev/valid-attachments", item, "a list of objects")
        out.append((str(item.get("containerID", "")), str(item.get("ifname", ""))))
    return tuple(out)


def _bad(name: str, value: object, what: str) -> CNIError:
    return CNIError(INVALID_CONFIG, "invalid network config", f"field {name!r} must be {what}, got {value!r}")


def _str(doc: dict[str, Any], key: str, where: str = "") -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(where + key, value, "a string")
    return value


def _bool(doc: dict[str, Any], key: str, default: bool, where: str = "") -> bool:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(where + key, value, "true or false")
    return value


def _strbool(doc: dict[str, Any], key: str, default: bool) -> bool:
    """Calico's ``assign_ipv4``/``assign_ipv6`` are strings ("true"/"false"); accept booleans too."""
    value = doc.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _bad("ipam." + key, value, '"true" or "false"')


def _int(doc: dict[str, Any], key: str) -> int:
    value = doc.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(key, value, "a non-negative integer")
    return value


def _strlist(doc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad("ipam." + key, value, "a list of strings")
    return tuple(value)
