"""kubelet.docker_runtime's EndpointLock and leave_network: a sandbox leaves the pod network one at a time,
across kubelets, before it is stopped, killed or removed (Docker 20.10 miscounts endpoints removed at once;
scripts/epcnt_race.py shows it on a real engine). The engine is a stand-in recording the calls in order."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker

from kubelet.docker_runtime import DockerRuntime, EndpointLock

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(0.5)
print("releasing", flush=True)
os.close(fd)
"""


async def test_the_lock_file_keeps_out_another_process_until_it_lets_go(tmp_path: Path) -> None:
    """Another kubelet (a process holding the same file) first: this one enters only after it released."""
    path = tmp_path / "pod-network.lock"
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        async with EndpointLock(str(path)):
            said = other.stdout.readline().strip()      # printed before it let go: already there
        assert said == "releasing"
    finally:
        other.wait(timeout=10)


async def test_within_one_kubelet_removals_take_turns(tmp_path: Path) -> None:
    lock = EndpointLock(str(tmp_path / "lock"))
    inside, most = 0, 0

    async def remove() -> None:
        nonlocal inside, most
        async with lock:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1
    await asyncio.gather(*(remove() for _ in range(8)))
    assert most == 1


class Engine(docker.APIClient):
    """The docker-py APIClient calls DockerRuntime makes here, on its threads; counts disconnects at once."""

    def __init__(self) -> None:     # no engine to connect to
        self.calls: list[tuple[str, str]] = []
        self.raw: dict[str, dict[str, Any]] = {}
        self._guard = threading.Lock()
        self.disconnecting, self.most_at_once = 0, 0

    def container(self, cid: str, endpoint: str) -> None:
        nets = {"kubelab": {"IPAddress": "172.28.1.5" if endpoint else "", "EndpointID": endpoint}}
        self.raw[cid] = {"Id": cid, "Name": f"/{cid}", "State": {"Status": "running"}, "Config": {"Labels": {}},
                         "NetworkSettings": {"Networks": nets}}

    def inspect_container(self, container: Any) -> dict[str, Any]:
        return self.raw[container]

    def disconnect_container_from_network(self, container: Any, net_id: str, force: bool = False) -> None:
        with self._guard:
            self.disconnecting += 1
            self.most_at_once = max(self.most_at_once, self.disconnecting)
            self.calls.append(("disconnect", container))
        time.sleep(0.01)
        with self._guard:
            self.disconnecting -= 1

    def stop(self, container: Any, timeout: int | None = None) -> None:
        self.calls.append(("stop", container))

    def kill(self, container: Any, signal: str | int | None = None) -> None:
        self.calls.append(("kill", container))

    def remove_container(self, container: Any, v: bool = False, link: bool = False, force: bool = False) -> None:
        self.calls.append(("remove", container))


def runtime(engine: Engine, lock: str = "") -> DockerRuntime:
    return DockerRuntime("node1", network="kubelab", api=engine, endpoint_lock=lock)


async def test_a_sandbox_leaves_the_pod_network_before_it_is_stopped_and_only_once() -> None:
    engine = Engine()
    engine.container("sandbox", endpoint="ep1")
    rt = runtime(engine)
    await rt.inspect("sandbox")
    await rt.stop("sandbox", 2)
    await rt.remove("sandbox")
    assert engine.calls == [("disconnect", "sandbox"), ("stop", "sandbox"), ("remove", "sandbox")]


async def test_a_container_without_an_endpoint_there_is_stopped_as_it_is() -> None:
    """An app container (in its sandbox's namespace) or a hostNetwork sandbox holds no endpoint of its own."""
    engine = Engine()
    engine.container("app", endpoint="")
    rt = runtime(engine)
    await rt.inspect("app")
    await rt.kill("app")
    await rt.remove("app")
    assert engine.calls == [("kill", "app"), ("remove", "app")]


async def test_many_sandboxes_ended_at_once_leave_the_network_one_at_a_time(tmp_path: Path) -> None:
    engine = Engine()
    ids = [f"sandbox{i}" for i in range(8)]
    for i, cid in enumerate(ids):
        engine.container(cid, endpoint=f"ep{i}")
    rt = runtime(engine, str(tmp_path / "lock"))
    for cid in ids:
        await rt.inspect(cid)
    await asyncio.gather(*(rt.stop(cid, 2) for cid in ids[:4]), *(rt.remove(cid) for cid in ids[4:]))
    assert engine.most_at_once == 1
    assert sorted(c for what, c in engine.calls if what == "disconnect") == ids
    for cid in ids:                 # each left the network before Docker was asked to end it
        assert engine.calls.index(("disconnect", cid)) < min(
            i for i, (what, c) in enumerate(engine.calls) if c == cid and what != "disconnect")
