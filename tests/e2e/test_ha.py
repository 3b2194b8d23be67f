"""The highly available lab (`kubelab cluster up --ha`: compose.ha.yaml): losing a leader, an apiserver or etcd
members is what a user would check it survives.

- the scheduler's and the controller manager's leaders killed (kill -9) while work is arriving: the standby
  takes the Lease and new pods are still bound, a Deployment still converges (takeover times are printed,
  not asserted);
- one etcd member stopped under writes: every acknowledged write is readable; two stopped: writes are
  refused with a clear Unavailable error, and all recovers when they return;
- one apiserver killed: the CLI and the components go on through the other;
- the real kubectl 1.37, whose kubeconfig names one server (the load balancer in front of both apiservers'
  HTTPS, compose.ha.yaml's apiserver-lb), answers with either apiserver killed.

Each test puts back what it broke (docker start), so the next starts from a whole lab.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from kubelab import errors
from kubelab.client import Client, new_object
from lab import compose
from tests import realclients
from tests.harness import manifests
from tests.harness.manifests import sleeping_pod

from .conftest import NAMESPACE, apply, docker, kubectl, unique, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


# ---------------------------------------------------------------- helpers
def holder(lease: str) -> str:
    doc = json.loads(kubectl("get", "lease", lease, "-o", "json", namespace="kube-system").stdout)
    return str(doc.get("spec", {}).get("holderIdentity") or "")


def container_of(identity: str) -> str:
    """The lab container a Lease holder runs in (its identity starts with the host name, compose's hostname)."""
    return "kubelab-" + identity.split("_", 1)[0]


def running(container: str) -> bool:
    p = docker("inspect", "-f", "{{.State.Running}}", container, check=False)
    return p.stdout.strip() == "true"


def restore(container: str) -> None:
    """Start a container the test stopped or killed (docker kill does not count as a crash for the restart
    policy), and wait until it runs."""
    if not running(container):
        docker("start", container)
    wait_for(lambda: running(container), 60, f"{container} running")


def kill(container: str) -> float:
    """kill -9 of the container's process (its PID 1); the monotonic time it was done."""
    docker("kill", "--signal", "KILL", container)
    return time.monotonic()


def pods_bound(selector: str, want: int) -> list[dict[str, Any]] | None:
    items = json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    bound = [p for p in items if p["spec"].get("nodeName")]
    return bound if len(bound) >= want else None


def deployment(name: str, replicas: int) -> str:
    return manifests.deployment(name, replicas, 'name: app, image: kubelab/busybox, command: [sleep, "3600"]',
                                spec="      terminationGracePeriodSeconds: 1\n")


def bare_pod(name: str, label: str) -> str:
    return sleeping_pod(name, labels=f"load: {label}", spec="  terminationGracePeriodSeconds: 1\n")


def ready_replicas(name: str, want: int) -> bool:
    doc = json.loads(kubectl("get", "deployment", name, "-o", "json").stdout)
    return int(doc.get("status", {}).get("readyReplicas") or 0) == want


def take_over(lease: str, old: str, t0: float) -> tuple[str, float]:
    new = wait_for(lambda: (h := holder(lease)) and h != old and h, 60, f"another holder of {lease}",
                   interval=0.25)
    return new, time.monotonic() - t0


def cleanup(*names: str, kind: str = "deployment") -> None:
    for name in names:
        kubectl("delete", kind, name, "--wait=false", check=False)


# ---------------------------------------------------------------- the lab
def test_both_leases_have_holders_and_a_standby_waits(ha_lab: dict[str, Any]) -> None:
    assert ha_lab["server"].count(",") == 1, ha_lab["server"]    # both apiservers, in the CLI's kubeconfig
    out = wait_for(lambda: (o := kubectl("get", "leases", namespace="kube-system").stdout)
                   and "kube-scheduler" in o and "kube-controller-manager" in o and o, 60, "both leases")
    print(out)
    for lease, containers in (("kube-scheduler", {"kubelab-scheduler", "kubelab-scheduler2"}),
                              ("kube-controller-manager", {"kubelab-controller-manager",
                                                           "kubelab-controller-manager2"})):
        identity = holder(lease)
        assert container_of(identity) in containers, identity
        assert identity in out                           # the HOLDER column names it
        for c in containers:
            assert running(c)


def test_killing_the_scheduler_leader_under_load_a_standby_binds_new_pods(ha_lab: dict[str, Any]) -> None:
    label = unique("sched")
    names = [f"{label}-{i}" for i in range(6)]
    for name in names[:3]:
        apply(bare_pod(name, label))
    leader = holder("kube-scheduler")
    victim = container_of(leader)
    t0 = kill(victim)
    try:
        for name in names[3:]:               # arriving while nobody leads
            apply(bare_pod(name, label))
        new, took = take_over("kube-scheduler", leader, t0)
        print(f"\nscheduler: {victim} killed; {container_of(new)} took the lease after {took:.1f}s")
        bound = wait_for(lambda: pods_bound(f"load={label}", len(names)), 120, "every pod bound")
        print(f"scheduler: all {len(bound)} pods bound {time.monotonic() - t0:.1f}s after the kill")
        assert container_of(new) != victim
        assert {p["metadata"]["name"] for p in bound} == set(names)
    finally:
        restore(victim)
        cleanup(*names, kind="pod")


def test_killing_the_controller_manager_leader_a_deployment_still_converges(ha_lab: dict[str, Any]) -> None:
    name = unique("cm")
    apply(deployment(name, 1))
    wait_for(lambda: ready_replicas(name, 1), 120, f"{name} 1/1")
    leader = holder("kube-controller-manager")
    victim = container_of(leader)
    t0 = kill(victim)
    try:
        kubectl("scale", "deployment", name, "--replicas=3")       # work for whoever leads next
        fresh = unique("cm-new")
        apply(deployment(fresh, 2))
        new, took = take_over("kube-controller-manager", leader, t0)
        print(f"\ncontroller manager: {victim} killed; {container_of(new)} took the lease after {took:.1f}s")
        wait_for(lambda: ready_replicas(name, 3) and ready_replicas(fresh, 2), 180, "both deployments ready")
        print(f"controller manager: both deployments converged {time.monotonic() - t0:.1f}s after the kill")
        assert container_of(new) != victim
    finally:
        restore(victim)
        cleanup(name, fresh)


def test_killing_an_apiserver_the_cli_and_components_go_on_through_the_other(ha_lab: dict[str, Any]) -> None:
    t0 = kill("kubelab-apiserver")
    try:
        # The CLI: its kubeconfig lists both; the first refuses connections now.
        nodes = kubectl("get", "nodes", namespace=None).stdout
        print(f"\napiserver killed; the CLI answered {time.monotonic() - t0:.1f}s later:\n{nodes}")
        # The components: a new Deployment needs the controller manager, the scheduler and a kubelet.
        name = unique("api")
        apply(deployment(name, 2))
        wait_for(lambda: ready_replicas(name, 2), 180, f"{name} 2/2 with one apiserver")
        print(f"apiserver: a new deployment ready {time.monotonic() - t0:.1f}s after the kill")
        # The nodes' heartbeats went on: both still Ready well past the controller manager's 20 s grace.
        time.sleep(max(0.0, 25 - (time.monotonic() - t0)))
        rows = [line.split() for line in kubectl("get", "nodes", namespace=None).stdout.splitlines()[1:]]
        assert rows and all(r[1] == "Ready" for r in rows), rows
        cleanup(name)
    finally:
        restore("kubelab-apiserver")


def test_the_real_kubectl_answers_through_the_load_balancer_with_either_apiserver_killed(
        ha_lab: dict[str, Any], tmp_path: Any) -> None:
    binary = realclients.kubectl_137()
    config = tmp_path / "config"          # a copy of the kubeconfig `cluster up --ha` wrote, in a home of its own
    config.write_bytes(Path(ha_lab["kube_config"]).read_bytes())
    doc = yaml.safe_load(config.read_text())
    server = next(c["cluster"]["server"] for c in doc["clusters"] if c["name"] == compose.CONTEXT)
    assert server == f"https://127.0.0.1:{compose.lb_port()}"          # the load balancer, not one apiserver
    own = {"kubelab-apiserver": compose.https_port(),                  # each one's own HTTPS port
           "kubelab-apiserver2": int(os.environ.get("KUBELAB_HTTPS2_PORT", "8444"))}

    def get_nodes(*flags: str) -> subprocess.CompletedProcess[bytes]:
        return realclients.run_kubectl(binary, config, "get", "nodes", "--request-timeout=20s", *flags, timeout=60)

    def ready_nodes(r: subprocess.CompletedProcess[bytes]) -> list[str]:
        assert r.returncode == 0, (r.stdout, r.stderr)
        rows = [line.split() for line in r.stdout.decode().splitlines()[1:]]
        return sorted(row[0] for row in rows if row[1] == "Ready")

    def answers_itself(container: str) -> bool:
        return get_nodes(f"--server=https://127.0.0.1:{own[container]}").returncode == 0

    for container in own:               # an earlier test killed and restarted the first: both serve again
        wait_for(lambda: answers_itself(container), 120, f"{container} answering on its own port")
    assert ready_nodes(get_nodes()) == sorted(ha_lab["nodes"])
    for victim in own:
        t0 = kill(victim)
        try:
            # Several calls: round robin puts the dead one first in line for about half the connections.
            for i in range(4):
                t = time.monotonic()
                assert ready_nodes(get_nodes()) == sorted(ha_lab["nodes"]), f"call {i} with {victim} killed"
                print(f"\n{victim} killed: kubectl get nodes #{i} answered in {time.monotonic() - t:.2f}s "
                      f"({time.monotonic() - t0:.1f}s after the kill)", end="")
            assert not answers_itself(victim)           # it is the load balancer that answered, not the victim
        finally:
            # `docker kill` counts as a manual stop for the restart policy (unless-stopped does not restart
            # it, as with a crash): start it again, as the other tests here do.
            restore(victim)
        t0 = time.monotonic()
        wait_for(lambda: answers_itself(victim), 120, f"{victim} answering again after its start")
        print(f"\n{victim} answering on its own port {time.monotonic() - t0:.1f}s after its start")
        assert ready_nodes(get_nodes()) == sorted(ha_lab["nodes"])      # both behind the load balancer again
    logs = docker("logs", "kubelab-apiserver-lb")
    log = logs.stdout + logs.stderr
    events = [line.split(": ", 1)[1] for line in log.splitlines() if "event=backend-" in line]
    print("\napiserver-lb:\n" + "\n".join(events))
    assert any("event=backend-down backend=apiserver:8443" in e for e in events), events
    assert any("event=backend-up backend=apiserver:8443" in e for e in events), events    # used again once back
    assert any("event=backend-down backend=apiserver2:8443" in e for e in events), events


# ---------------------------------------------------------------- etcd
def _client(ha_lab: dict[str, Any]) -> Client:
    return Client(ha_lab["server"], ha_lab["token"], namespace=NAMESPACE, retries=3)


def _lease(name: str) -> Any:
    return new_object("Lease", name, NAMESPACE)


async def _write_while(client: Client, prefix: str, during: Callable[[], Any], seconds: float
                       ) -> tuple[list[str], list[str]]:
    """Create Leases one after another for `seconds`, calling `during()` (in a thread) once a second has
    gone by; returns (acknowledged names, errors)."""
    acked: list[str] = []
    failed: list[str] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    disruption = None
    i = 0
    while loop.time() - started < seconds:
        if disruption is None and loop.time() - started > 1:
            disruption = loop.run_in_executor(None, during)
        name = f"{prefix}-{i}"
        i += 1
        try:
            await client.create(_lease(name))
            acked.append(name)
        except errors.ApiError as e:
            failed.append(f"{name}: {type(e).__name__}: {e.message}")
    if disruption is not None:
        await disruption
    return acked, failed


async def _unreadable(client: Client, names: list[str]) -> list[str]:
    missing = []
    for name in names:
        try:
            await client.get("Lease", name)
        except errors.NotFound:
            missing.append(name)
    return missing


def test_one_etcd_member_stopped_under_writes_loses_no_acknowledged_write(ha_lab: dict[str, Any]) -> None:
    prefix = unique("w")

    async def run() -> tuple[list[str], list[str], list[str]]:
        async with _client(ha_lab) as c:
            acked, failed = await _write_while(c, prefix, lambda: docker("stop", "-t", "0", "kubelab-etcd2"), 12)
            return acked, failed, await _unreadable(c, acked)

    try:
        acked, failed, missing = asyncio.run(run())
        print(f"\netcd, one member stopped: {len(acked)} writes acknowledged, {len(failed)} refused "
              f"{failed[:3]}")
        assert len(acked) > 10
        assert missing == [], f"acknowledged but not readable: {missing}"
    finally:
        restore("kubelab-etcd2")


def test_two_etcd_members_stopped_writes_are_refused_and_all_recovers(ha_lab: dict[str, Any]) -> None:
    before = unique("before")
    apply(f"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {before}}}\n")
    docker("stop", "-t", "0", "kubelab-etcd2", "kubelab-etcd3")
    try:
        refused = unique("refused")
        p = kubectl("apply", "-f", "-", check=False, timeout=120,
                    input=f"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {refused}}}\n")
        print(f"\netcd, two members stopped: exit {p.returncode}, {p.stderr.strip()}")
        assert p.returncode != 0
        # The apiserver's own answer (503), not a connection refused: it is up, its etcd has no quorum.
        assert "Error from server (ServiceUnavailable)" in p.stderr, p.stderr
        assert "storage unavailable" in p.stderr, p.stderr
    finally:
        restore("kubelab-etcd2")
        restore("kubelab-etcd3")
    t0 = time.monotonic()
    after = unique("after")
    wait_for(lambda: kubectl("apply", "-f", "-", check=False, timeout=60, input=(
        f"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {after}}}\n")).returncode == 0,
        120, "a write accepted again")
    print(f"etcd: writes accepted again {time.monotonic() - t0:.1f}s after the members' start")
    assert kubectl("get", "lease", before).returncode == 0
    # The cluster works again end to end: a new Deployment becomes ready.
    name = unique("back")
    apply(deployment(name, 1))
    wait_for(lambda: ready_replicas(name, 1), 180, f"{name} ready after the outage")
    cleanup(name)
