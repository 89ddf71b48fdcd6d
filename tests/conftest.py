"""Shared fixtures: one real etcd per test session (wiped between tests) and namespaces."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.support.etcd import EtcdServer
from tests.support.netns import Netns, cleanup_run_namespaces


def _have(binary: str) -> bool:
    return shutil.which(binary) is not None


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    if not _have("etcd"):
        pytest.skip("etcd not installed (make setup installs etcd-server)")
    server = EtcdServer().start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def etcd(etcd_server: EtcdServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EtcdServer]:
    """A clean /calico tree; ETCD_ENDPOINTS points at it for code under test."""
    etcd_server.wipe()
    monkeypatch.setenv("DATASTORE_TYPE", "etcdv3")
    monkeypatch.setenv("ETCD_ENDPOINTS", etcd_server.url)
    yield etcd_server


@pytest.fixture
def netns_factory() -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    created: list[Netns] = []

    def make(name: str) -> Netns:
        ns = Netns(name)
        created.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in reversed(created):
            ns.delete()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.geteuid() == 0 and _have("ip"):
        cleanup_run_namespaces()
