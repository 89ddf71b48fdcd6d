"""The BGP agent (Calico's confd): watch the datastore, compute, render, write, reload BIRD.

One task owns the cached datastore view. After the initial list and after every batch of watch
events it recomputes the whole configuration; when the text differs from what is on disk it is
checked with ``bird -p -c`` first, written atomically, and BIRD is told to ``configure``. A
config BIRD rejects is never written, so BIRD keeps running the last good one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from calico.bgp import inputs
from calico.bgp.compute import ComputeError, compute, selector_matcher
from calico.bgp.model import BlockInfo, ClusterState, Tuning
from calico.bgp.render import render
from calico.bgp.status import BirdError, query
from calico.datastore.base import Compacted, Datastore, DatastoreError
from calico.datastore.keys import RESOURCE_ROOT, affinity_prefix, parse_affinity_key
from calico.node.paths import NodePaths

log = logging.getLogger("calico.bgp.agent")

WATCH_PREFIX = "/calico/"
_PLURALS = ("nodes", "bgppeers", "bgpconfigurations", "ippools", "bgpfilters")


def tuning_from_env(env: Mapping[str, str]) -> Tuning:
    """Timer knobs for tests and fast-failover sites (``CALICO_BGP_*``)."""

    def num(name: str) -> int | None:
        value = env.get(name, "").strip()
        return int(value) if value else None

    wait = env.get("CALICO_BGP_ERROR_WAIT_TIME", "").strip()
    wait_min, wait_max = (int(x) for x in wait.split(",")) if wait else (5, 30)
    return Tuning(
        hold_time=num("CALICO_BGP_HOLD_TIME"),
        keepalive_time=num("CALICO_BGP_KEEPALIVE_TIME"),
        connect_delay_time=num("CALICO_BGP_CONNECT_DELAY_TIME") or 2,
        connect_retry_time=num("CALICO_BGP_CONNECT_RETRY_TIME") or 5,
        error_wait_min=wait_min,
        error_wait_max=wait_max,
        kernel_scan_time=num("CALICO_BGP_SCAN_TIME") or 2,
        graceful_restart_wait=num("CALICO_BGP_GRACEFUL_RESTART_WAIT"),
    )


@dataclass
class _View:
    """The datastore keys the agent cares about (raw values)."""

    resources: dict[str, dict[str, str]] = field(default_factory=lambda: {p: {} for p in _PLURALS})
    affinities: dict[str, str] = field(default_factory=dict)


class BgpAgent:
    def __init__(self, ds: Datastore, node_name: str, paths: NodePaths,
                 env: Mapping[str, str] | None = None, bird_binary: str = "bird") -> None:
        self.ds = ds
        self.node_name = node_name
        self.paths = paths
        self.env = dict(os.environ if env is None else env)
        self.bird_binary = bird_binary
        self.view = _View()
        self.tuning = tuning_from_env(self.env)
        self.match = selector_matcher()
        self.last_text: str | None = None
        self.rejected_text: str | None = None
        self.reloads = 0
        self._bad: dict[str, str] = {}
        self.first_write = asyncio.Event()

    # ----- datastore view
    def _classify(self, key: str) -> tuple[str, str] | None:
        if key.startswith(RESOURCE_ROOT):
            plural = key[len(RESOURCE_ROOT):].split("/", 1)[0]
            if plural in _PLURALS:
                return "res", plural
            return None
        if key.startswith(affinity_prefix(self.node_name)):
            return "aff", ""
        return None

    def _store(self, key: str, value: str | None) -> bool:
        kind = self._classify(key)
        if kind is None:
            return False
        table = self.view.resources[kind[1]] if kind[0] == "res" else self.view.affinities
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        return True

    async def _load(self) -> int:
        """One consistent snapshot of just the kinds the agent uses (all read at one revision)."""
        self.view = _View()
        prefixes = [f"{RESOURCE_ROOT}{p}/" for p in _PLURALS] + [affinity_prefix(self.node_name)]
        kvs, revision = await self.ds.list(prefixes[0])
        for kv in kvs:
            self._store(kv.key, kv.value)
        for prefix in prefixes[1:]:
            kvs, _ = await self.ds.list(prefix, revision=revision)
            for kv in kvs:
                self._store(kv.key, kv.value)
        return revision

    # ----- state
    def _parse_all(self, plural: str, parse):  # type: ignore[no-untyped-def]
        import json

        out = []
        for key, value in sorted(self.view.resources[plural].items()):
            try:
                out.append(parse(json.loads(value)))
                self._bad.pop(key, None)
            except (inputs.InputError, ValueError, KeyError, TypeError) as exc:
                if self._bad.get(key) != str(exc):
                    log.error("Ignoring invalid resource %s: %s", key, exc)
                    self._bad[key] = str(exc)
        return out

    def _secrets(self) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        root = self.paths.secrets_dir
        if root.is_dir():
            for path in root.glob("*/*"):
                if not path.is_file():
                    continue
                value = path.read_text().strip()
                if '"' in value or "\n" in value:
                    log.error("Ignoring BGP password %s: it contains a quote or newline, which BIRD cannot "
                              "represent", path)
                    continue
                out[(path.parent.name, path.name)] = value
        return out

    def cluster_state(self) -> ClusterState:
        nodes = {n.name: n for n in self._parse_all("nodes", inputs.node_info)}
        configs = {c.name: c for c in self._parse_all("bgpconfigurations", inputs.bgp_config_spec)}
        blocks = []
        for key, value in sorted(self.view.affinities.items()):
            parsed = parse_affinity_key(key)
            state = inputs.affinity_state(value)
            if parsed is not None and state is not None:
                blocks.append(BlockInfo(parsed[1], state))
        return ClusterState(
            node_name=self.node_name,
            nodes=nodes,
            peers=tuple(self._parse_all("bgppeers", inputs.peer_spec)),
            configs=configs,
            pools=tuple(self._parse_all("ippools", inputs.pool_info)),
            blocks=tuple(blocks),
            filters={f.name: f for f in self._parse_all("bgpfilters", inputs.filter_spec)},
            secrets=self._secrets(),
            router_id_env=self.env.get("CALICO_ROUTER_ID") or None,
            advertise_cluster_ips_env=self.env.get("CALICO_ADVERTISE_CLUSTER_IPS") or None,
            tuning=self.tuning,
        )

    # ----- output
    async def apply(self) -> bool:
        """Recompute; write and reload if the text changed. True if BIRD got a new config."""
        try:
            text = render(compute(self.cluster_state(), self.match))
        except ComputeError as exc:
            log.warning("Not configuring BIRD yet: %s", exc)
            return False
        except ValueError as exc:  # a value BIRD's syntax cannot carry (e.g. a quote in a name)
            log.error("Cannot render a BIRD configuration; keeping the last good one running: %s", exc)
            return False
        if text == self.last_text or text == self.rejected_text:
            return False
        error = await self._check(text)
        if error is not None:
            log.error("BIRD rejected the new configuration; keeping the last good one running: %s", error)
            self.rejected_text = text
            return False
        self._write(text)
        self.last_text = text
        self.rejected_text = None
        self.first_write.set()
        await self._reload()
        return True

    async def _check(self, text: str) -> str | None:
        fd, tmp = tempfile.mkstemp(prefix="bird-check-", suffix=".cfg", dir=self.paths.bird_config_dir)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            proc = await asyncio.create_subprocess_exec(
                self.bird_binary, "-p", "-c", tmp,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                return out.decode(errors="replace").strip() or f"bird -p exited {proc.returncode}"
            return None
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def _write(self, text: str) -> None:
        target = self.paths.bird_config
        fd, tmp = tempfile.mkstemp(prefix=".bird-", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        log.info("Wrote BIRD configuration %s (%d bytes)", target, len(text))

    async def _reload(self) -> None:
        sock = str(self.paths.bird_socket)
        if not Path(sock).exists():
            log.info("BIRD is not running yet (no socket %s); it will read the file when it starts", sock)
            return
        try:
            reply = await asyncio.to_thread(query, sock, "configure", 10.0)
        except BirdError as exc:
            log.error("BIRD did not reload its configuration: %s", exc)
            return
        self.reloads += 1
        log.info("BIRD reconfigured: %s", " ".join(line[5:].strip() for line in reply) or "ok")

    # ----- main loop
    async def run(self) -> None:
        """List, apply, watch; resync from scratch when the watch history is compacted."""
        while True:
            try:
                revision = await self._load()
                await self.apply()
                async for batch in self.ds.watch(WATCH_PREFIX, revision + 1):
                    changed = False
                    for event in batch:
                        changed |= self._store(event.key, event.value)
                    if changed:
                        await self.apply()
            except Compacted as exc:
                log.warning("Watch history compacted (%s); resyncing", exc)
            except DatastoreError as exc:
                log.error("Datastore error: %s; retrying in 1s", exc)
                await asyncio.sleep(1)


async def run_agent(node_name: str, paths: NodePaths, env: Mapping[str, str] | None = None) -> None:
    from calico.datastore.config import connect, load_config

    env_map = dict(os.environ if env is None else env)
    ds = await connect(load_config(env=env_map))
    try:
        paths.ensure()
        await BgpAgent(ds, node_name, paths, env_map).run()
    finally:
        await ds.close()


__all__ = ["BgpAgent", "run_agent", "tuning_from_env"]
