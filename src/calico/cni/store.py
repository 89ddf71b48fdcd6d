"""The plugin's datastore access: connect from the network config, readiness, endpoints, profiles.

Writes the v3 JSON documents straight to Calico's etcd keys (calico-api.md §4.1) through the
shared Datastore protocol, so the hot path imports neither the API models nor a resource client.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from calico.cni.errors import CALICO_FAILURE, INVALID_CONFIG, TRY_AGAIN_LATER, CNIError
from calico.cni.logs import get_logger
from calico.common import jsonlite as json

if TYPE_CHECKING:
    from calico.cni.netconf import NetConf
    from calico.datastore.base import Datastore, KeyValue

log = get_logger(__name__)


def datastore_config(conf: NetConf) -> Any:
    """Settings from the network config if it names etcd, else calicoctl.cfg / the environment."""
    from calico.datastore.config import ConfigError, config_from_spec, load_config

    if conf.datastore_type == "kubernetes":
        raise CNIError(INVALID_CONFIG, "unsupported datastore_type",
                       "datastore_type 'kubernetes' is not supported: use etcdv3 with etcd_endpoints")
    try:
        spec = conf.datastore_spec()
        return config_from_spec(spec, source="network config") if spec else load_config()
    except ConfigError as exc:
        raise CNIError(INVALID_CONFIG, "invalid datastore configuration", str(exc)) from None


def needs_event_loop(conf: NetConf) -> bool:
    """Only the gRPC adapter needs asyncio's loop; the JSON client's coroutines never suspend."""
    try:
        return not _light_client_ok(datastore_config(conf))
    except CNIError:
        return False  # the error is reported when the command connects


async def open_datastore(conf: NetConf, probe: bool = True) -> Datastore:
    """Connect; with ``probe`` also make one request so an unreachable etcd fails here (code 11)."""
    from calico.datastore.base import DatastoreError
    from calico.datastore.config import ConfigError, connect

    config = datastore_config(conf)
    try:
        if _light_client_ok(config):
            from calico.datastore.etcd_http import EtcdJsonDatastore

            ds = EtcdJsonDatastore(list(config.endpoints), timeout=config.timeout)
            if probe:
                await ds.revision()  # reachable?
            return ds
        return await connect(config)
    except ConfigError as exc:
        raise CNIError(INVALID_CONFIG, "invalid datastore configuration", str(exc)) from None
    except DatastoreError as exc:
        raise _unreachable(exc, config.endpoints) from None


def _unreachable(exc: Exception, endpoints: Any) -> CNIError:
    return CNIError(TRY_AGAIN_LATER, "error connecting to the Calico datastore",
                    f"{exc} (endpoints: {', '.join(endpoints)})")


async def connect_ready(conf: NetConf, keys: tuple[str, ...] = ()) -> tuple[Datastore, list[KeyValue | None]]:
    """Connect, check readiness and read ``keys``: one etcd round trip for all three.

    ClusterInformation and the command's keys are read in a single read-only transaction, which
    also serves as the reachability probe (each round trip is part of the pod's start-up time).
    """
    from calico.datastore.base import DatastoreError
    from calico.datastore.keys import resource_key
    from calico.datastore.txn import Get

    ds = await open_datastore(conf, probe=False)
    try:
        try:
            res = await ds.txn((), [Get(resource_key("ClusterInformation", "default")), *(Get(k) for k in keys)])
        except DatastoreError as exc:
            raise _unreachable(exc, datastore_config(conf).endpoints) from None
        found = [r[0] if r else None for r in res.reads]
        _check_cluster_info(found[0])
    except BaseException:
        await ds.close()
        raise
    return ds, found[1:]


def _light_client_ok(config: Any) -> bool:
    """The JSON-gateway client serves plain http/unix endpoints without credentials or TLS."""
    import os

    if os.environ.get("CALICO_CNI_ETCD_CLIENT", "") == "grpc":
        return False
    from calico.datastore.etcd_http import EtcdJsonDatastore

    return (not (config.ca_cert_file or config.cert_file or config.key_file or config.username
                 or config.ca_cert or config.cert or config.key)
            and all(EtcdJsonDatastore.supports(url) for url in config.endpoints))


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # time, not datetime: cheaper to import


def new_uid() -> str:
    """A random (version 4) UUID; formatted by hand because importing uuid costs more than the rest."""
    import os

    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


async def check_ready(ds: Datastore) -> None:
    """Refuse while ClusterInformation says the datastore is not ready (e.g. during an upgrade)."""
    from calico.datastore.keys import resource_key

    _check_cluster_info(await ds.get(resource_key("ClusterInformation", "default")))


def _check_cluster_info(kv: KeyValue | None) -> None:
    if kv is None:
        return  # no calico-node has initialised the cluster: nothing says "not ready"
    spec = json.loads(kv.value).get("spec") or {}
    if spec.get("datastoreReady") is False:
        raise CNIError(TRY_AGAIN_LATER, "Calico is currently not ready to process requests")


def wep_key(namespace: str, name: str) -> str:
    from calico.datastore.keys import resource_key

    return resource_key("WorkloadEndpoint", name, namespace)


def profile_key(name: str) -> str:
    from calico.datastore.keys import resource_key

    return resource_key("Profile", name)


def decode(kv: KeyValue | None) -> tuple[dict[str, Any], KeyValue] | None:
    return (json.loads(kv.value), kv) if kv is not None else None


async def get_wep(ds: Datastore, namespace: str, name: str) -> tuple[dict[str, Any], KeyValue] | None:
    from calico.datastore.keys import resource_key

    kv = await ds.get(resource_key("WorkloadEndpoint", name, namespace))
    return (json.loads(kv.value), kv) if kv is not None else None


async def write_wep(ds: Datastore, wep: dict[str, Any], revision: int | None = None) -> int:
    """Create the endpoint (or update it at ``revision``); its new revision. Fails on a conflicting writer."""
    from calico.datastore.base import AlreadyExists, DatastoreError
    from calico.datastore.keys import resource_key

    meta = wep["metadata"]
    key = resource_key("WorkloadEndpoint", meta["name"], meta["namespace"])
    value = json.dumps(wep, separators=(",", ":"))
    try:
        if revision is None:
            return await ds.create(key, value)
        return await ds.update(key, value, revision)
    except AlreadyExists:
        raise CNIError(CALICO_FAILURE, "error writing WorkloadEndpoint",
                       f"resource already exists: WorkloadEndpoint({meta['namespace']}/{meta['name']})") from None
    except DatastoreError as exc:
        raise CNIError(CALICO_FAILURE, "error writing WorkloadEndpoint", str(exc)) from None


async def delete_wep(ds: Datastore, namespace: str, name: str, container_id: str) -> bool:
    """Delete the endpoint if it belongs to ``container_id``; a missing one is fine."""
    return await delete_found_wep(ds, await get_wep(ds, namespace, name), namespace, name, container_id)


async def delete_found_wep(ds: Datastore, found: tuple[dict[str, Any], KeyValue] | None, namespace: str,
                           name: str, container_id: str) -> bool:
    """``delete_wep`` for an endpoint already read (``found`` as ``get_wep`` returns it)."""
    from calico.datastore.base import Conflict, NotFound

    if found is None:
        log.info("WorkloadEndpoint %s/%s does not exist, no need to clean up", namespace, name)
        return False
    wep, kv = found
    owner = (wep.get("spec") or {}).get("containerID", "")
    if owner and owner != container_id:
        log.warning("WorkloadEndpoint %s/%s belongs to container %s, not %s: left alone",
                    namespace, name, owner, container_id)
        return False
    try:
        await ds.delete(kv.key, kv.mod_revision)
    except (NotFound, Conflict):
        return False
    return True


async def ensure_profile(ds: Datastore, profile: dict[str, Any], present: bool | None = None) -> bool:
    """Create the network's profile when absent (never updated once present); True if created.

    ``present`` is what an earlier read of the profile's key found (None: read it now).
    """
    from calico.datastore.base import AlreadyExists

    key = profile_key(profile["metadata"]["name"])
    if present is None:
        present = await ds.get(key) is not None
    if present:
        return False
    try:
        await ds.create(key, json.dumps(profile, separators=(",", ":")))
    except AlreadyExists:
        return False
    log.info("created profile %s", profile["metadata"]["name"])
    return True


async def list_weps(ds: Datastore, namespace: str) -> list[tuple[dict[str, Any], KeyValue]]:
    from calico.datastore.keys import kind_prefix

    kvs, _ = await ds.list(kind_prefix("WorkloadEndpoint", namespace))
    return [(json.loads(kv.value), kv) for kv in kvs]
