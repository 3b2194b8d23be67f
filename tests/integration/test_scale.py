"""A ReplicaSet of 10,000 pods on hollow nodes, scaled to 0 (issue 12 item 11).

The scale-down once stalled for minutes: the controller manager's event loop
spent each sync going over every pod, so its pod informer read the watch a
message per sync and the deletions it waited for (expectations) trickled in
at a few per second, while 20,000 SuccessfulCreate/SuccessfulDelete Events
loaded the apiserver. Here every sync's "have N" in the controller's log must
equal what the syncs before it did (each create and delete was seen before the
next burst of at most 500), no expectation may expire, and the pods must be
gone within 60 s of the scale-down.

The cluster runs Kubernetes' own lease and node timings (15 s leases, 40 s node
grace), not the short lab timings: a test of load must not fail on the
failover those timings are made to provoke. `KUBELAB_SCALE_PODS` sets the size.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.harness.cluster import K8S_TIMINGS, ensure_namespace, start_cluster, stop_cluster
from tests.harness.controller_manager import replicaset_syncs, unseen_writes
from tests.harness.wait import wait_for
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

from .conftest import need_etcd

PODS = int(os.environ.get("KUBELAB_SCALE_PODS", "10000"))
NODES = 100                                     # 110 pods each at most, as a kubelet
SCALE_DOWN_WITHIN = 60.0

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_etcd()
    info = start_cluster(tmp_path_factory.mktemp("scale"), hollow_nodes=NODES, controller_manager=K8S_TIMINGS,
                         hollow=["--heartbeat", "10"])
    try:
        yield info
    finally:
        stop_cluster(info)


async def test_10000_pods_on_hollow_nodes_scaled_to_0_are_gone_within_60s(cluster: dict[str, Any],
                                                                           client: Client) -> None:
    """Every sync saw every create and delete before it (no sync over 500, no expectation expired),
    and the pods were gone within 60 s."""
    ns, key = "scale", "scale/big"
    await ensure_namespace(client, ns)
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name, rs.metadata.namespace = "big", ns
    rs.spec.replicas = PODS
    rs.spec.selector.match_labels["app"] = "big"
    rs.spec.template.metadata.labels["app"] = "big"
    rs.spec.template.spec.containers.add(name="web", image="kubelab/web:latest")
    await client.create(rs)

    async def count() -> int:
        pods, _ = await client.list("Pod", ns)
        return len(pods)

    await wait_for(lambda: _status_replicas(client, PODS), 240, 1.0, f"{PODS} pods")
    assert await count() == PODS
    creates = replicaset_syncs(cluster, key)
    assert unseen_writes(creates, 0) == [] and sum(n for _, n, _ in creates) == PODS
    assert max(n for _, n, _ in creates) <= 500

    start = time.monotonic()
    await client.patch("ReplicaSet", "big", {"spec": {"replicas": 0}}, ns)
    await wait_for(lambda: _none_left(client, ns), SCALE_DOWN_WITHIN + 30, 1.0, "every pod gone")
    took = time.monotonic() - start
    assert took <= SCALE_DOWN_WITHIN, f"{PODS} pods took {took:.0f}s to go"
    deletes = replicaset_syncs(cluster, key)[len(creates):]
    assert unseen_writes(deletes, PODS) == [] and sum(n for _, n, _ in deletes) == PODS, deletes
    assert {verb for verb, _, _ in deletes} == {"deleting"} and max(n for _, n, _ in deletes) <= 500
    log = (Path(cluster["state_path"]) / "logs" / "controller-manager.log").read_text(errors="replace")
    assert "expectations of replica set" not in log and "lost leadership" not in log
    # client-go's correlator: 25 events on the ReplicaSet from its controller, not 20,000
    events, _ = await client.list("Event", ns, field_selector="involvedObject.name=big")
    assert sum(e.count for e in events) <= 25 + 2, [(e.reason, e.count) for e in events]


async def _status_replicas(client: Client, n: int) -> bool:
    rs = await client.get("ReplicaSet", "big", "scale")
    return rs.status.replicas == n


async def _none_left(client: Client, ns: str) -> bool:
    """No pod left in storage; listed only once the ReplicaSet counts none active (a list of 10,000 pods a
    second would be a load of its own)."""
    if not await _status_replicas(client, 0):
        return False
    pods, _ = await client.list("Pod", ns)
    return not pods
