"""Entry point of the ``calico`` CNI plugin: env + stdin in, a result or an error object out.

Imports stay lazy: only what a command needs is loaded, since the plugin's run time is part of
every container's start-up time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Coroutine, Mapping

from calico.cni.errors import CALICO_FAILURE, INCOMPATIBLE_VERSION, IO_FAILURE, CNIError
from calico.cni.versions import LATEST, SUPPORTED_VERSIONS, at_least, check_supported
from calico.common import jsonlite as json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PLUGIN_VERSION = "v3.30.0"
# The lowest config version each command exists in.
_MIN_VERSION = {"CHECK": "0.4.0", "STATUS": "1.1.0", "GC": "1.1.0"}


def _read_stdin() -> bytes:
    try:
        return sys.stdin.buffer.read()
    except OSError as exc:
        raise CNIError(IO_FAILURE, "error reading from stdin", str(exc)) from None


def _stdin_version(data: bytes) -> str:
    try:
        doc = json.loads(data)
        version = doc.get("cniVersion") if isinstance(doc, dict) else None
        return version if isinstance(version, str) and version else "1.0.0"
    except ValueError:
        return "1.0.0"


def version_info(cni_version: str) -> dict[str, Any]:
    return {"cniVersion": cni_version or LATEST, "supportedVersions": list(SUPPORTED_VERSIONS)}


def run(env: Mapping[str, str], data: bytes, handler: Callable[..., Any], context: str) -> tuple[int, str]:
    """One invocation: (exit status, text for stdout). ``handler`` runs the command itself."""
    version = _stdin_version(data)
    try:
        from calico.cni.request import parse_request

        if env.get("CNI_COMMAND") == "VERSION":
            return 0, json.dumps(version_info(version if data.strip() else LATEST))
        req = parse_request(env)
        from calico.cni.netconf import parse_netconf

        conf = parse_netconf(data)
        version = conf.cni_version
        check_supported(version)
        needed = _MIN_VERSION.get(req.command)
        if needed and not at_least(version, needed):
            raise CNIError(INCOMPATIBLE_VERSION, f"config version does not allow {req.command}",
                           f'config is "{version}", {req.command} needs "{needed}" or later')
        from calico.cni import logs

        logs.configure(conf.log_level, conf.log_file_path, f"{context} {req.command} {req.container_id}")
        out = run_coroutine(handler(req, conf, env), conf)
        if out is None:
            return 0, ""
        return 0, json.dumps(out.to_dict(version), indent=1)
    except CNIError as exc:
        _log_failure(exc)
        return 1, exc.to_json(version)
    except Exception as exc:  # an unexpected failure is still reported in the spec's shape
        from calico.cni.logs import get_logger

        get_logger(__name__).exception("unexpected failure")
        return 1, CNIError(CALICO_FAILURE, f"{type(exc).__name__}: {exc}").to_json(version)


def run_coroutine(coro: Any, conf: Any) -> Any:
    """Run a command's coroutine: on asyncio's loop for the gRPC datastore adapter, else directly.

    With the plugin's JSON-gateway etcd client nothing ever suspends, so driving the coroutine by
    hand gives the same result without importing asyncio (a third of the plugin's start-up).
    """
    from calico.cni.store import needs_event_loop

    try:
        use_loop = needs_event_loop(conf)
    except BaseException:
        coro.close()  # never started: no "never awaited" warning on top of the error
        raise
    if use_loop:
        import asyncio

        return asyncio.run(coro)
    try:
        while True:
            if coro.send(None) is not None:
                raise RuntimeError("the command awaited an event-loop future without an event loop")
    except StopIteration as stop:
        return stop.value
    finally:
        coro.close()


def _log_failure(exc: CNIError) -> None:
    from calico.cni.logs import get_logger

    get_logger(__name__).error("%s", exc)


def _calico(req: Any, conf: Any, env: Mapping[str, str]) -> Coroutine[Any, Any, Any]:
    from calico.cni import plugin

    if req.command == "DEL":
        return plugin.cmd_del(req, conf, env)  # starts the interface delete now (see cmd_del)
    return _calico_async(req, conf, env)


async def _calico_async(req: Any, conf: Any, env: Mapping[str, str]) -> Any:
    from calico.cni import plugin

    if req.command == "ADD":
        return await plugin.cmd_add(req, conf, env)
    if req.command == "CHECK":
        await plugin.cmd_check(req, conf)
    elif req.command == "STATUS":
        await plugin.cmd_status(conf)
    elif req.command == "GC":
        await plugin.cmd_gc(req, conf, env)
    return None


def entry(handler: Any, plugin_name: str) -> None:
    """The executable's main: ``-v``, stdin, run ``handler``, print and exit (both plugins)."""
    if len(sys.argv) > 1 and sys.argv[1] in ("-v", "--version"):
        print(PLUGIN_VERSION)
        sys.exit(0)
    env = dict(os.environ)
    try:
        data = _read_stdin() if env.get("CNI_COMMAND") else b""
    except CNIError as exc:
        print(exc.to_json("1.0.0"))
        sys.exit(1)
    code, text = run(env, data, handler, plugin_name)
    finish(code, text)


def main() -> None:
    entry(_calico, "calico")


def finish(code: int, text: str) -> None:
    """Print the result and leave at once.

    ``os._exit`` after flushing skips the interpreter's finalization (tearing down the ~150
    modules an ADD loaded), which is a few milliseconds of every pod's start-up.
    """
    try:
        if text:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        from calico.cni import logs

        logs.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
