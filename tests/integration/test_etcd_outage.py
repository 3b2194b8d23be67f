"""etcd goes away and comes back: clear errors meanwhile, and nothing lost or stuck afterwards.

The apiserver answers ServiceUnavailable while etcd is down (quickly, not a
hang); once etcd is back (same data directory) writes work again, the watch
cache picks up where it was, and an informer started before the outage sees
every object without a restart of anything.
"""
from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from kubelab import errors
from lab import local as launcher
from kubelab.client import Client, new_object
from kubelab.informer import Informer

from .conftest import need_etcd

NS = "outage"


def pod(name: str) -> Any:
    p = new_object("Pod", name, NS)
    p.spec.containers.add(name="c", image="kubelab/busybox")
    return p


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    need_etcd()
    info = await launcher.up_local(state_dir=tmp_path / "state", components=(), write_kubeconfig=False)
    info["state_path"] = tmp_path / "state"
    try:
        yield info
    finally:
        launcher.down_local(tmp_path / "state", remove_context=False)


async def test_etcd_outage_gives_clear_errors_and_recovers(cluster: dict[str, Any]) -> None:
    async with Client(cluster["server"], cluster["token"]) as client:
        await client.create(new_object("Namespace", NS))
        informer = Informer(client, "Pod", namespace=NS)
        informer.start()
        await informer.wait_synced(10)
        await client.create(pod("before"))

        launcher.stop_component("etcd", cluster["state_path"], signal.SIGKILL)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(errors.Unavailable) as e:
            await client.create(pod("during"))
        assert time.monotonic() - started < 15, "the apiserver hung instead of answering"
        assert "etcd" in e.value.message or "storage" in e.value.message

        launcher.restart_component("etcd", cluster["state_path"])
        deadline = time.monotonic() + 30
        while True:
            try:
                await client.create(pod("after"))
                break
            except errors.Unavailable:
                assert time.monotonic() < deadline, "writes did not come back within 30 s of etcd's restart"
                await asyncio.sleep(0.5)

        names = {p.metadata.name for p in (await client.list("Pod", NS))[0]}
        assert names == {"before", "after"}          # the refused write left nothing behind
        deadline = time.monotonic() + 30
        while {p.metadata.name for p in informer.list()} != {"before", "after"}:
            assert time.monotonic() < deadline, f"informer stuck at {[p.metadata.name for p in informer.list()]}"
            await asyncio.sleep(0.2)
        await client.delete("Pod", "before", NS, grace_period_seconds=0)
        deadline = time.monotonic() + 15
        while "before" in {p.metadata.name for p in informer.list()}:
            assert time.monotonic() < deadline, "the informer missed a delete after the outage"
            await asyncio.sleep(0.2)
        await informer.stop()
