"""Datastore connection settings, read exactly as calicoctl reads them (file or environment).

Kept free of grpc/aetcd imports: ``connect`` imports the etcd adapter lazily, so a CLI that only
parses its arguments does not pay for gRPC start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from calico.common.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from calico.datastore.etcd import EtcdDatastore

DEFAULT_CONFIG_FILE = "/etc/calico/calicoctl.cfg"
DEFAULT_ENDPOINT = "http://127.0.0.1:2379"
DEFAULT_TIMEOUT = 5.0
ETCDV3 = "etcdv3"
KUBERNETES = "kubernetes"

# CalicoAPIConfigSpec's JSON fields (libcalico-go apiconfig); anything else is a strict-parse error.
_V3_SPEC_FIELDS = frozenset({
    "datastoreType", "etcdEndpoints", "etcdDiscoverySrv", "etcdUsername", "etcdPassword",
    "etcdKeyFile", "etcdCertFile", "etcdCACertFile", "etcdKey", "etcdCert", "etcdCACert",
    "kubeconfig", "k8sAPIEndpoint", "k8sKeyFile", "k8sCertFile", "k8sCAFile", "k8sAPIToken",
    "k8sInsecureSkipTLSVerify", "k8sDisableNodePoll", "usePodCIDR", "kubeconfigInline",
    "k8sClientQPS", "k8sCurrentContext", "calicoAPIGroup",
})
# calicoctl 1.x (v1 API) spec fields; etcdScheme + etcdAuthority form a single endpoint.
_V1_SPEC_FIELDS = frozenset({
    "datastoreType", "etcdEndpoints", "etcdAuthority", "etcdScheme", "etcdUsername", "etcdPassword",
    "etcdKeyFile", "etcdCertFile", "etcdCACertFile", "kubeconfig", "k8sAPIEndpoint", "k8sKeyFile",
    "k8sCertFile", "k8sCAFile", "k8sAPIToken", "k8sInsecureSkipTLSVerify", "k8sDisableNodePoll",
})
_BOOL_FIELDS = frozenset({"k8sInsecureSkipTLSVerify", "k8sDisableNodePoll", "usePodCIDR"})
_NUMBER_FIELDS = frozenset({"k8sClientQPS"})
_TOP_FIELDS = frozenset({"apiVersion", "kind", "metadata", "spec"})

# (spec field, environment variable without the CALICO_ prefix)
_ENV_FIELDS = (
    ("datastoreType", "DATASTORE_TYPE"),
    ("etcdEndpoints", "ETCD_ENDPOINTS"),
    ("etcdDiscoverySrv", "ETCD_DISCOVERY_SRV"),
    ("etcdUsername", "ETCD_USERNAME"),
    ("etcdPassword", "ETCD_PASSWORD"),
    ("etcdKeyFile", "ETCD_KEY_FILE"),
    ("etcdCertFile", "ETCD_CERT_FILE"),
    ("etcdCACertFile", "ETCD_CA_CERT_FILE"),
)


class ConfigError(Exception):
    """The datastore configuration is missing, unreadable or unsupported."""


@record
class Endpoint:
    """One etcd endpoint: the URL the user wrote and the gRPC target it maps to."""

    url: str
    target: str
    tls: bool


@record
class DatastoreConfig:
    """Where the datastore is and how to authenticate to it (CalicoAPIConfig's etcd part)."""

    datastore_type: str = ETCDV3
    endpoints: tuple[str, ...] = (DEFAULT_ENDPOINT,)
    discovery_srv: str = ""
    ca_cert_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    ca_cert: str = field(default="", repr=False)  # inline PEM (config file only)
    cert: str = field(default="", repr=False)
    key: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT  # total deadline of one datastore call, over every endpoint
    source: str = "environment"  # where the settings came from, for error messages

    def __post_init__(self) -> None:
        # Accept a list (or any iterable) of endpoints but keep the value immutable.
        object.__setattr__(self, "endpoints", tuple(self.endpoints))

    def parsed_endpoints(self) -> list[Endpoint]:
        return [parse_endpoint(url) for url in self.endpoints]


def parse_endpoint(url: str) -> Endpoint:
    """Map an etcd client URL to a gRPC target.

    ``http://h:p`` and ``https://h:p`` (TLS) -> ``h:p``; ``unix:///abs/path`` -> ``unix:///abs/path``;
    ``unix://rel/path`` -> ``unix:rel/path`` (relative to the working directory, like etcd's own
    ``unix://etcd.sock:0`` listener); a bare ``h:p`` is taken as http.
    """
    text = url.strip()
    if not text:
        raise ConfigError("empty etcd endpoint")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    scheme = scheme.lower()
    if scheme in ("unix", "unixs"):
        if not rest:
            raise ConfigError(f"invalid etcd endpoint '{url}': missing socket path")
        target = f"unix://{rest}" if rest.startswith("/") else f"unix:{rest}"
        return Endpoint(url=text, target=target, tls=scheme == "unixs")
    if scheme not in ("http", "https"):
        raise ConfigError(
            f"invalid etcd endpoint '{url}': unsupported scheme '{scheme}' (use http, https or unix)"
        )
    hostport = rest.split("/", 1)[0]
    if not hostport:
        raise ConfigError(f"invalid etcd endpoint '{url}': missing host")
    if not _has_port(hostport):
        hostport += ":2379"
    return Endpoint(url=text, target=hostport, tls=scheme == "https")


def _has_port(hostport: str) -> bool:
    if hostport.startswith("["):  # [v6]:port
        return "]:" in hostport
    return hostport.count(":") == 1


def split_endpoints(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(config_file: str | None = None, env: Mapping[str, str] | None = None) -> DatastoreConfig:
    """calicoctl's rules: the file if it exists (default /etc/calico/calicoctl.cfg), else environment.

    A missing default file silently falls back to the environment; a missing file named explicitly is
    an error (``Error reading config file: <f>``).
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    path = DEFAULT_CONFIG_FILE if config_file is None else config_file
    if not os.path.exists(path):
        if path != DEFAULT_CONFIG_FILE:
            raise ConfigError(f"Error reading config file: {path}")
        return config_from_env(environ)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"Error reading config file: {path}") from exc
    try:
        spec = spec_from_bytes(data)
    except ConfigError as exc:
        raise ConfigError(f"syntax error in {path}: {exc}") from None
    return config_from_spec(spec, source=f"config file {path}")


def config_from_env(env: Mapping[str, str]) -> DatastoreConfig:
    """Each variable may also carry a ``CALICO_`` prefix, which wins when set (as envconfig does)."""
    spec: dict[str, str] = {}
    for spec_field, name in _ENV_FIELDS:
        value = env.get(f"CALICO_{name}")
        if value is None:
            value = env.get(name)
        if value is not None:
            spec[spec_field] = value
    return config_from_spec(spec, source="environment")


def spec_from_bytes(data: bytes) -> dict[str, Any]:
    """Parse a CalicoAPIConfig document (YAML or JSON, strict) into its spec fields."""
    import yaml

    try:
        doc = yaml.safe_load(data.decode("utf-8")) if data.strip() else {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"failed to parse config as YAML/JSON: {_one_line(exc)}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(
            "failed to parse config as YAML/JSON: error unmarshaling JSON: json: cannot unmarshal "
            f"{_json_type(doc)} into Go value of type apiconfig.CalicoAPIConfig"
        )
    for key in doc:
        if key not in _TOP_FIELDS:
            raise ConfigError(_unknown_field(key))
    api_version = _str_field(doc, "apiVersion", "")
    kind = _str_field(doc, "kind", "")
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        raise ConfigError(_type_error("spec", spec, "apiconfig.CalicoAPIConfigSpec"))
    if api_version == "v1" and kind == "calicoApiConfig":
        return _v1_spec(spec)
    if api_version != "projectcalico.org/v3":
        raise ConfigError(f"invalid config file: unknown APIVersion '{api_version}'")
    if kind != "CalicoAPIConfig":
        raise ConfigError(f"invalid config file: expected kind 'CalicoAPIConfig', got '{kind}'")
    return _checked_spec(spec, _V3_SPEC_FIELDS)


def _v1_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """calicoctl 1.x's ``calicoApiConfig``: etcdv2 meant etcd, and scheme+authority one endpoint."""
    out = _checked_spec(spec, _V1_SPEC_FIELDS)
    if out.get("datastoreType") == "etcdv2":
        out["datastoreType"] = ETCDV3
    authority = out.pop("etcdAuthority", "")
    scheme = out.pop("etcdScheme", "") or "http"
    if authority and not out.get("etcdEndpoints"):
        out["etcdEndpoints"] = f"{scheme}://{authority}"
    return out


def _checked_spec(spec: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key not in allowed:
            raise ConfigError(_unknown_field(str(key)))
        if value is None:
            continue
        if key in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise ConfigError(_type_error(f"spec.{key}", value, "bool"))
        elif key in _NUMBER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(_type_error(f"spec.{key}", value, "float32"))
        elif not isinstance(value, str):
            raise ConfigError(_type_error(f"spec.{key}", value, "string"))
        out[key] = value
    return out


def config_from_spec(spec: Mapping[str, Any], source: str) -> DatastoreConfig:
    """Apply Calico's defaults and this implementation's limits (etcd v3 only)."""
    dstype = str(spec.get("datastoreType") or "")
    endpoints = str(spec.get("etcdEndpoints") or "")
    discovery = str(spec.get("etcdDiscoverySrv") or "")
    if not dstype:
        # Calico would pick kubernetes here; this implementation only speaks etcd v3.
        dstype = ETCDV3
    if dstype == KUBERNETES:
        raise ConfigError(
            f"datastore type 'kubernetes' ({source}) is not supported: only etcdv3 is supported; "
            "set DATASTORE_TYPE=etcdv3 and ETCD_ENDPOINTS"
        )
    if dstype != ETCDV3:
        raise ConfigError(f"unknown datastore type: {dstype} (only etcdv3 is supported)")
    if endpoints and discovery:
        raise ConfigError(
            'multiple discovery or bootstrap options specified, use either "etcdEndpoints" or '
            '"etcdDiscoverySrv"'
        )
    if discovery:
        raise ConfigError(
            f"etcdDiscoverySrv ({discovery}) is not supported: list the etcd endpoints in "
            "etcdEndpoints / ETCD_ENDPOINTS instead"
        )
    urls = split_endpoints(endpoints) or (DEFAULT_ENDPOINT,)
    for url in urls:
        parse_endpoint(url)  # reject a bad endpoint now, with the URL in the message
    username = str(spec.get("etcdUsername") or "")
    password = str(spec.get("etcdPassword") or "")
    if bool(username) != bool(password) and not username:
        raise ConfigError("etcd password given without a username (set ETCD_USERNAME)")
    return DatastoreConfig(
        datastore_type=ETCDV3,
        endpoints=urls,
        ca_cert_file=str(spec.get("etcdCACertFile") or ""),
        cert_file=str(spec.get("etcdCertFile") or ""),
        key_file=str(spec.get("etcdKeyFile") or ""),
        username=username,
        password=password,
        ca_cert=str(spec.get("etcdCACert") or ""),
        cert=str(spec.get("etcdCert") or ""),
        key=str(spec.get("etcdKey") or ""),
        source=source,
    )


def _str_field(doc: Mapping[str, Any], key: str, default: str) -> str:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConfigError(_type_error(key, value, "string"))
    return value


def _unknown_field(name: str) -> str:
    return (
        "failed to parse config as YAML/JSON: error unmarshaling JSON: while decoding JSON: "
        f'json: unknown field "{name}"'
    )


def _type_error(path: str, value: object, go_type: str) -> str:
    return (
        "failed to parse config as YAML/JSON: error unmarshaling JSON: while decoding JSON: "
        f"json: cannot unmarshal {_json_type(value)} into Go struct field {path} of type {go_type}"
    )


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# ---------------------------------------------------------------------------------------------
# Connecting


async def connect(config: DatastoreConfig | None = None) -> EtcdDatastore:
    """An EtcdDatastore for ``config`` (default: ``load_config()``), checked reachable.

    Raises ConfigError for unusable settings (unreadable certificate files, ...) and
    ``Unavailable`` (naming the endpoints) when no endpoint answers within the deadline.
    """
    from calico.datastore.etcd import EtcdDatastore

    ds = EtcdDatastore(config if config is not None else load_config())
    try:
        await ds.check()
    except BaseException:
        await ds.close()
        raise
    return ds
