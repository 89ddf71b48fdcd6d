"""The entry point's contract: VERSION, and spec-shaped errors before any work is done."""

from __future__ import annotations

import json
from typing import Any

from calico.cni.main import run


async def _never(req: Any, conf: Any, env: Any) -> Any:
    raise AssertionError("handler must not run")


def test_version() -> None:
    code, text = run({"CNI_COMMAND": "VERSION"}, b'{"cniVersion": "0.4.0"}', _never, "t")
    assert code == 0 and json.loads(text)["cniVersion"] == "0.4.0"
    assert "1.1.0" in json.loads(text)["supportedVersions"]


def test_errors_are_spec_shaped() -> None:
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/x", "CNI_IFNAME": "eth0"}
    code, text = run(env, b'{"cniVersion": "2.0.0", "name": "n"}', _never, "t")
    err = json.loads(text)
    assert code == 1 and err["code"] == 1 and err["cniVersion"] == "2.0.0" and "msg" in err
    code, text = run(dict(env, CNI_COMMAND=""), b"{}", _never, "t")
    assert json.loads(text)["code"] == 4
    code, text = run(dict(env, CNI_COMMAND="CHECK"), b'{"cniVersion": "0.3.1", "name": "n"}', _never, "t")
    assert json.loads(text)["code"] == 1 and "CHECK" in json.loads(text)["msg"]
