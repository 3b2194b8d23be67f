"""Docker keeps an exact endpoint count on a network whose sandboxes the kubelet's runtime ends at once.

Docker 20.10 miscounts a network's endpoints removed while others change (docs/troubleshooting.md; with 8
unserialised workers scripts/epcnt_race.py moved the count in 17 of 41 twenty-second checkpoints), and a
count left above the endpoints makes the network impossible to remove until dockerd restarts. The kubelet's
runtime (kubelet/docker_runtime.py) takes each sandbox off the pod network one at a time (EndpointLock)
before ending it. Here eight pod workers' worth of sandboxes are made and ended at once, through that
runtime, on a network of the test's own, for CHURN_SECONDS; then Docker's own count (read from dockerd's
store, lab/docker_store.py) must equal the endpoints it holds, and the network must go."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from kubelet.docker_runtime import DockerRuntime
from lab import docker_store

from .conftest import docker, unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WORKERS = 8
CHURN_SECONDS = 20.0
PAUSE_IMAGE = "kubelab/pause:latest"
LABEL = "io.kubelab.e2e-endpoint-count"


async def _churn(rt: DockerRuntime, network: str, stop_at: float, worker: int) -> int:
    """Sandboxes made, started and ended (stop then remove, or remove at once) until `stop_at`."""
    rounds = 0
    while time.monotonic() < stop_at:
        hc = rt.sandbox_host_config(network, "1m", [])
        cid = await rt.create(unique(f"kubelab-e2e-epcnt{worker}"), PAUSE_IMAGE, {LABEL: "1"}, hc)
        await rt.start(cid)
        await rt.inspect(cid)             # as the kubelet does after starting a sandbox: it learns the endpoint
        if rounds % 2:
            await rt.stop(cid, 1)
        await rt.remove(cid)
        rounds += 1
    return rounds


def test_sandboxes_ended_at_once_leave_dockers_count_exact(lab: dict[str, Any], tmp_path: Path) -> None:
    """`lab`: its images (the pause image) are built; its own network is not touched."""
    network = unique("kubelab-e2e-epcnt")
    docker("network", "create", "--label", f"{LABEL}=1", network)
    try:
        nid = docker_store.network_id(network)
        rt = DockerRuntime("e2e-epcnt", network=network, endpoint_lock=str(tmp_path / "pod-network.lock"))

        async def run() -> list[int]:
            stop_at = time.monotonic() + CHURN_SECONDS
            return await asyncio.gather(*(_churn(rt, network, stop_at, w) for w in range(WORKERS)))
        try:
            rounds = asyncio.run(run())
        finally:
            rt.close()
        assert sum(rounds) >= WORKERS, rounds            # every worker made and ended sandboxes
        count = docker_store.endpoint_count(nid)          # root's file: unreadable is a failure here
        assert count.endpoints == () and count.count == 0, (
            f"after {sum(rounds)} sandboxes by {WORKERS} workers Docker counts {count.count} endpoint(s) on "
            f"{network} but holds {len(count.endpoints)}")
    finally:
        left = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
        if left:
            docker("rm", "-f", *left, check=False)
        removed = docker("network", "rm", network, check=False)
    assert removed.returncode == 0, removed.stderr
