#!/usr/bin/env python3
"""scripts/stale_endpoint.py: tries to make Docker keep a network it will not remove (kubelab issue 12, item 16).

Not a test and not part of any tier: it drives the Docker engine through the sequence seen in the soak
(a node container cut off its network, a pod given its address meanwhile, a reconnect under the old
address, stops, starts and kills of the node, then removal of everything) and variants of it, and reports
for each variant whether `docker network rm` then succeeded. Should one leave a network that Docker will
not remove, the script stops there and leaves it (only a restart of dockerd clears such a network), with
the exact commands that made it printed above.

Everything it makes is its own: networks and containers named klrepro-*, labelled klrepro=1, on slices of
10.213.0.0/16 (10.213.N.0/24 for variant N; the lab uses 172.28.0.0/16 and 172.27.255.0/24), from a
local image klrepro/pause:1 (a static pause binary, `docker import`ed; built here with gcc when absent).
It never touches other networks or containers and never starts, stops or restarts dockerd.

    python3 scripts/stale_endpoint.py            # every variant once (about 15 minutes on a busy machine)
    python3 scripts/stale_endpoint.py --list
    python3 scripts/stale_endpoint.py lab lab-pinned --rounds 5 --churn 2   # with containers coming and going
    python3 scripts/stale_endpoint.py stress --seconds 300
    python3 scripts/stale_endpoint.py --clean    # remove what an interrupted run left (klrepro=1 only)

Two runs at once must not share a variant (its network and container names would collide).

What it showed on Docker 20.10.24 (Debian's package, 20.10.24+dfsg1): every variant ended with its network removed; the
cause of the stale endpoint is not this sequence alone. What the sequence does do: the failed
`docker network connect --ip <taken address>` leaves the network in the container's settings with the
address pinned (inspect: IPAMConfig.IPv4Address, no EndpointID); every later start fails (exit 128,
"Address already in use") until the address is free; `docker network disconnect -f` does not clear that
on a running container ("is not connected to network") but does on a stopped one; `connect` without
--ip replaces it; `docker-compose up` recreating the container leaves it behind.

The lab's own faults, on the compose lab, with the network's endpoint count read from dockerd's store after
each: scripts/lab_leak.py (what it showed: docs/troubleshooting.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

IMAGE = "klrepro/pause:1"
LABEL = "klrepro=1"
PAUSE_C = r"""
#include <signal.h>
#include <unistd.h>
static void bye(int s) { (void)s; _exit(0); }
int main(void) { signal(SIGTERM, bye); signal(SIGINT, bye); for (;;) pause(); }
"""


class Leak(Exception):
    """A network Docker will not remove although no container of ours is left."""


def log(msg: str) -> None:
    print(msg, flush=True)


def docker(*args: str, quiet: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if not quiet:
        err = r.stderr.strip().replace("\n", " | ")
        log(f"  $ docker {shlex.join(args)}  -> rc={r.returncode}{'  ' + err[:240] if err else ''}")
    return r


def ensure_image() -> None:
    if docker("image", "inspect", IMAGE, quiet=True).returncode == 0:
        return
    if shutil.which("gcc") is None:
        sys.exit(f"{IMAGE} is missing and gcc is not there to build its static pause binary")
    with tempfile.TemporaryDirectory() as d:
        src, root = Path(d) / "pause.c", Path(d) / "root"
        root.mkdir()
        src.write_text(PAUSE_C)
        subprocess.run(["gcc", "-static", "-Os", "-o", str(root / "pause"), str(src)], check=True)
        subprocess.run(["tar", "-C", str(root), "-cf", f"{d}/rootfs.tar", "."], check=True)
        subprocess.run(["docker", "import", "-c", 'CMD ["/pause"]', f"{d}/rootfs.tar", IMAGE], check=True,
                       capture_output=True)
    log(f"built {IMAGE}")


class Lab:
    """One variant's network (10.213.N.0/24, Docker handing out 10.213.N.0/25) and its containers."""

    def __init__(self, variant: str, n: int) -> None:
        self.variant, self.n = variant, n
        self.net = f"klrepro-{variant}"
        self.subnet = f"10.213.{n}.0/24"
        self.names: list[str] = []

    def name(self, short: str) -> str:
        return f"klrepro-{self.variant}-{short}"

    def create_network(self) -> None:
        r = docker("network", "create", "--subnet", self.subnet, "--ip-range", f"10.213.{self.n}.0/25",
                   "--label", LABEL, self.net)
        if r.returncode != 0:
            raise RuntimeError(f"cannot create {self.net}: {r.stderr.strip()}")

    def run(self, short: str, *opts: str, network: bool = True) -> str:
        name = self.name(short)
        self.names.append(name)
        args = ["run", "-d", "--name", name, "--label", LABEL, *opts]
        if network and "--network" not in opts:
            args += ["--network", self.net]
        docker(*args, IMAGE)
        return name

    def ip(self, name: str) -> str:
        r = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name, quiet=True)
        nets = json.loads(r.stdout or "{}") or {}
        return (nets.get(self.net) or {}).get("IPAddress", "")

    def pinned(self, name: str) -> str:
        r = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", name, quiet=True)
        nets = json.loads(r.stdout or "{}") or {}
        return ((nets.get(self.net) or {}).get("IPAMConfig") or {}).get("IPv4Address", "")

    def state(self, name: str) -> str:
        r = docker("inspect", "-f", "{{.State.Status}} exit={{.State.ExitCode}} restarts={{.RestartCount}} "
                   "error={{.State.Error}}", name, quiet=True)
        return r.stdout.strip() or r.stderr.strip()

    def pid(self, name: str) -> int:
        r = docker("inspect", "-f", "{{.State.Pid}}", name, quiet=True)
        return int(r.stdout.strip() or 0)

    def endpoints(self) -> dict[str, str]:
        r = docker("network", "inspect", "-f", "{{json .Containers}}", self.net, quiet=True)
        if r.returncode != 0:
            return {}
        return {k: v.get("Name", "") for k, v in (json.loads(r.stdout.strip() or "null") or {}).items()}

    def take_address(self, node: str, short: str = "pod") -> tuple[str, str]:
        """Cut `node` off the network and start pods until one holds its address (Docker hands out the
        lowest free one, so the first does). Returns (address, the pod holding it)."""
        old = self.ip(node)
        docker("network", "disconnect", self.net, node)
        for i in range(5):
            pod = self.run(f"{short}{i}")
            if self.ip(pod) == old:
                log(f"  # {pod} holds {node}'s old address {old}")
                return old, pod
        log(f"  # no pod of ours got {old} (another container did, or none)")
        return old, pod

    def pin_taken(self, node: str) -> tuple[str, str]:
        """The soak's sequence: disconnect, a pod takes the address, `connect --ip <old address>` fails."""
        old, pod = self.take_address(node)
        r = docker("network", "connect", "--ip", old, self.net, node)
        log(f"  # connect --ip {old}: rc={r.returncode}; {node} now pins {self.pinned(node) or 'nothing'}, "
            f"state {self.state(node)}")
        return old, pod

    def teardown(self) -> str:
        """rm -f every container of ours, then `network rm`; "" when the network went, else Docker's error
        (after force-disconnecting what it lists and every name we used, as `kubelab cluster down` does)."""
        ours = docker("ps", "-aq", "--filter", f"label={LABEL}", "--filter", f"name=klrepro-{self.variant}-",
                      quiet=True).stdout.split()
        if ours:
            docker("rm", "-f", *ours)
        if docker("network", "inspect", self.net, quiet=True).returncode != 0:
            return ""                                   # gone already (compose's `down` removed it)
        r = docker("network", "rm", self.net)
        if r.returncode == 0:
            return ""
        log(f"  # network rm failed; endpoints listed: {self.endpoints()}")
        for ep in sorted(set(self.endpoints().values()) | set(self.names)):
            docker("network", "disconnect", "-f", self.net, ep)
        r2 = docker("network", "rm", self.net)
        if r2.returncode == 0 or docker("network", "inspect", self.net, quiet=True).returncode != 0:
            return ""
        return r2.stderr.strip()


def wait(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


# ---------------------------------------------------------------- variants
# Each gets a fresh network; its outcome is whether teardown removed the network.

def v_stop_start(lab: Lab) -> str:
    """Node with a dynamic address: disconnect; a pod takes it; connect --ip fails; stop; start; rm."""
    node = lab.run("node")
    lab.pin_taken(node)
    docker("stop", "-t", "1", node)
    docker("start", node)
    return lab.state(node)


def v_static(lab: Lab) -> str:
    """Node created with --ip (static, pinned from the start): the same sequence."""
    node = lab.run("node", "--ip", f"10.213.{lab.n}.2")
    lab.pin_taken(node)
    docker("stop", "-t", "1", node)
    docker("start", node)
    return lab.state(node)


def v_static_stopped(lab: Lab) -> str:
    """Node created with --ip, stopped (its endpoint goes), a pod takes the address, node started (fails)."""
    node = lab.run("node", "--ip", f"10.213.{lab.n}.2")
    docker("stop", "-t", "1", node)
    lab.run("pod")
    docker("start", node)
    docker("start", node)
    return lab.state(node)


def v_restart(lab: Lab) -> str:
    """As stop_start, with `docker restart`."""
    node = lab.run("node")
    lab.pin_taken(node)
    docker("restart", "-t", "1", node)
    return lab.state(node)


def v_kill_restart_loop(lab: Lab) -> str:
    """Node with restart=unless-stopped (as compose.yaml's) killed by its pid (as the soak's kill) after the
    failed connect: the restart manager starts it again and again, each start failing; then stop and rm."""
    node = lab.run("node", "--restart", "unless-stopped")
    lab.pin_taken(node)
    pid = lab.pid(node)
    log(f"  $ kill -9 {pid}   # {node}'s process")
    os.kill(pid, 9)
    time.sleep(4)
    log(f"  # {node}: {lab.state(node)}")
    docker("stop", "-t", "1", node)
    return lab.state(node)


def v_kill_rm_race(lab: Lab) -> str:
    """kill_restart_loop, but `rm -f` right after the kill, racing the restart manager's start."""
    node = lab.run("node", "--restart", "unless-stopped")
    lab.pin_taken(node)
    pid = lab.pid(node)
    log(f"  $ kill -9 {pid}   # {node}'s process, then rm -f at once")
    os.kill(pid, 9)
    docker("rm", "-f", node)
    return "removed"


def v_proxy(lab: Lab) -> str:
    """Node plus a proxy in its network namespace (network_mode container:node, restart=unless-stopped, as
    compose.yaml's proxyN): failed connect, node killed, both left to their restart policies, then stopped."""
    node = lab.run("node", "--restart", "unless-stopped")
    proxy = lab.run("proxy", "--network", f"container:{node}", "--restart", "unless-stopped")
    lab.pin_taken(node)
    os.kill(lab.pid(node), 9)
    log(f"  $ kill -9 <pid of {node}>")
    time.sleep(4)
    log(f"  # {node}: {lab.state(node)}; {proxy}: {lab.state(proxy)}")
    docker("start", proxy)
    docker("stop", "-t", "1", node, proxy)
    return lab.state(node)


def v_soak_fix(lab: Lab) -> str:
    """bench/soak.py since 7847f90: after the failed connect, `disconnect -f` then `connect` without --ip;
    then stop, start, rm."""
    node = lab.run("node")
    lab.pin_taken(node)
    docker("network", "disconnect", "-f", lab.net, node)
    docker("network", "connect", lab.net, node)
    log(f"  # {node} at {lab.ip(node)}, pins {lab.pinned(node) or 'nothing'}")
    docker("stop", "-t", "1", node)
    docker("start", node)
    return lab.state(node)


def v_connect_stopped(lab: Lab) -> str:
    """Node stopped while cut off; connect --ip of the taken address to the stopped node (Docker only
    records it); start fails."""
    node = lab.run("node")
    old, _ = lab.take_address(node)
    docker("stop", "-t", "1", node)
    docker("network", "connect", "--ip", old, lab.net, node)
    docker("start", node)
    return lab.state(node)


def v_pod_gone(lab: Lab) -> str:
    """Failed connect, then the pod holding the address is removed: the node starts again with it."""
    node = lab.run("node")
    _, pod = lab.pin_taken(node)
    docker("rm", "-f", pod)
    docker("stop", "-t", "1", node)
    docker("start", node)
    log(f"  # {node} at {lab.ip(node)}")
    return lab.state(node)


def v_down_order(lab: Lab) -> str:
    """Failed connect and kill (restart loop), then `kubelab cluster down`'s order: stop the node, disconnect
    -f and rm -f the pods, rm -f the node."""
    node = lab.run("node", "--restart", "unless-stopped")
    _, pod = lab.pin_taken(node)
    os.kill(lab.pid(node), 9)
    log(f"  $ kill -9 <pid of {node}>")
    time.sleep(2)
    docker("stop", "-t", "5", node)
    for c in [n for n in lab.names if "-pod" in n]:
        docker("network", "disconnect", "-f", lab.net, c)
    docker("rm", "-f", "-v", *[n for n in lab.names if "-pod" in n])
    docker("rm", "-f", node)
    return "removed"


def v_double_start(lab: Lab) -> str:
    """Failed connect, stop, then two `docker start` of the node at once (both fail on the address)."""
    node = lab.run("node")
    lab.pin_taken(node)
    docker("stop", "-t", "1", node)
    ts = [threading.Thread(target=docker, args=("start", node)) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lab.state(node)


def v_start_rm_race(lab: Lab) -> str:
    """Failed connect, stop, then `docker start` (failing) racing `docker rm -f`."""
    node = lab.run("node")
    lab.pin_taken(node)
    docker("stop", "-t", "1", node)
    t = threading.Thread(target=docker, args=("start", node))
    t.start()
    docker("rm", "-f", node)
    t.join()
    return "removed"


def v_connect_race(lab: Lab) -> str:
    """The node's `connect --ip <its old address>` at the same moment as pods are created that Docker gives
    that address: whoever wins, the other fails."""
    node = lab.run("node")
    old = lab.ip(node)
    docker("network", "disconnect", lab.net, node)
    ts = [threading.Thread(target=lab.run, args=(f"pod{i}",)) for i in range(3)]
    ts.append(threading.Thread(target=docker, args=("network", "connect", "--ip", old, lab.net, node)))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    log(f"  # node at {lab.ip(node) or '-'} pinning {lab.pinned(node) or '-'}; pods at "
        f"{[lab.ip(n) for n in lab.names if '-pod' in n]}")
    docker("stop", "-t", "1", node)
    docker("start", node)
    return lab.state(node)


class Churn:
    """Containers created and removed on the lab's network all the time (as the kubelets do with pods), by
    `workers` threads, for as long as the `with` block lasts."""

    def __init__(self, lab: Lab, workers: int) -> None:
        self.lab, self.stop = lab, threading.Event()
        self.threads = [threading.Thread(target=self.churn, args=(k,)) for k in range(workers)]
        self.made = 0

    def churn(self, k: int) -> None:
        i = 0
        while not self.stop.is_set():
            name = self.lab.name(f"churn{k}-{i}")
            subprocess.run(["docker", "run", "-d", "--name", name, "--label", LABEL, "--network", self.lab.net,
                            IMAGE], capture_output=True)
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
            i += 1
            self.made += 1

    def __enter__(self) -> "Churn":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
        if self.threads:
            log(f"  # churn: {self.made} containers made and removed meanwhile")


def v_churn(lab: Lab) -> str:
    """kill_restart_loop and start/stop of the node while other containers are created and removed on the
    same network all the time (as a node's kubelet does with pods)."""
    node = lab.run("node", "--restart", "unless-stopped")
    with Churn(lab, 3):
        time.sleep(1)
        lab.pin_taken(node)
        for _ in range(3):
            pid = lab.pid(node)
            if pid:
                os.kill(pid, 9)
                log(f"  $ kill -9 {pid}")
            time.sleep(1.5)
            docker("stop", "-t", "1", node)
            docker("start", node)
        docker("network", "disconnect", "-f", lab.net, node)
        docker("network", "connect", lab.net, node)
        docker("stop", "-t", "1", node)
        docker("start", node)
    return lab.state(node)


def v_hostnet(lab: Lab) -> str:
    """As the kubelet lays out pods: a hostNetwork pod's sandbox in the node's namespace (container:node), a
    pod sandbox on the network with an app container in its namespace (container:sandbox). Failed connect,
    node killed (restart loop), then `kubelab cluster down`'s order."""
    node = lab.run("node", "--restart", "unless-stopped")
    lab.run("hostpod", "--network", f"container:{node}")
    sandbox = lab.run("sandbox")
    lab.run("app", "--network", f"container:{sandbox}")
    lab.pin_taken(node)
    os.kill(lab.pid(node), 9)
    log(f"  $ kill -9 <pid of {node}>")
    time.sleep(3)
    log(f"  # {node}: {lab.state(node)}")
    docker("start", node)
    docker("stop", "-t", "5", node)
    pods = [n for n in lab.names if n != node]
    for c in pods:
        docker("network", "disconnect", "-f", lab.net, c)
    docker("rm", "-f", "-v", *pods)
    docker("rm", "-f", node)
    return "removed"


def v_disconnect_kill(lab: Lab) -> str:
    """Node (restart=unless-stopped) killed while cut off: Docker restarts it onto its network mode's network
    under a new address; the reconnect --ip of its old one then fails; the soak's fallback; stop, start."""
    node = lab.run("node", "--restart", "unless-stopped")
    old, _ = lab.take_address(node)
    os.kill(lab.pid(node), 9)
    log(f"  $ kill -9 <pid of {node}>")
    wait(lambda: lab.state(node).startswith("running"))
    log(f"  # {node}: {lab.state(node)} at {lab.ip(node) or '-'}")
    r = docker("network", "connect", "--ip", old, lab.net, node)
    if r.returncode != 0:
        docker("network", "disconnect", "-f", lab.net, node)
        docker("network", "connect", lab.net, node)
    docker("stop", "-t", "1", node)
    docker("start", node)
    return lab.state(node)


def v_lab(lab: Lab) -> str:
    """Closest to the soak: the node as compose makes it (network alias, hostname, restart=unless-stopped)
    with its proxy in its namespace and a hostNetwork pod; cut off; a pod takes the address; the soak's
    reconnect with --ip and --alias fails and its fallback (disconnect -f, connect with the alias); then its
    other faults on the node (stop -t 2 and start; kill of the pid; stop and start) and `cluster down`'s
    order."""
    node = lab.run("node", "--network-alias", "node", "--hostname", "node", "--restart", "unless-stopped",
                   "--cap-add", "NET_ADMIN")
    proxy = lab.run("proxy", "--network", f"container:{node}", "--restart", "unless-stopped")
    lab.run("hostpod", "--network", f"container:{node}")
    old, _ = lab.take_address(node)
    r = docker("network", "connect", "--ip", old, "--alias", "node", lab.net, node)
    if r.returncode != 0:
        docker("network", "disconnect", "-f", lab.net, node)
        docker("network", "connect", "--alias", "node", lab.net, node)
    log(f"  # {node} at {lab.ip(node) or '-'} pinning {lab.pinned(node) or '-'}")
    docker("stop", "-t", "2", node)
    docker("start", node)
    pid = lab.pid(node)
    if pid:
        log(f"  $ kill -9 {pid}")
        os.kill(pid, 9)
    time.sleep(3)
    docker("restart", "-t", "2", proxy)
    docker("stop", "-t", "2", node)
    docker("start", node)
    log(f"  # {node}: {lab.state(node)}; {proxy}: {lab.state(proxy)}")
    docker("stop", "-t", "5", node)
    pods = [n for n in lab.names if "-pod" in n or "hostpod" in n]
    for c in pods:
        docker("network", "disconnect", "-f", lab.net, c)
    docker("rm", "-f", "-v", *pods)
    docker("rm", "-f", "-v", proxy, node)
    return "removed"


def v_lab_pinned(lab: Lab) -> str:
    """v_lab with the soak's reconnect before 7847f90 (no fallback: the node keeps the taken address pinned)."""
    node = lab.run("node", "--network-alias", "node", "--hostname", "node", "--restart", "unless-stopped")
    proxy = lab.run("proxy", "--network", f"container:{node}", "--restart", "unless-stopped")
    lab.run("hostpod", "--network", f"container:{node}")
    old, _ = lab.take_address(node)
    docker("network", "connect", "--ip", old, "--alias", "node", lab.net, node)
    docker("stop", "-t", "2", node)
    docker("start", node)
    docker("restart", "-t", "2", proxy)
    docker("start", node)
    log(f"  # {node}: {lab.state(node)}; {proxy}: {lab.state(proxy)}")
    docker("stop", "-t", "5", node)
    pods = [n for n in lab.names if "-pod" in n or "hostpod" in n]
    for c in pods:
        docker("network", "disconnect", "-f", lab.net, c)
    docker("rm", "-f", "-v", *pods)
    docker("rm", "-f", "-v", proxy, node)
    return "removed"


def v_rm_running(lab: Lab) -> str:
    """Failed connect, then the running node (its settings naming the network with the taken address, no
    endpoint behind them) removed with `rm -f` at once, and a second node likewise with `stop` first."""
    node = lab.run("node", "--restart", "unless-stopped")
    lab.pin_taken(node)
    docker("rm", "-f", node)
    node2 = lab.run("node2", "--restart", "unless-stopped")
    old, _ = lab.take_address(node2, "pod-b")
    docker("network", "connect", "--ip", old, lab.net, node2)
    docker("network", "disconnect", lab.net, node2)
    docker("stop", "-t", "5", node2)
    docker("network", "disconnect", "-f", lab.net, node2)
    docker("rm", "-f", node2)
    return "removed"


COMPOSE_FILE = """
services:
  node:
    image: klrepro/pause:1
    container_name: {net}-node
    labels: {{klrepro: "1"}}
    restart: unless-stopped
    hostname: node
    environment: {{GENERATION: "${{GENERATION:-1}}"}}
    networks: [net]
  proxy:
    image: klrepro/pause:1
    container_name: {net}-proxy
    labels: {{klrepro: "1"}}
    restart: unless-stopped
    environment: {{GENERATION: "${{GENERATION:-1}}"}}
    network_mode: "service:node"
networks:
  net:
    name: {net}
    labels: {{klrepro: "1"}}
    ipam:
      config:
        - subnet: 10.213.{n}.0/24
          ip_range: 10.213.{n}.0/25
"""


def v_compose(lab: Lab) -> str:
    """With docker-compose as the lab runs it (project klrepro-compose: a node and a proxy in its namespace,
    the network made by compose): failed connect and failed start of the node, then `up -d` with changed
    configuration (compose renames the old node, creates and starts a new one, removes the old), a kill,
    `up -d` again, then `cluster down`'s order (stop, pods removed, `down -v`)."""
    compose_cmd = ["docker", "compose"] if docker("compose", "version", quiet=True).returncode == 0 else \
        ["docker-compose"]
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "compose.yaml"
        f.write_text(COMPOSE_FILE.format(net=lab.net, n=lab.n))

        def compose(*args: str, generation: int = 1) -> None:
            r = subprocess.run([*compose_cmd, "-p", lab.net, "-f", str(f), *args], capture_output=True, text=True,
                               env={**os.environ, "GENERATION": str(generation)}, timeout=300)
            err = r.stderr.strip().replace("\n", " | ")
            log(f"  $ GENERATION={generation} {shlex.join(compose_cmd)} -p {lab.net} {shlex.join(args)}  -> "
                f"rc={r.returncode}  {err[-240:]}")

        compose("up", "-d")
        node = lab.name("node")
        lab.names += [node, lab.name("proxy")]
        lab.pin_taken(node)
        docker("stop", "-t", "2", node)
        docker("start", node)
        compose("up", "-d", generation=2)
        log(f"  # {node}: {lab.state(node)} at {lab.ip(node) or '-'} pinning {lab.pinned(node) or '-'}")
        pid = lab.pid(node)
        if pid:
            log(f"  $ kill -9 {pid}")
            os.kill(pid, 9)
        time.sleep(2)
        compose("up", "-d", generation=2)
        docker("stop", "-t", "5", node)
        pods = [n for n in lab.names if "-pod" in n]
        for c in pods:
            docker("network", "disconnect", "-f", lab.net, c)
        docker("rm", "-f", "-v", *pods)
        compose("down", "-v", "--remove-orphans", "-t", "5", generation=2)
    return "removed"


v_compose.own_network = True  # type: ignore[attr-defined]


STRESS_SECONDS = 180.0


def v_stress(lab: Lab) -> str:
    """No address taken: 6 workers for STRESS_SECONDS (--seconds) doing what kubelets and `cluster down` do
    to pods at once on one network: a sandbox on the network, an app container in its namespace, then
    `disconnect -f` of the sandbox and `rm -f` of both (every third round: `rm -f` alone, or the sandbox
    killed first); meanwhile a node with restart=unless-stopped is killed every few seconds."""
    stop = threading.Event()
    counts = [0] * 6

    def worker(k: int) -> None:
        i = 0
        while not stop.is_set():
            sb, app = lab.name(f"s{k}-{i}"), lab.name(f"a{k}-{i}")
            subprocess.run(["docker", "run", "-d", "--name", sb, "--label", LABEL, "--network", lab.net, IMAGE],
                           capture_output=True)
            subprocess.run(["docker", "run", "-d", "--name", app, "--label", LABEL, "--network",
                            f"container:{sb}", IMAGE], capture_output=True)
            if i % 3 == 0:
                subprocess.run(["docker", "network", "disconnect", "-f", lab.net, sb], capture_output=True)
            elif i % 3 == 1:
                subprocess.run(["docker", "kill", sb], capture_output=True)
            subprocess.run(["docker", "rm", "-f", "-v", app, sb], capture_output=True)
            i += 1
            counts[k] = i

    node = lab.run("node", "--restart", "unless-stopped")
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(counts))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + STRESS_SECONDS
    kills = 0
    while time.monotonic() < deadline:
        time.sleep(4)
        pid = lab.pid(node)
        if pid:
            os.kill(pid, 9)
            kills += 1
    stop.set()
    for t in threads:
        t.join()
    log(f"  # {sum(counts)} pods made and removed by {len(counts)} workers; node killed {kills} times")
    docker("stop", "-t", "5", node)
    return lab.state(node)


def v_port_taken(lab: Lab) -> str:
    """Not the soak's sequence but Docker's known way to a stale endpoint: a start failing after the endpoint
    joined (publishing a host port someone holds, as the apiserver's 6443/8443 would be after another lab's
    or a port-forward's bind). A container on the network and on a second one (as the apiserver is on
    kubelab and kubelab-control-plane) publishing a held loopback port: run, start again, restart-policy
    kill loop, then rm -f."""
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    log(f"  # 127.0.0.1:{port} held by this script")
    second = f"{lab.net}-b"
    docker("network", "create", "--internal", "--subnet", f"10.213.{100 + lab.n}.0/24", "--label", LABEL, second)
    try:
        api = lab.name("api")
        lab.names.append(api)
        docker("create", "--name", api, "--label", LABEL, "--network", lab.net, "--restart", "unless-stopped",
               "-p", f"127.0.0.1:{port}:80", IMAGE)
        docker("network", "connect", second, api)
        docker("start", api)
        docker("start", api)
        holder.close()
        docker("start", api)
        log(f"  # {api}: {lab.state(api)} at {lab.ip(api) or '-'}")
        holder = socket.socket()
        for _ in range(3):
            pid = lab.pid(api)
            if pid:
                os.kill(pid, 9)
                log(f"  $ kill -9 {pid}")
            time.sleep(0.3)
            if holder.fileno() >= 0 and not holder.getsockname()[1]:
                try:
                    holder.bind(("127.0.0.1", port))
                    holder.listen(1)
                    log(f"  # 127.0.0.1:{port} held again")
                except OSError as e:
                    log(f"  # could not hold 127.0.0.1:{port} again: {e}")
            time.sleep(2)
            log(f"  # {api}: {lab.state(api)}")
        other = lab.run("api2", "-p", f"127.0.0.1:{port}:80")
        docker("rm", "-f", api, other)
    finally:
        holder.close()
        r = docker("network", "rm", second)
        if r.returncode != 0 and docker("network", "inspect", second, quiet=True).returncode == 0:
            raise Leak(f"{second}: {r.stderr.strip()}")
    return "removed"


VARIANTS: dict[str, Callable[[Lab], str]] = {
    "stop-start": v_stop_start, "static": v_static, "static-stopped": v_static_stopped, "restart": v_restart,
    "kill-restart-loop": v_kill_restart_loop, "kill-rm-race": v_kill_rm_race, "proxy": v_proxy,
    "soak-fix": v_soak_fix, "connect-stopped": v_connect_stopped, "pod-gone": v_pod_gone,
    "down-order": v_down_order, "double-start": v_double_start, "start-rm-race": v_start_rm_race,
    "connect-race": v_connect_race, "churn": v_churn, "hostnet": v_hostnet, "disconnect-kill": v_disconnect_kill,
    "lab": v_lab, "lab-pinned": v_lab_pinned, "rm-running": v_rm_running,
    "compose": v_compose, "stress": v_stress,
    "port-taken": v_port_taken,
}


def clean() -> None:
    ours = docker("ps", "-aq", "--filter", f"label={LABEL}", quiet=True).stdout.split()
    if ours:
        docker("rm", "-f", *ours)
    for net in docker("network", "ls", "-q", "--filter", f"label={LABEL}", quiet=True).stdout.split():
        docker("network", "rm", net)


def main() -> int:
    global STRESS_SECONDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="*", help="default: all")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--churn", type=int, default=0, metavar="N",
                    help="N threads creating and removing containers on the network during every variant")
    ap.add_argument("--seconds", type=float, default=180.0, help="how long `stress` lasts")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--clean", action="store_true")
    args = ap.parse_args()
    if args.list:
        for i, (k, f) in enumerate(VARIANTS.items()):
            log(f"{i:3} {k:18} {(f.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if args.clean:
        clean()
        return 0
    names = args.variants or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s): {', '.join(unknown)} (see --list)")
    STRESS_SECONDS = args.seconds
    ensure_image()
    server = docker("version", "-f", "{{.Server.Version}}", quiet=True).stdout.strip()
    log(f"docker engine {server}")
    results: list[tuple[str, int, str, str]] = []
    for rnd in range(args.rounds):
        for name in names:
            lab = Lab(name, list(VARIANTS).index(name) + 1)
            log(f"--- {name} (round {rnd + 1}/{args.rounds}) on {lab.net} {lab.subnet}")
            if not getattr(VARIANTS[name], "own_network", False):
                lab.create_network()
            try:
                with Churn(lab, args.churn):
                    outcome = VARIANTS[name](lab)
            except Leak as e:
                log(f"\nREPRODUCED: {e} (commands above); left in place. Only a restart of dockerd clears it.")
                return 2
            except Exception as e:  # noqa: BLE001 - recorded, then torn down
                outcome = f"variant raised {type(e).__name__}: {e}"
            left = lab.teardown()
            results.append((name, rnd + 1, outcome, left))
            log(f"=== {name}: node ended {outcome!r}; network {'NOT removed: ' + left if left else 'removed'}")
            if left:
                log(f"\nREPRODUCED: {lab.net} is left with an endpoint no container owns (commands above); "
                    f"left in place. Only a restart of dockerd clears it.")
                return 2
    log("\nsummary (variant, round, node's last state, network):")
    for name, rnd, outcome, left in results:
        log(f"  {name:18} {rnd:3}  {outcome[:90]:90}  {'LEFT' if left else 'removed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
