"""Rollouts on a real local cluster, observed through a watch.

The bounds are checked on pods, not on the Deployment's own counters: a
watch on the namespace's pods (started from a list's resourceVersion, so no
event is missed) recomputes after every event how many pods exist (not
terminating) and how many are available (Ready, not terminating).
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from controller_manager.deployment import util
from tests.harness.cluster import namespace_for_test
from tests.harness.controller_manager import is_ready, live_pods, observe
from tests.harness.manifests import deployment_manifest
from tests.harness.wait import wait_for
from kubelab.client import Client

from .conftest import control_plane_fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

cluster = control_plane_fixture("rollout")


@pytest.fixture
async def ns(client: Client, request: pytest.FixtureRequest) -> str:
    name = await namespace_for_test(client, request.node.name)
    return name


async def complete(client: Client, ns: str, name: str, replicas: int, image: str) -> bool:
    d = await client.get("Deployment", name, ns)
    pods = await live_pods(client, ns, f"component={name}")
    cond = next((c for c in d.status.conditions if c.type == "Progressing"), None)
    return (d.status.observed_generation == d.metadata.generation and d.status.updated_replicas == replicas
            and d.status.replicas == replicas and d.status.available_replicas == replicas
            and len(pods) == replicas and all(is_ready(p) and p.spec.containers[0].image == image for p in pods)
            and cond is not None and cond.reason == util.NEW_RS_AVAILABLE)


async def set_image(client: Client, ns: str, name: str, image: str) -> None:
    await client.patch("Deployment", name,
                       {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}}, ns)


@pytest.mark.parametrize("replicas,surge,unavailable,bounds", [
    pytest.param(4, 1, 0, (5, 4), id="maxSurge1-maxUnavailable0"),
    pytest.param(4, 0, 1, (4, 3), id="maxSurge0-maxUnavailable1"),
    pytest.param(10, "25%", "25%", (13, 8), id="maxSurge25%-maxUnavailable25%"),
    pytest.param(40, "25%", "25%", (50, 30), id="maxSurge25%-maxUnavailable25%-40-replicas"),
])
async def test_rolling_update_stays_within_surge_and_unavailability(
        client: Client, ns: str, replicas: int, surge: int | str, unavailable: int | str,
        bounds: tuple[int, int]) -> None:
    max_pods, min_available = bounds
    await client.create(deployment_manifest("nginx", ns, replicas, "nginx:1.15", surge, unavailable,
                                            ready_delay=0.5))
    await wait_for(lambda: complete(client, ns, "nginx", replicas, "nginx:1.15"), 60, what="initial rollout")
    obs, task = await observe(client, ns)
    try:
        await set_image(client, ns, "nginx", "nginx:1.16")
        await wait_for(lambda: complete(client, ns, "nginx", replicas, "nginx:1.16"), 90, what="rollout to 1.16")
    finally:
        task.cancel()
    assert obs.events > 2 * replicas
    assert obs.max_live <= max_pods, f"{obs.max_live} pods at once; replicas + maxSurge = {max_pods}"
    assert obs.min_available >= min_available, \
        f"only {obs.min_available} available at one point; replicas - maxUnavailable = {min_available}"
    # and the rollout did use its room (so the bounds were really exercised)
    assert obs.max_live == max_pods and obs.min_available == min_available
    d = await client.get("Deployment", "nginx", ns)
    assert d.metadata.annotations[util.REVISION] == "2"
    rss, _ = await client.list("ReplicaSet", ns)
    assert sorted((rs.metadata.annotations[util.REVISION], rs.spec.replicas) for rs in rss) == [
        ("1", 0), ("2", replicas)]
    evs, _ = await client.list("Event", ns)
    scaling = [e.message for e in evs if e.reason == "ScalingReplicaSet"]
    assert any(m.startswith("Scaled down replica set") for m in scaling)


async def test_missing_image_stalls_then_rollback_restores(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("nginx", ns, 3, "nginx:1.15", progress_deadline=6, ready_delay=0.2))
    await wait_for(lambda: complete(client, ns, "nginx", 3, "nginx:1.15"), 60, what="initial rollout")
    await set_image(client, ns, "nginx", "nginx:missing")

    async def stalled() -> Any:
        d = await client.get("Deployment", "nginx", ns)
        cond = next((c for c in d.status.conditions if c.type == "Progressing"), None)
        return d if cond is not None and cond.status == "False" and cond.reason == "ProgressDeadlineExceeded" else None
    d = await wait_for(stalled, 40, what="ProgressDeadlineExceeded")
    cond = next(c for c in d.status.conditions if c.type == "Progressing")
    assert re.fullmatch(r'ReplicaSet "nginx-[a-z0-9]+" has timed out progressing\.', cond.message)
    # the old pods still serve
    pods = await live_pods(client, ns, "component=nginx")
    old = [p for p in pods if p.spec.containers[0].image == "nginx:1.15"]
    assert len(old) == 3 and all(is_ready(p) for p in old)
    assert d.status.available_replicas == 3 and d.status.updated_replicas == 1
    avail = next(c for c in d.status.conditions if c.type == "Available")
    assert avail.status == "True"
    evs, _ = await client.list("Event", ns)
    assert any(e.reason == "ProgressDeadlineExceeded" and e.type == "Warning" for e in evs)

    # rollout undo, as the CLI does it: copy revision 1's template back (without its hash label)
    rss, _ = await client.list("ReplicaSet", ns)
    rev1 = next(rs for rs in rss if rs.metadata.annotations[util.REVISION] == "1")
    d = await client.get("Deployment", "nginx", ns)
    d.spec.template.CopyFrom(util.template_without_hash(rev1.spec.template))
    await client.update(d)
    await wait_for(lambda: complete(client, ns, "nginx", 3, "nginx:1.15"), 60, what="rollback to finish")
    d = await client.get("Deployment", "nginx", ns)
    assert d.metadata.annotations[util.REVISION] == "3"
    rss, _ = await client.list("ReplicaSet", ns)
    by_name = {rs.metadata.name: rs for rs in rss}
    assert len(rss) == 2, "the old ReplicaSet is reused, not duplicated"
    reused = by_name[rev1.metadata.name]
    assert reused.metadata.annotations[util.REVISION] == "3" and reused.spec.replicas == 3
    assert reused.metadata.annotations[util.REVISION_HISTORY] == "1"
    assert [rs.spec.replicas for n, rs in by_name.items() if n != rev1.metadata.name] == [0]
    evs, _ = await client.list("Event", ns)
    assert any(e.reason == "DeploymentRollback" and e.message == 'Rolled back deployment "nginx" to revision 1'
               for e in evs)


async def test_recreate_never_runs_old_and_new_together(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("nginx", ns, 3, "nginx:1.15", strategy="Recreate", ready_delay=0.3))
    await wait_for(lambda: complete(client, ns, "nginx", 3, "nginx:1.15"), 60, what="initial rollout")
    obs, task = await observe(client, ns)
    obs.new_image = "nginx:1.16"
    try:
        await set_image(client, ns, "nginx", "nginx:1.16")
        await wait_for(lambda: complete(client, ns, "nginx", 3, "nginx:1.16"), 60, what="recreate to 1.16")
    finally:
        task.cancel()
    assert not obs.overlap, "an old pod still existed when a new one appeared"
    assert obs.min_available == 0 and obs.max_live == 3


async def test_min_ready_seconds_delays_availability(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("nginx", ns, 2, "nginx:1.15", min_ready=3))

    async def all_ready() -> Any:
        pods = await live_pods(client, ns, "component=nginx")
        return pods if len(pods) == 2 and all(is_ready(p) for p in pods) else None
    await wait_for(all_ready, 30, what="2 ready pods")
    d = await client.get("Deployment", "nginx", ns)
    assert d.status.ready_replicas <= 2 and d.status.available_replicas == 0

    async def available() -> Any:
        d = await client.get("Deployment", "nginx", ns)
        return d if d.status.available_replicas == 2 else None
    await wait_for(available, 15, what="2 available after minReadySeconds")


async def test_paused_deployment_does_not_roll_out_until_resumed(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("nginx", ns, 2, "nginx:1.15"))
    await wait_for(lambda: complete(client, ns, "nginx", 2, "nginx:1.15"), 60, what="initial rollout")
    await client.patch("Deployment", "nginx", {"spec": {"paused": True}}, ns)
    await set_image(client, ns, "nginx", "nginx:1.16")
    await client.patch("Deployment", "nginx", {"spec": {"replicas": 3}}, ns)

    async def scaled_paused() -> Any:
        d = await client.get("Deployment", "nginx", ns)
        cond = next((c for c in d.status.conditions if c.type == "Progressing"), None)
        pods = await live_pods(client, ns, "component=nginx")
        return (len(pods) == 3 and cond is not None and cond.reason == "DeploymentPaused"
                and all(p.spec.containers[0].image == "nginx:1.15" for p in pods))
    await wait_for(scaled_paused, 30, what="scaled to 3 while paused, no rollout")
    rss, _ = await client.list("ReplicaSet", ns)
    assert len(rss) == 1
    await client.patch("Deployment", "nginx", {"spec": {"paused": False}}, ns)
    await wait_for(lambda: complete(client, ns, "nginx", 3, "nginx:1.16"), 60, what="rollout after resume")
