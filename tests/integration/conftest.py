"""Integration tier: real etcd and real component processes on loopback.

`local_cluster` starts one control plane per test module through the same
launcher users run (`kubelab cluster up --local`), with its own state dir
and kubeconfig, and stops it afterwards.

CI runs this tier on two pytest-xdist workers, a file per worker at a time (scripts/test.sh): a module's
cluster must stay its own, so a fixture picks free ports (`lab.local.free_port`), keeps its state, etcd data
and kubeconfig under the worker's own temp dir, and never uses a fixed port or path.
"""
from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from kubelab.client import Client
from lab import local as launcher
from tests.harness.kubeconfig import _kubeconfig_in_a_temp_file  # noqa: F401  (autouse: the tier's own kubeconfig)
from tests.harness.kubeconfig import kubeconfig_in

pytestmark = pytest.mark.integration


def need_etcd() -> None:
    """This tier's tests need etcd: without it they fail (a CI machine that lacks it must not pass by
    skipping the tier)."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not on PATH: the integration tier needs it (on Debian: apt-get install etcd-server "
                    "etcd-client; scripts/test.sh installs them)", pytrace=False)


@contextlib.asynccontextmanager
async def open_client(cluster: dict[str, Any]) -> AsyncIterator[Client]:
    """A client of a test cluster, closed after the block."""
    c = Client(cluster["server"], cluster["token"])
    try:
        yield c
    finally:
        await c.close()


@contextlib.contextmanager
def launched(tmp: Path, remove_context: bool = True, **up: Any) -> Iterator[dict[str, Any]]:
    """A cluster from the launcher users run (`kubelab cluster up --local`, `up` its arguments), its state and
    kubeconfig in `tmp` (info["state_path"], info["home"]); stopped when the block ends."""
    need_etcd()
    state = tmp / "state"
    with kubeconfig_in(tmp):
        info = asyncio.run(launcher.up_local(state_dir=state, **up))
        info["state_path"], info["home"] = state, tmp
        try:
            yield info
        finally:
            launcher.down_local(state, remove_context=remove_context)


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """etcd + apiserver only (components, if a test module wants them, via `cluster_components`)."""
    with launched(tmp_path_factory.mktemp("cluster"), components=()) as info:
        yield info


def control_plane_fixture(label: str, hollow_nodes: int = 3) -> Any:
    """A module-scoped `cluster` fixture: etcd, apiserver, scheduler and controller manager (with short lab
    timings, tests.harness.cluster) and `hollow_nodes` simulated nodes."""
    from tests.harness.cluster import start_cluster, stop_cluster

    @pytest.fixture(scope="module")
    def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
        need_etcd()
        info = start_cluster(tmp_path_factory.mktemp(label), hollow_nodes=hollow_nodes)
        try:
            yield info
        finally:
            stop_cluster(info)
    return cluster


@pytest.fixture(scope="module")
def cluster(local_cluster: dict[str, Any]) -> dict[str, Any]:
    """The module's cluster: `local_cluster`, unless the module names its own (`control_plane_fixture`)."""
    return local_cluster


@pytest.fixture
async def client(cluster: dict[str, Any]) -> AsyncIterator[Client]:
    async with open_client(cluster) as c:
        yield c


def etcd_storage(info: dict[str, Any]) -> Any:
    """A storage client straight to a test cluster's etcd, with the apiserver's client certificate (etcd
    answers nobody else)."""
    from apiserver.storage import EtcdStorage, EtcdTLS
    return EtcdStorage([info["etcd"]], tls=EtcdTLS(**info["etcd_tls"]))


async def etcd_revision(info: dict[str, Any]) -> int:
    """The etcd revision, read directly from etcd (bad input must not move it)."""
    s = etcd_storage(info)
    await s.start()
    try:
        return await s.current_revision()
    finally:
        await s.close()
