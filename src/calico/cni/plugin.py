"""The ``calico`` plugin's commands: ADD, DEL, CHECK, STATUS and GC (spec 1.0.0 / 1.1.0).

ADD: IPAM -> veth + addresses + routes -> WorkloadEndpoint (Felix then programs policy) -> result.
Anything created before a failure is removed again, addresses released.
"""

from __future__ import annotations

import _socket  # not socket: its enum set-up costs start-up time
import ipaddress
import os
from collections.abc import Callable, Coroutine, Mapping

from calico.cni import dataplane
from calico.cni.endpoint import add_profile, build_profile, build_wep
from calico.cni.errors import CALICO_FAILURE, INVALID_CONFIG, NOT_AVAILABLE, CNIError
from calico.cni.logs import get_logger
from calico.cni.names import WepIds, host_veth_name, identifiers
from calico.cni.netconf import CALICO_IPAM, DEFAULT_MTU, DEFAULT_MTU_FILE, NetConf
from calico.cni.result import Interface, IPConfig, Result, host_address, parse_result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from calico.cni.request import Request
    from calico.datastore.base import Datastore, KeyValue

log = get_logger(__name__)


# ----------------------------------------------------------------------------------------------
# Preamble shared by every command


def nodename(conf: NetConf) -> str:
    """``nodename``, else the nodename file, else the deprecated ``hostname``, else the OS hostname."""
    if not conf.nodename_file_optional and not os.path.exists(conf.nodename_file):
        raise CNIError(CALICO_FAILURE, f"stat {conf.nodename_file}: no such file or directory",
                       "check that the calico/node container is running and has mounted /var/lib/calico/")
    if conf.nodename:
        return conf.nodename
    try:
        with open(conf.nodename_file) as fh:
            name = fh.read().strip()
        if name:
            return name
    except OSError:
        pass
    return conf.hostname or _socket.gethostname().lower()


def pick_mtu(conf: NetConf) -> int:
    if conf.mtu:
        return conf.mtu
    try:
        with open(DEFAULT_MTU_FILE) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        if conf.require_mtu_file:
            raise CNIError(CALICO_FAILURE, f"failed to read MTU file {DEFAULT_MTU_FILE}",
                           "require_mtu_file is set; is Felix running?") from None
    return DEFAULT_MTU


def wep_ids(req: Request, conf: NetConf) -> WepIds:
    if not conf.name:
        raise CNIError(INVALID_CONFIG, "invalid network config", "field 'name' is required")
    ids = identifiers(nodename(conf), req.container_id, req.ifname,
                      req.arg("K8S_POD_NAME") if req.arg("K8S_POD_NAMESPACE") else "",
                      req.arg("K8S_POD_NAMESPACE") if req.arg("K8S_POD_NAME") else "")
    try:
        ids.wep_name()
    except ValueError as exc:
        raise CNIError(CALICO_FAILURE, "error constructing WorkloadEndpoint name", str(exc)) from None
    return ids


async def _connect(conf: NetConf) -> Datastore:
    from calico.cni.store import check_ready, open_datastore

    ds = await open_datastore(conf)
    try:
        await check_ready(ds)
    except BaseException:
        await ds.close()
        raise
    return ds


# ----------------------------------------------------------------------------------------------
# IPAM: in-process for calico-ipam, else the delegated binary


async def _ipam_add(ds: Datastore, req: Request, conf: NetConf, ids: WepIds, env: Mapping[str, str]) -> Result:
    if conf.ipam.type == CALICO_IPAM:
        from calico.cni.ipam import ipam_add

        return await ipam_add(ds, conf, ids, req.arg("IP"))
    if not conf.ipam.type:
        raise CNIError(INVALID_CONFIG, "invalid network config", "field 'ipam.type' is required")
    from calico.cni.delegate import exec_plugin

    doc = exec_plugin(conf.ipam.type, req.path, env, "ADD", conf.raw)
    return parse_result(doc or {})


async def _ipam_del(ds: Datastore | None, req: Request, conf: NetConf, ids: WepIds, env: Mapping[str, str],
                    absent: set[str] | None = None) -> None:
    if conf.ipam.type == CALICO_IPAM:
        if ds is None:
            raise CNIError(CALICO_FAILURE, "cannot release IPs: no datastore")
        from calico.cni.ipam import ipam_del

        await ipam_del(ds, conf, ids, absent or ())
        return
    if conf.ipam.type:
        from calico.cni.delegate import exec_plugin

        exec_plugin(conf.ipam.type, req.path, env, "DEL", conf.raw)


async def _release_after_failure(ds: Datastore, req: Request, conf: NetConf, ids: WepIds,
                                 env: Mapping[str, str]) -> None:
    try:
        await _ipam_del(ds, req, conf, ids, env)
    except Exception as exc:
        log.error("releasing addresses after a failed ADD also failed: %s", exc)


# ----------------------------------------------------------------------------------------------
# ADD


async def cmd_add(req: Request, conf: NetConf, env: Mapping[str, str]) -> Result:
    from calico.cni.store import connect_ready, decode, profile_key, wep_key

    ids = wep_ids(req, conf)
    mtu = pick_mtu(conf)
    dataplane.check_netns(req.netns)
    # Readiness, the network's profile and an existing endpoint: one read (one etcd round trip).
    ds, (profile_kv, wep_kv) = await connect_ready(conf, (profile_key(conf.name), wep_key(ids.namespace,
                                                                                           ids.wep_name())))
    try:
        if not conf.policy_type:
            from calico.cni.store import ensure_profile, new_uid, now_rfc3339

            await ensure_profile(ds, build_profile(conf.name, ids.orchestrator, uid=new_uid(), created=now_rfc3339()),
                                 present=profile_kv is not None)
        existing = await _existing_endpoint(ds, ids, conf, decode(wep_kv))
        if existing is not None:
            return existing
        return await _add_new(ds, req, conf, ids, mtu, env)
    finally:
        await ds.close()


async def _existing_endpoint(ds: Datastore, ids: WepIds, conf: NetConf,
                             found: tuple[dict[str, Any], KeyValue] | None) -> Result | None:
    """A container already networked (ADD for a second network): add the profile, no networking."""
    from calico.cni.store import write_wep

    if found is None:
        return None
    wep, kv = found
    if (wep.get("spec") or {}).get("containerID") != ids.container_id:
        return None
    if add_profile(wep, conf.name):
        await write_wep(ds, wep, kv.mod_revision)
        log.info("added profile %s to existing endpoint %s", conf.name, ids.wep_name())
    spec = wep["spec"]
    nets = spec.get("ipNetworks") or []
    return Result(
        interfaces=(Interface(name=spec.get("interfaceName", "")),),
        ips=tuple(IPConfig(address=n, interface=0) for n in nets),
    )


async def _add_new(ds: Datastore, req: Request, conf: NetConf, ids: WepIds, mtu: int,
                   env: Mapping[str, str]) -> Result:
    from calico.cni.store import new_uid, now_rfc3339, write_wep

    ipam_result = await _ipam_add(ds, req, conf, ids, env)
    networked = False
    plan = None
    try:
        addresses = tuple(host_address(ip).address for ip in ipam_result.ips)
        if not addresses:
            raise CNIError(CALICO_FAILURE, "IPAM plugin returned missing IP config")
        plan = dataplane.Plan(netns=req.netns, ifname=req.ifname,
                              host_ifname=host_veth_name(ids, conf.interface_prefix), mtu=mtu,
                              addresses=addresses, container_mac=dataplane.random_mac(),
                              allow_ip_forwarding=conf.allow_ip_forwarding)
        log.info("Calico CNI using IPs: %s", list(addresses))
        # The kernel work comes first, then the endpoint, as Calico's plugin does: Felix acts on
        # the endpoint as soon as it is written (it adds the /32 route itself), so writing it while
        # the veth and route are still being made races Felix for the host route.
        dataplane.setup(plan)
        networked = True
        wep = build_wep(ids, ip_networks=list(addresses), profiles=[conf.name],
                        interface_name=plan.host_ifname, mac=plan.container_mac,
                        labels=dict(conf.labels), uid=new_uid(), created=now_rfc3339())
        await write_wep(ds, wep)
        log.info("wrote WorkloadEndpoint %s/%s", ids.namespace, ids.wep_name())
    except BaseException:
        if networked and plan is not None:
            try:
                dataplane.teardown(plan.netns, plan.ifname)
            except Exception as exc:
                log.error("removing the interface after a failed ADD also failed: %s", exc)
        await _release_after_failure(ds, req, conf, ids, env)
        raise
    return Result(
        interfaces=(Interface(name=plan.host_ifname),
                    Interface(name=req.ifname, mac=plan.container_mac, mtu=mtu, sandbox=req.netns)),
        ips=tuple(IPConfig(address=a, interface=1) for a in addresses),
        routes=ipam_result.routes,
        dns=ipam_result.dns,
    )


# ----------------------------------------------------------------------------------------------
# DEL


def cmd_del(req: Request, conf: NetConf, env: Mapping[str, str]) -> Coroutine[Any, Any, None]:
    """Idempotent: release, delete the endpoint, remove the interface; report the first error last.

    Not itself a coroutine function: the interface is deleted on a thread started here, before
    the coroutine (the datastore part) is run and its modules imported. Deleting a veth waits out
    RCU grace periods, the longest single step of a DEL; it needs no datastore.
    """
    ids = wep_ids(req, conf)
    wait_teardown = dataplane.teardown_in_background(req.netns, req.ifname)
    return _del_from_datastore(req, conf, env, ids, wait_teardown)


async def _del_from_datastore(req: Request, conf: NetConf, env: Mapping[str, str], ids: WepIds,
                              wait_teardown: Callable[[], None]) -> None:
    ipam_error: CNIError | None = None
    try:
        from calico.cni.store import connect_ready, decode, delete_found_wep, wep_key

        # The endpoint and (for calico-ipam) both handle records are read with the readiness check.
        handles: tuple[str, ...] = ()
        if conf.ipam.type == CALICO_IPAM:
            from calico.cni.ipam import handles as ipam_handles

            handles = ipam_handles(conf, ids)
        from calico.datastore.keys import handle_key

        ds, (wep_kv, *handle_kvs) = await connect_ready(
            conf, (wep_key(ids.namespace, ids.wep_name()), *(handle_key(h) for h in handles)))
        try:
            try:
                absent = {h for h, kv in zip(handles, handle_kvs, strict=True) if kv is None}
                await _ipam_del(ds, req, conf, ids, env, absent)
            except CNIError as exc:
                ipam_error = exc
            await delete_found_wep(ds, decode(wep_kv), ids.namespace, ids.wep_name(), ids.container_id)
        finally:
            await ds.close()
    except BaseException:
        try:
            wait_teardown()
        except Exception as exc:
            log.error("removing %s from %s also failed: %s", req.ifname, req.netns, exc)
        raise
    wait_teardown()
    if ipam_error is not None:
        raise ipam_error


# ----------------------------------------------------------------------------------------------
# CHECK


async def cmd_check(req: Request, conf: NetConf) -> None:
    """Compare the container's interface, addresses and routes with the ADD result; name what is missing."""
    dataplane.check_netns(req.netns)
    if conf.prev_result is not None:
        expected = [host_address(ip).address for ip in parse_result(conf.prev_result).ips]
    else:
        expected = await _expected_from_wep(req, conf)
    missing = check_missing(dataplane.observe(req.netns, req.ifname), req.ifname, expected)
    if missing:
        raise CNIError(CALICO_FAILURE, f"CHECK of {req.ifname} in {req.netns} failed", "; ".join(missing))


async def _expected_from_wep(req: Request, conf: NetConf) -> list[str]:
    from calico.cni.store import get_wep

    ids = wep_ids(req, conf)
    ds = await _connect(conf)
    try:
        found = await get_wep(ds, ids.namespace, ids.wep_name())
    finally:
        await ds.close()
    if found is None:
        raise CNIError(CALICO_FAILURE, "CHECK failed", f"WorkloadEndpoint {ids.namespace}/{ids.wep_name()} is missing")
    return list((found[0].get("spec") or {}).get("ipNetworks") or [])


def check_missing(seen: dataplane.Observed, ifname: str, expected: list[str]) -> list[str]:
    """What ADD created that is no longer there (pure)."""
    if not seen.exists:
        return [f"interface {ifname} is missing"]
    missing = [f"address {a} is missing from {ifname}" for a in expected if a not in seen.addresses]
    has_v4 = any(ipaddress.ip_interface(a).version == 4 for a in expected)
    has_v6 = any(ipaddress.ip_interface(a).version == 6 for a in expected)
    if has_v4:
        if (dataplane.GATEWAY_V4, "") not in seen.routes:
            missing.append(f"route {dataplane.GATEWAY_V4} dev {ifname} scope link is missing")
        if ("default", dataplane.GATEWAY_V4) not in seen.routes:
            missing.append(f"default route via {dataplane.GATEWAY_V4} is missing")
    if has_v6 and ("default", dataplane.GATEWAY_V6) not in seen.routes:
        missing.append(f"default route via {dataplane.GATEWAY_V6} is missing")
    return missing


# ----------------------------------------------------------------------------------------------
# STATUS and GC (CNI 1.1)


async def cmd_status(conf: NetConf) -> None:
    """Ready for ADDs when the datastore answers and is not flagged as not ready (else code 50)."""
    try:
        ds = await _connect(conf)
    except CNIError as exc:
        raise CNIError(NOT_AVAILABLE, "Calico is not available", f"{exc.msg}: {exc.details}") from None
    await ds.close()


async def cmd_gc(req: Request, conf: NetConf, env: Mapping[str, str]) -> list[str]:
    """Release addresses and endpoints of this network's attachments that the runtime no longer has."""
    valid = {cid for cid, _ in conf.valid_attachments or ()}
    ds = await _connect(conf)
    removed: list[str] = []
    try:
        if conf.ipam.type == CALICO_IPAM:
            from calico.cni.ipam import ipam_gc

            removed += await ipam_gc(ds, conf, valid)
        removed += await _gc_endpoints(ds, conf, valid)
    finally:
        await ds.close()
    if conf.ipam.type and conf.ipam.type != CALICO_IPAM:
        from calico.cni.delegate import exec_plugin

        try:
            exec_plugin(conf.ipam.type, req.path, env, "GC", conf.raw)
        except CNIError as exc:
            log.warning("GC of delegated IPAM %s failed: %s", conf.ipam.type, exc)
    return removed


async def _gc_endpoints(ds: Datastore, conf: NetConf, valid: set[str]) -> list[str]:
    from calico.cni.store import list_weps

    node = nodename(conf)
    removed = []
    for wep, kv in await list_weps(ds, ""):
        spec: dict[str, Any] = wep.get("spec") or {}
        if spec.get("node") != node or spec.get("orchestrator") not in ("cni", "k8s"):
            continue
        if conf.name not in (spec.get("profiles") or []) or spec.get("containerID") in valid:
            continue
        try:
            await ds.delete(kv.key, kv.mod_revision)
            removed.append(wep["metadata"]["name"])
        except Exception as exc:
            log.warning("GC: could not delete %s: %s", kv.key, exc)
    return removed
