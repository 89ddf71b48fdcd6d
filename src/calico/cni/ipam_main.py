"""Entry point of the ``calico-ipam`` plugin: ADD assigns, DEL releases by handle (CNI 1.0.0 / 1.1.0)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from calico.cni.errors import CNIError
from calico.cni.main import PLUGIN_VERSION, _read_stdin, finish, run


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
    if len(sys.argv) > 1 and sys.argv[1] in ("-v", "--version"):
        print(PLUGIN_VERSION)
        sys.exit(0)
    env = dict(os.environ)
    try:
        data = _read_stdin() if env.get("CNI_COMMAND") else b""
    except CNIError as exc:
        print(exc.to_json("1.0.0"))
        sys.exit(1)
    code, text = run(env, data, _calico_ipam, "calico-ipam")
    finish(code, text)


if __name__ == "__main__":
    main()
