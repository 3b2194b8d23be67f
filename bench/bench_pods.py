"""Pod startup on the compose lab, next to a bare `docker run` of the same image.

Measured in one run, on this machine:

- lab up: `lab.compose.up(build=False)` from a removed lab, command start → every node Ready
- pod startup latency: time from the create call to the pod seen Running and Ready through a
  watch, for 30 pods over the 3 nodes (scheduled by the scheduler), image present; p50/p99, in
  two shapes: paced (created at --qps) and a burst (all created at once)
- bare Docker on the same engine: `docker run -d` of the same image one at a time (command start →
  container running), and the same number of pods done by hand at once (a pause container on the pod
  network plus the image in its network namespace, per pod), the floor for the burst
- RSS of every component (etcd, apiserver, scheduler, controller manager, each kubelet), with the pods running

Prints figures; asserts nothing.

    python -m bench.bench_pods [--pods 30] [--qps 2] [--reuse-lab] [--keep-lab]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
import uuid
from typing import Any

from kubelab import config as kubeconfig
from lab import compose as lab
from kubelab.client import Client, new_object

from .common import pct

IMAGE = "kubelab/web:latest"
NAMESPACE = "bench"


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {pct(values, 50) * 1000:7.0f} ms   p99 {pct(values, 99) * 1000:7.0f} ms   "
            f"max {max(values) * 1000:7.0f} ms   (n={len(values)})")


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


def bare_docker_run(n: int) -> list[float]:
    out = []
    for _ in range(n):
        name = f"kubelab-bench-{uuid.uuid4().hex[:6]}"
        t = time.perf_counter()
        r = docker("run", "-d", "--name", name, "--network", lab.NETWORK, IMAGE)
        out.append(time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(f"docker run failed: {r.stderr}")
        docker("rm", "-f", name)
    return out


def bare_docker_pods(n: int) -> list[float]:
    """The same n pods the Docker CLI way, all at once: per pod `docker run -d` of the pause image on the
    pod network, then `docker run -d --network container:<it>` of the image; latency of each pair."""
    import concurrent.futures
    tag = uuid.uuid4().hex[:6]

    def one(i: int) -> float:
        t = time.perf_counter()
        docker("run", "-d", "--name", f"kubelab-bench-{tag}-p{i}", "--network", lab.NETWORK, "kubelab/pause:latest")
        r = docker("run", "-d", "--name", f"kubelab-bench-{tag}-a{i}", "--network",
                   f"container:kubelab-bench-{tag}-p{i}", IMAGE)
        if r.returncode != 0:
            raise SystemExit(f"docker run failed: {r.stderr}")
        return time.perf_counter() - t
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        out = list(ex.map(one, range(n)))
    ids = docker("ps", "-aq", "--filter", f"name=kubelab-bench-{tag}-").stdout.split()
    if ids:
        docker("rm", "-f", *ids)
    return out


def pod(name: str) -> Any:
    p = new_object("Pod", name, NAMESPACE)
    p.metadata.labels["app"] = "bench"
    p.spec.termination_grace_period_seconds = 1
    c = p.spec.containers.add(name="web", image=IMAGE)
    c.ports.add(container_port=80)
    return p


def ready(p: Any) -> bool:
    return p.status.phase == "Running" and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)


async def startup_latencies(client: Client, n: int, qps: float, tag: str) -> tuple[list[float], dict[str, int]]:
    """Create n pods (at qps; 0 = all at once); latency = create call → Running+Ready seen by a watch."""
    created: dict[str, float] = {}
    done: dict[str, float] = {}
    nodes: dict[str, int] = {}
    _, rv = await client.list("Pod", NAMESPACE)
    stream = client.watch("Pod", NAMESPACE, resource_version=rv)
    all_ready = asyncio.Event()

    async def watch() -> None:
        async for ev in stream:
            if ev.type == "BOOKMARK":
                continue
            p = kinds_unwrap(ev)
            name = p.metadata.name
            if name in created and name not in done and ready(p):
                done[name] = time.perf_counter()
                nodes[p.spec.node_name] = nodes.get(p.spec.node_name, 0) + 1
                if len(done) == n:
                    all_ready.set()
    watcher = asyncio.create_task(watch())
    names = [f"{tag}-{i:03d}" for i in range(n)]

    async def create(name: str) -> None:
        created[name] = time.perf_counter()
        await client.create(pod(name))
    if qps > 0:
        for name in names:
            asyncio.create_task(create(name))
            await asyncio.sleep(1 / qps)
    else:
        await asyncio.gather(*(create(name) for name in names))
    try:
        await asyncio.wait_for(all_ready.wait(), 180)
    finally:
        stream.cancel()
        watcher.cancel()
    return [done[k] - created[k] for k in names if k in done], nodes


def kinds_unwrap(ev: Any) -> Any:
    from kubelab import kinds
    return kinds.unwrap(ev.object)


async def delete_all(client: Client) -> None:
    items, _ = await client.list("Pod", NAMESPACE)
    await asyncio.gather(*(client.delete("Pod", p.metadata.name, NAMESPACE, grace_period_seconds=0)
                           for p in items), return_exceptions=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        items, _ = await client.list("Pod", NAMESPACE)
        if not items and not docker("ps", "-q", "--filter", f"label=io.kubelab.namespace={NAMESPACE}").stdout.strip():
            return
        await asyncio.sleep(0.5)


def rss_mb(container: str) -> float | None:
    """VmRSS of the container's main process (PID 1 inside it), in MiB."""
    r = docker("exec", container, "cat", "/proc/1/status")
    if r.returncode != 0:
        return None
    for line in r.stdout.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def bench(args: argparse.Namespace) -> None:
    conn = kubeconfig.connection(context_name=lab.CONTEXT)
    async with Client(conn.server, conn.token) as client:
        ns = new_object("Namespace", NAMESPACE)
        try:
            await client.create(ns)
        except Exception:  # noqa: BLE001 - exists
            pass
        # warm-up: the first pod on each node pays for lazy imports and connection setup
        await startup_latencies(client, 3, 0, "warm")
        await delete_all(client)
        paced, nodes_paced = await startup_latencies(client, args.pods, args.qps, "paced")
        await delete_all(client)
        burst, nodes_burst = await startup_latencies(client, args.pods, 0, "burst")
        print()
        print(f"pod startup, {args.pods} pods, create → Running+Ready via watch ({IMAGE}, image present)")
        print(f"  paced at {args.qps:g}/s:   {fmt(paced)}   nodes {dict(sorted(nodes_paced.items()))}")
        print(f"  burst (all at once): {fmt(burst)}   nodes {dict(sorted(nodes_burst.items()))}")
        await delete_all(client)
        bare = bare_docker_run(args.bare_runs)
        pairs = bare_docker_pods(args.pods)
        print(f"  bare `docker run -d`, one at a time:          {fmt(bare)}")
        print(f"  bare docker, {args.pods} pods at once (pause + app):  {fmt(pairs)}")
        print(f"  paced p99 / single docker run p99: {pct(paced, 99) / pct(bare, 99):.1f}x;  "
              f"burst p99 / bare docker burst p99: {pct(burst, 99) / pct(pairs, 99):.1f}x")
        await startup_latencies(client, args.pods, 0, "rss")
        print()
        print(f"RSS with {args.pods} pods running (main process of each container):")
        comps = ["kubelab-etcd", "kubelab-apiserver", "kubelab-scheduler", "kubelab-controller-manager"] + \
            [f"kubelab-node{i}" for i in range(1, 4)]
        for c in comps:
            v = rss_mb(c)
            print(f"  {c:28s} {'n/a' if v is None else f'{v:6.1f} MiB'}")
        await delete_all(client)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=30)
    ap.add_argument("--qps", type=float, default=2.0, help="creation rate of the paced run")
    ap.add_argument("--bare-runs", type=int, default=10)
    ap.add_argument("--reuse-lab", action="store_true", help="use the running lab (no lab-up measurement)")
    ap.add_argument("--keep-lab", action="store_true", help="leave the lab up afterwards")
    args = ap.parse_args()
    if not args.reuse_lab:
        lab.build_images(quiet=True)
        lab.down(quiet=True)
        t = time.perf_counter()
        info = lab.up(build=False, quiet=True)
        took = time.perf_counter() - t
        print(f"lab up (images present, from nothing): {took:.1f} s to {len(info['nodes'])} Ready nodes")
    try:
        asyncio.run(bench(args))
    finally:
        if not args.reuse_lab and not args.keep_lab:
            lab.down(quiet=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
