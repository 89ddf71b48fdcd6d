"""Entry point of the ``calico-ipam`` plugin: ADD assigns, DEL releases by handle (CNI 1.0.0 / 1.1.0)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calico.cni.main import entry


async def _calico_ipam(req: Any, conf: Any, env: Mapping[str, str]) -> Any:
    from calico.cni import ipam, plugin

    if req.command == "CHECK":
        return None  # Calico IPAM has nothing per-attachment to verify beyond the allocation itself
    ids = plugin.wep_ids(req, conf) if req.command in ("ADD", "DEL") else None
    if req.command == "STATUS":
        await plugin.cmd_status(conf)
        return None
    from calico.cni.store import open_datastore

    ds = await open_datastore(conf)
    try:
        if req.command == "ADD":
            assert ids is not None
            return await ipam.ipam_add(ds, conf, ids, req.arg("IP"))
        if req.command == "DEL":
            assert ids is not None
            await ipam.ipam_del(ds, conf, ids)
        elif req.command == "GC":
            await ipam.ipam_gc(ds, conf, {cid for cid, _ in conf.valid_attachments or ()})
        return None
    finally:
        await ds.close()


def main() -> None:
    entry(_calico_ipam, "calico-ipam")


if __name__ == "__main__":
    main()
