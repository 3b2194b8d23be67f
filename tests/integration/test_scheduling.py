"""The scheduler on a real local cluster: etcd, apiserver, scheduler replicas and hollow nodes.

No controller manager is needed: the tests create bare Pods.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from kubelab import conditions
from lab import local as launcher
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb
from tests.harness.cluster import ensure_namespace
from tests.harness.wait import until

from .conftest import launched, open_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NODES = ("hollow-node-0", "hollow-node-1", "hollow-node-2")
LEASE = "4"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    metrics_port, health_port = launcher.free_port(), launcher.free_port()
    with launched(tmp_path_factory.mktemp("scheduling"), hollow_nodes=len(NODES), components=("scheduler",),
                  extra_args={"scheduler": ["-v", "--lease-duration", LEASE, "--pod-max-backoff", "2",
                                            "--metrics-address", f"127.0.0.1:{metrics_port}",
                                            "--health-address", f"127.0.0.1:{health_port}"],
                              "hollow-nodes": ["--heartbeat", "2", "--cpu", "2", "--memory", "4Gi"]}) as info:
        info["extra_pids"] = []
        info["metrics_port"], info["health_port"] = metrics_port, health_port
        try:
            yield info
        finally:
            for pid in info["extra_pids"]:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
async def client(cluster: dict[str, Any]) -> AsyncIterator[Client]:
    async with open_client(cluster) as c:
        await until(lambda: ready_nodes(c), lambda n: len(n) == len(NODES), 30, "nodes to register")
        yield c


async def ready_nodes(c: Client) -> list[str]:
    nodes, _ = await c.list("Node")
    return [n.metadata.name for n in nodes if conditions.node_ready(n)]


async def namespace(c: Client, name: str) -> str:
    await ensure_namespace(c, name)
    return name


def pod(name: str, ns: str, cpu: str = "100m", labels: dict[str, str] | None = None,
        anti_affinity: bool = False, node_selector: dict[str, str] | None = None) -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = name, ns
    p.metadata.labels.update(labels or {})
    c = p.spec.containers.add(name="nginx", image="nginx:1.16")
    c.resources.requests["cpu"] = cpu
    p.spec.node_selector.update(node_selector or {})
    if anti_affinity:
        term = p.spec.affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution.add()
        term.label_selector.match_labels.update(labels or {})
        term.topology_key = "kubernetes.io/hostname"
    return p


async def pods_in(c: Client, ns: str) -> list[Any]:
    return (await c.list("Pod", ns))[0]


def condition(p: Any, type_: str) -> Any:
    return next((c for c in p.status.conditions if c.type == type_), None)


async def events_for(c: Client, ns: str, name: str) -> list[Any]:
    evs, _ = await c.list("Event", ns)
    return [e for e in evs if e.involved_object.name == name]


async def http_get(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data.decode()


# ---------------------------------------------------------------- tests
async def test_health_and_metrics(cluster: dict[str, Any], client: Client) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    async with grpc.aio.insecure_channel(f"127.0.0.1:{cluster['health_port']}") as ch:
        # The scheduler may still be starting: wait for its health port rather than race it.
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), wait_for_ready=True,
                                                          timeout=30)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    leading = 'leader_election_master_status{name="kube-scheduler"} 1.0'
    text = await until(lambda: http_get(cluster["metrics_port"], "/metrics"), lambda t: leading in t, 20,
                       "the scheduler to lead")
    assert "scheduler_nodes 3.0" in text and 'scheduler_pending_pods{queue="active"}' in text


async def test_pods_get_bound_and_running(client: Client) -> None:
    ns = await namespace(client, "sched-basic")
    for i in range(6):
        await client.create(pod(f"p{i}", ns))
    pods = await until(lambda: pods_in(client, ns),
                       lambda ps: len(ps) == 6 and all(p.status.phase == "Running" for p in ps), 30, "Running")
    assert {p.spec.node_name for p in pods} == set(NODES)          # spread by least-requested
    assert all(p.status.pod_ip and p.status.host_ip for p in pods)
    assert all(condition(p, "PodScheduled").status == "True" for p in pods)
    evs = await until(lambda: events_for(client, ns, "p0"), lambda es: any(e.reason == "Scheduled" for e in es),
                      10, "Scheduled event")
    (scheduled,) = [e for e in evs if e.reason == "Scheduled"]
    assert scheduled.message == f"Successfully assigned {ns}/p0 to {pods[0].spec.node_name}"
    assert scheduled.source.component == "default-scheduler"


async def test_anti_affinity_leaves_exactly_the_surplus_pending(client: Client) -> None:
    ns = await namespace(client, "sched-anti")
    labels = {"component": "nginx"}
    for i in range(5):
        await client.create(pod(f"web-{i}", ns, labels=labels, anti_affinity=True))
    message = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."

    def settled(ps: list[Any]) -> bool:
        pending = [p for p in ps if not p.spec.node_name]
        return (len(ps) == 5 and len(pending) == 2 and all(
            condition(p, "PodScheduled") is not None and condition(p, "PodScheduled").message == message
            for p in pending))
    pods = await until(lambda: pods_in(client, ns), settled, 30, "3 bound and 2 pending")
    bound = [p for p in pods if p.spec.node_name]
    assert len({p.spec.node_name for p in bound}) == 3
    for p in pods:
        if not p.spec.node_name:
            cond = condition(p, "PodScheduled")
            assert (cond.status, cond.reason) == ("False", "Unschedulable") and p.status.phase == "Pending"
            evs = await events_for(client, ns, p.metadata.name)
            assert any(e.type == "Warning" and e.reason == "FailedScheduling" and e.message == message for e in evs)
    await asyncio.sleep(3)     # retries must not bind the surplus anywhere
    assert sum(1 for p in await pods_in(client, ns) if p.spec.node_name) == 3
    await client.delete("Pod", bound[0].metadata.name, ns)        # room again: one pending pod moves in
    await until(lambda: pods_in(client, ns),
                lambda ps: len(ps) == 4 and sum(1 for p in ps if p.spec.node_name) == 3, 30,
                "a pending pod to take the freed node")


async def test_more_cpu_than_any_node_stays_pending(client: Client) -> None:
    ns = await namespace(client, "sched-cpu")
    await client.create(pod("huge", ns, cpu="3"))
    message = "0/3 nodes are available: 3 Insufficient cpu."
    p = await until(lambda: client.get("Pod", "huge", ns),
                    lambda p: condition(p, "PodScheduled") is not None, 20, "PodScheduled condition")
    cond = condition(p, "PodScheduled")
    assert (cond.status, cond.reason, cond.message) == ("False", "Unschedulable", message)
    assert not p.spec.node_name and p.status.phase == "Pending"
    evs = await until(lambda: events_for(client, ns, "huge"),
                      lambda es: any(e.reason == "FailedScheduling" for e in es), 10, "FailedScheduling event")
    assert [e.message for e in evs if e.reason == "FailedScheduling"] == [message]


async def test_cordoned_nodes_get_no_pods_until_uncordoned(client: Client) -> None:
    ns = await namespace(client, "sched-cordon")
    cordoned = NODES[:2]
    try:
        for name in cordoned:
            await client.patch("Node", name, {"spec": {"unschedulable": True}})
        await asyncio.sleep(0.5)       # let the scheduler's node informer see it
        for i in range(4):
            await client.create(pod(f"c{i}", ns, cpu="10m"))
        pinned = pod("pinned", ns, cpu="10m", node_selector={"kubernetes.io/hostname": NODES[0]})
        await client.create(pinned)
        message = ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                   "2 node(s) were unschedulable.")
        pods = await until(lambda: pods_in(client, ns), lambda ps: sum(1 for p in ps if p.spec.node_name) == 4 and any(
            p.metadata.name == "pinned" and condition(p, "PodScheduled") is not None for p in ps), 30,
            "4 bound, pinned pending")
        assert {p.spec.node_name for p in pods if p.spec.node_name} == {NODES[2]}
        p = next(p for p in pods if p.metadata.name == "pinned")
        assert condition(p, "PodScheduled").message == message
        await client.patch("Node", NODES[0], {"spec": {"unschedulable": False}})
        p = await until(lambda: client.get("Pod", "pinned", ns), lambda p: p.spec.node_name == NODES[0], 20,
                        "pinned to be scheduled after uncordon")
    finally:
        for name in cordoned:
            await client.patch("Node", name, {"spec": {"unschedulable": False}})


async def test_killing_the_leader_hands_over(cluster: dict[str, Any], client: Client) -> None:
    env = {**os.environ, "KUBELAB_SERVER": cluster["server"], "KUBELAB_TOKEN": cluster["token"]}
    log = open(Path(cluster["state_path"]) / "logs" / "scheduler-2.log", "ab")
    second = subprocess.Popen([sys.executable, "-m", "scheduler.main", "-v", "--lease-duration", LEASE],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    cluster["extra_pids"].append(second.pid)
    first = cluster["pids"]["scheduler"]
    lease = await until(lambda: client.get("Lease", "kube-scheduler", "kube-system"),
                        lambda lease: bool(lease.spec.holder_identity), 20, "a leader")
    leader_pid = int(lease.spec.holder_identity.split("_")[-2])
    assert leader_pid in (first, second.pid)
    ns = await namespace(client, "sched-failover")
    for i in range(5):
        await client.create(pod(f"before-{i}", ns, cpu="10m"))
    os.killpg(leader_pid, signal.SIGKILL)
    for i in range(5):
        await client.create(pod(f"after-{i}", ns, cpu="10m"))
    pods = await until(lambda: pods_in(client, ns),
                       lambda ps: len(ps) == 10 and all(p.spec.node_name for p in ps), 40, "all bound after handover")
    lease = await client.get("Lease", "kube-scheduler", "kube-system")
    survivor = second.pid if leader_pid == first else first
    assert int(lease.spec.holder_identity.split("_")[-2]) == survivor
    assert lease.spec.lease_transitions >= 1
    assert len({p.spec.node_name for p in pods}) == 3
