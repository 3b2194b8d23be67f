"""Hollow nodes (the SIMULATED kubelet) on a real apiserver; pods are bound by hand (no scheduler).

Each node runs in its own `python -m kubelet.main --runtime hollow` process so a test can
SIGKILL one node.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from kubelab import errors
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb
from kubelet.hollow import IPAllocator, host_ip, image_matches, node_index, pod_cidr

from tests.harness.wait import until

from .conftest import launched

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOLLOW_ARGS = ["--heartbeat", "1", "--start-delay", "1", "--ready-delay", "1", "--backoff-base", "4",
               "--cpu", "2", "--memory", "8Gi", "--max-pods", "20"]


def spawn_hollow(info: dict[str, Any], name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBELAB_SERVER": info["server"], "KUBELAB_TOKEN": info["token"]}
    log = open(Path(info["state_path"]) / "logs" / f"hollow-{name}.log", "ab")
    argv = [sys.executable, "-m", "kubelet.main", "--runtime", "hollow", "-v", "--node-name", name, *HOLLOW_ARGS]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    info["hollow"].append(proc)
    return proc


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with launched(tmp_path_factory.mktemp("hollow"), components=()) as info:
        info["hollow"] = []
        try:
            spawn_hollow(info, "hn-a")
            spawn_hollow(info, "hn-b")
            yield info
        finally:
            for proc in info["hollow"]:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


async def get_node(c: Client, name: str) -> Any:
    return await c.get("Node", name)


def exists(obj: Any) -> bool:
    return not isinstance(obj, Exception)


def cond(obj: Any, type_: str) -> Any:
    return next((c for c in obj.status.conditions if c.type == type_), None)


async def bound_pod(c: Client, name: str, node: str, image: str = "nginx:1.16",
                    annotations: dict[str, str] | None = None) -> Any:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = name, "default"
    p.metadata.annotations.update(annotations or {})
    p.spec.containers.add(name="app", image=image)
    created = await c.create(p)
    await c.bind("default", name, node, created.metadata.uid)
    return created


async def pod_events(c: Client, name: str) -> list[Any]:
    evs, _ = await c.list("Event", "default")
    return [e for e in evs if e.involved_object.name == name]


# ---------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("image,patterns,expected", [
    ("nginx:missing", ("*:missing",), True),
    ("nginx:1.16", ("*:missing",), False),
    ("jocatalin/kubernetes-bootcamp:v10", ("*:missing", "jocatalin/kubernetes-bootcamp:v10"), True),
    ("registry/app:v1", ("registry/*",), True),
])
def test_image_matches(image: str, patterns: tuple[str, ...], expected: bool) -> None:
    assert image_matches(image, patterns) is expected


def test_addresses_derive_from_the_node_number() -> None:
    assert node_index("hollow-node-7") == 7
    assert (host_ip(0), host_ip(300), pod_cidr(300)) == ("172.16.0.1", "172.16.1.45", "10.1.44.0/24")
    ips = IPAllocator("10.0.3.0/24")
    a, b = ips.allocate(), ips.allocate()
    assert (a, b) == ("10.0.3.2", "10.0.3.3")
    ips.release(a)
    assert ips.allocate() == a and ips.reserve("10.0.3.9") and not ips.reserve("10.0.3.9")


# ---------------------------------------------------------------- against the cluster
async def test_registers_nodes_with_capacity_and_heartbeats(client: Client) -> None:
    node = await until(lambda: get_node(client, "hn-a"), exists, 20, "hn-a")
    md, st = node.metadata, node.status
    assert md.labels["kubernetes.io/hostname"] == "hn-a" and md.labels["kubelab.io/hollow"] == "true"
    assert dict(st.capacity) == {"cpu": "2", "memory": "8Gi", "pods": "20"}
    assert dict(st.allocatable) == {"cpu": "2", "memory": "8Gi", "pods": "20"}
    assert {a.type for a in st.addresses} == {"InternalIP", "Hostname"}
    assert st.node_info.kubelet_version.startswith("v") and st.node_info.container_runtime_version.startswith(
        "hollow://")
    assert st.daemon_endpoints.kubelet_endpoint.port == 10250
    ready = cond(node, "Ready")
    assert (ready.status, ready.reason) == ("True", "KubeletReady")
    first = ready.last_heartbeat_time
    later = await until(lambda: get_node(client, "hn-a"), lambda n: cond(n, "Ready").last_heartbeat_time > first,
                        10, "a newer heartbeat")
    assert cond(later, "Ready").last_transition_time == ready.last_transition_time


async def test_pod_goes_pending_running_ready_with_events(client: Client) -> None:
    await until(lambda: get_node(client, "hn-a"), exists, 20, "hn-a")
    await bound_pod(client, "web", "hn-a")
    p = await until(lambda: client.get("Pod", "web"), lambda p: bool(p.status.container_statuses), 10, "a status")
    assert p.status.phase == "Pending"
    assert p.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    p = await until(lambda: client.get("Pod", "web"), lambda p: p.status.phase == "Running", 10, "Running")
    cs = p.status.container_statuses[0]
    assert cs.state.running.started_at and cs.restart_count == 0 and cs.started
    assert p.status.pod_ip.startswith("10.") and p.status.host_ip.startswith("172.16.") and p.status.start_time
    p = await until(lambda: client.get("Pod", "web"), lambda p: cond(p, "Ready").status == "True", 10, "Ready")
    assert [c.type for c in p.status.conditions] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                     "ContainersReady", "PodScheduled"]
    assert all(c.status == "True" for c in p.status.conditions)
    evs = await until(lambda: pod_events(client, "web"), lambda es: len(es) >= 3, 10, "kubelet events")
    assert {e.reason for e in evs} >= {"Pulled", "Created", "Started"}
    assert all(e.source.component == "kubelet" and e.source.host == "hn-a" for e in evs)
    assert all(e.involved_object.field_path == "spec.containers{app}" for e in evs)


async def test_never_ready_annotation(client: Client) -> None:
    await bound_pod(client, "lazy", "hn-a", annotations={"hollow.kubelab.io/ready": "false"})
    p = await until(lambda: client.get("Pod", "lazy"), lambda p: p.status.phase == "Running", 10, "Running")
    await asyncio.sleep(1.5)
    p = await client.get("Pod", "lazy")
    ready = cond(p, "Ready")
    assert (ready.status, ready.reason) == ("False", "ContainersNotReady")
    assert ready.message == "containers with unready status: [app]"


async def test_missing_image_errimagepull_then_backoff(client: Client) -> None:
    await bound_pod(client, "broken", "hn-a", image="nginx:missing")
    p = await until(lambda: client.get("Pod", "broken"),
                    lambda p: p.status.container_statuses and p.status.container_statuses[0].state.waiting.reason
                    == "ErrImagePull", 10, "ErrImagePull")
    assert p.status.phase == "Pending" and cond(p, "Ready").status == "False"
    p = await until(lambda: client.get("Pod", "broken"),
                    lambda p: p.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff", 10,
                    "ImagePullBackOff")
    assert p.status.container_statuses[0].state.waiting.message == 'Back-off pulling image "nginx:missing"'
    evs = await until(lambda: pod_events(client, "broken"), lambda es: any(e.reason == "BackOff" for e in es), 10,
                      "BackOff event")
    by_reason = {(e.reason, e.message.split(":")[0]) for e in evs}
    assert ("Pulling", 'Pulling image "nginx') in by_reason
    assert ("Failed", 'Failed to pull image "nginx') in by_reason
    assert ("Failed", "Error") in by_reason and ("BackOff", 'Back-off pulling image "nginx') in by_reason
    # the next pull (after the 4 s back-off) fails again and is counted on the same events
    evs = await until(lambda: pod_events(client, "broken"),
                      lambda es: any(e.reason == "Pulling" and e.count >= 2 for e in es), 15, "a second pull")


async def test_deleted_pod_is_stopped_and_removed(client: Client) -> None:
    created = await bound_pod(client, "bye", "hn-a")
    await until(lambda: client.get("Pod", "bye"), lambda p: p.status.phase == "Running", 10, "Running")
    p = await client.delete("Pod", "bye")
    assert p.metadata.deletion_timestamp        # graceful: the kubelet finishes the job
    await until(lambda: client.get("Pod", "bye"), lambda p: isinstance(p, errors.NotFound), 10, "the pod to go")
    evs = await pod_events(client, "bye")
    assert any(e.reason == "Killing" and e.message == "Stopping container app" for e in evs)
    assert created.metadata.uid


async def test_deleted_node_registers_again(client: Client) -> None:
    await until(lambda: get_node(client, "hn-a"), exists, 20, "hn-a")
    await client.delete("Node", "hn-a")
    node = await until(lambda: get_node(client, "hn-a"), exists, 10,
                       "hn-a to come back")
    assert cond(node, "Ready").status == "True"


async def test_cordon_does_not_break_heartbeats(client: Client) -> None:
    node = await until(lambda: get_node(client, "hn-b"), exists, 20, "hn-b")
    await client.patch("Node", "hn-b", {"spec": {"unschedulable": True}})
    before = cond(node, "Ready").last_heartbeat_time
    node = await until(lambda: get_node(client, "hn-b"), lambda n: cond(n, "Ready").last_heartbeat_time > before,
                       10, "a heartbeat after the cordon")
    assert node.spec.unschedulable           # the kubelet's writes keep the admin's spec
    await client.patch("Node", "hn-b", {"spec": {"unschedulable": False}})


async def test_killed_runner_stops_heartbeating(cluster: dict[str, Any], client: Client) -> None:
    proc = spawn_hollow(cluster, "hn-doomed")
    await until(lambda: get_node(client, "hn-doomed"), exists, 20, "hn-doomed")
    await asyncio.sleep(1.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    last = cond(await get_node(client, "hn-doomed"), "Ready").last_heartbeat_time
    await asyncio.sleep(3)
    assert cond(await get_node(client, "hn-doomed"), "Ready").last_heartbeat_time == last
    other = cond(await get_node(client, "hn-b"), "Ready").last_heartbeat_time
    assert other > last                      # the other runner keeps going


async def test_a_status_too_large_to_write_is_an_event_and_a_quiet_back_off(cluster: dict[str, Any],
                                                                           client: Client) -> None:
    """A pod of 5,000 containers is accepted, but its status is over the object size limit: the kubelet
    says so on the pod (a FailedSync Warning) and retries with a doubling delay, one log line each,
    instead of a traceback at every resync (issue 12, item 13).

    The containers are held in ContainerCreating (start-delay annotation) with long names, so the status
    is too large already and no 15,000 Created/Started events queue ahead of the one looked for here."""
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = "thousands", "default"
    p.metadata.annotations["hollow.kubelab.io/start-delay"] = "3600"
    for i in range(5000):
        p.spec.containers.add(name=f"container-{i:05d}-".ljust(63, "x"), image="example/application-server:1.16.0")
    assert p.ByteSize() < 1024 * 1024          # the pod itself fits
    created = await client.create(p)
    await client.bind("default", "thousands", "hn-b", created.metadata.uid)
    ev = await until(lambda: pod_events(client, "thousands"),
                     lambda es: any(e.reason == "FailedSync" for e in es), 20, "a FailedSync event")
    failed = next(e for e in ev if e.reason == "FailedSync")
    assert failed.type == "Warning"
    assert failed.message.startswith("error updating pod status: Request entity too large")
    log = Path(cluster["state_path"]) / "logs" / "hollow-hn-b.log"
    lines = await until(lambda: _log_lines(log, "could not write the status of default/thousands"),
                        lambda ls: len(ls) >= 3, 20, "three attempts")
    delays = [float(line.rsplit("next in ", 1)[1].rstrip("s)")) for line in lines[:3]]
    assert delays == [1.0, 2.0, 4.0]
    assert all("RequestEntityTooLarge" in line for line in lines)
    assert "Traceback" not in log.read_text()
    await client.delete("Pod", "thousands", grace_period_seconds=0)


async def _log_lines(path: Path, needle: str) -> list[str]:
    return [line for line in path.read_text().splitlines() if needle in line]


async def test_the_docker_kubelets_status_writer_backs_off_from_a_refused_write(
        client: Client, caplog: pytest.LogCaptureFixture) -> None:
    """The Docker kubelet's status writer (kubelet.status_manager) against the real apiserver's refusal:
    a FailedSync Warning counted on one Event, one log line per attempt and no traceback, the delay doubling
    to its cap, no write tried while it runs, and the next status that fits written at once after it."""
    import logging

    from kubelab.events import EventRecorder
    from kubelet.status_manager import StatusWriter
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = "refused", "default"
    p.spec.automount_service_account_token = False     # no token volume mounted 5000 times: the pod stays < 1 MiB
    for i in range(5000):
        p.spec.containers.add(name=f"container-{i:05d}-".ljust(63, "x"), image="example/application-server:1.16.0")
    pod = await client.create(p)
    too_large = pb.PodStatus(phase="Pending")
    for c in pod.spec.containers:
        too_large.container_statuses.add(name=c.name, image=c.image).state.waiting.reason = "ContainerCreating"
    recorder = EventRecorder(client, "kubelet", "node-x")
    now = [1000.0]
    writer = StatusWriter(client, pod.metadata.uid, lambda *e: recorder.event(pod, *e), base=1.0, cap=4.0,
                          clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="kubelet.status_manager"):
        delays = [await writer.write(pod, too_large)]
        assert await writer.write(pod, too_large) == 1.0            # backing off: not tried again yet
        for step in (1.0, 2.0, 4.0):
            now[0] += step
            delays.append(await writer.write(pod, too_large))
    assert delays == [1.0, 2.0, 4.0, 4.0]
    lines = [r for r in caplog.records if r.name == "kubelet.status_manager"]
    assert len(lines) == 4 and not any(r.exc_info for r in lines)
    assert "RequestEntityTooLarge" in lines[0].getMessage() and "next in 1s" in lines[0].getMessage()
    await recorder.flush()
    failed = [e for e in await pod_events(client, "refused") if e.reason == "FailedSync"]
    assert [(e.type, e.count) for e in failed] == [("Warning", 4)]
    now[0] += 4.0
    assert await writer.write(pod, pb.PodStatus(phase="Pending")) is None
    assert (await client.get("Pod", "refused")).status.phase == "Pending" and writer.failures == 0
    await client.delete("Pod", "refused", grace_period_seconds=0)
