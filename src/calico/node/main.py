"""``calico-node``: start-up, then supervise Felix, the BGP agent and BIRD.

Modes (as calico/node's binary): no flag = start-up then run everything; ``-startup`` only the
start-up; ``-confd`` (alias ``-bgp-agent``) only the BGP agent; ``-felix`` runs Felix;
``-bird-live`` / ``-bird-ready`` health checks (exit 0 when healthy); ``-v`` prints the version.
Configuration comes from the environment (NODENAME, IP, AS, CALICO_NETWORKING_BACKEND,
ETCD_ENDPOINTS, CALICO_*_DIR, ...), as for calico/node.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping

from calico.node.paths import NodePaths, node_paths

log = logging.getLogger("calico.node")

STARTED_MESSAGE = "Calico node started successfully"


def _setup_logging(env: Mapping[str, str]) -> None:
    level = (env.get("CALICO_STARTUP_LOGLEVEL") or env.get("BGP_LOGSEVERITYSCREEN") or "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO), stream=sys.stdout,
        format="%(asctime)s.%(msecs)03d [%(levelname)s][%(process)d] %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )


async def _startup(env: Mapping[str, str], paths: NodePaths):  # type: ignore[no-untyped-def]
    from calico.datastore.config import connect, load_config
    from calico.node.startup import run_startup

    paths.ensure()
    ds = await connect(load_config(env=env))
    try:
        return await run_startup(ds, env, paths)
    finally:
        await ds.close()


async def _run_all(env: Mapping[str, str], paths: NodePaths) -> int:
    from calico.node.supervisor import (
        Child,
        Supervisor,
        bird_argv,
        felix_argv,
        felix_env,
        kernel_has_bird_routes,
    )

    identity = await _startup(env, paths)
    children: list[Child] = []
    if env.get("CALICO_DISABLE_FELIX", "").lower() != "true":
        argv = felix_argv()
        if argv is None:
            log.warning("Felix (calico-felix) is not installed: running without it "
                        "(set CALICO_DISABLE_FELIX=true to silence this)")
        else:
            felix_cmd: list[str] = argv
            children.append(Child("felix", lambda _r: felix_cmd, env=felix_env(env, identity.name, paths)))
    if identity.backend == "bird":
        # A stale config from an earlier run must not start BIRD before the agent rewrote it.
        try:
            paths.bird_config.unlink()
        except FileNotFoundError:
            pass
        agent = [sys.executable, "-m", "calico.node.main", "-confd"]
        children.append(Child("bgp-agent", lambda _r: agent))
        bird_binary = env.get("CALICO_BIRD_BINARY", "bird")
        recover_first = kernel_has_bird_routes()
        children.append(Child("bird", lambda restarted: bird_argv(paths, bird_binary, restarted or recover_first),
                              ready=paths.bird_config.exists))
    paths.node_pidfile.write_text(str(os.getpid()))

    def started() -> None:
        log.info(STARTED_MESSAGE)
        print(STARTED_MESSAGE, flush=True)

    try:
        await Supervisor(children).run(on_started=started)
    finally:
        try:
            paths.node_pidfile.unlink()
        except FileNotFoundError:
            pass
    return 0


async def _run_agent(env: Mapping[str, str], paths: NodePaths) -> int:
    from calico.bgp.agent import run_agent
    from calico.node.startup import determine_node_name

    await run_agent(determine_node_name(env, paths), paths, env)
    return 0


def _bird_check(paths: NodePaths, ready: bool) -> int:
    """Liveness: BIRD answers ``show status``. Readiness: every BGP peer Established and no
    graceful-restart recovery in progress (BIRD reply code 0024), as calico-node -bird-ready."""
    from calico.bgp.status import BirdError, bgp_peers, query

    try:
        status = query(str(paths.bird_socket), "show status")
        if not ready:
            return 0
        if any(line.startswith("0024") for line in status):
            print("calico/node is not ready: BIRD is not ready: graceful restart in progress", file=sys.stderr)
            return 1
        down = [p.address for p in bgp_peers(str(paths.bird_socket)) if p.info.split(" ")[0] != "Established"]
    except BirdError as exc:
        print(f"calico/node is not ready: BIRD is not ready: {exc}", file=sys.stderr)
        return 1
    if down:
        print(f"calico/node is not ready: BIRD is not ready: BGP not established with {','.join(down)}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    env = dict(os.environ)
    _setup_logging(env)
    paths = node_paths(env)
    flag = args[0] if args else ""
    try:
        if flag in ("-v", "--version", "-version"):
            from calico.node.startup import calico_version

            print(calico_version())
            return
        if flag == "-startup":
            identity = asyncio.run(_startup(env, paths))
            log.info("Start-up done for node %s", identity.name)
            return
        if flag in ("-confd", "-bgp-agent"):
            sys.exit(asyncio.run(_run_agent(env, paths)))
        if flag in ("-bird-ready", "-bird-live"):
            sys.exit(_bird_check(paths, ready=flag == "-bird-ready"))
        if flag == "-felix":
            from calico.node.supervisor import felix_argv

            felix = felix_argv()
            if felix is None:
                log.error("Felix (calico-felix) is not installed")
                sys.exit(1)
            os.execv(felix[0], felix)
        if flag:
            print(f"Unknown option {flag!r}; use -startup, -confd, -felix, -bird-live, -bird-ready or no option",
                  file=sys.stderr)
            sys.exit(2)
        sys.exit(asyncio.run(_run_all(env, paths)))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the entry point decides to exit, with the reason
        from calico.node.startup import StartupError

        if isinstance(exc, StartupError):
            log.error("%s", exc)
        else:
            log.exception("calico-node failed: %s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
