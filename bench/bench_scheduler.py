"""Scheduler benchmark: pods/s from created to bound on hollow nodes, next to raw etcd.

Against the local launcher: etcd, the apiserver, the scheduler and one
hollow-node runner (SIMULATED kubelets) as separate processes on this
machine. In one run it measures

1. the raw etcd transaction rate: create-if-absent Txns (the apiserver's
   write shape) straight to etcd through aetcd's raw stubs, at the same
   concurrency the scheduler binds with;
   the ceiling beside it: a no-op API server (bench/noop_apiserver.py)
   taking each pod's two writes (bind, Scheduled event) over the same client
   and transport, the fastest any scheduler on kubelab's API could bind;
2. scheduling throughput: N pods created by concurrent clients; a watch
   records when each pod is first seen bound; pods/s = N / (last bound -
   first create), and the bind rate over the middle 80 % of binds;
3. the time until every pod is Running (the hollow kubelets' status writes);
4. RSS of each process at the end (apiserver first), from /proc.

Every process shares this machine's cores, so figures are for this machine.

    python -m bench.bench_scheduler [--pods 10000] [--nodes 1000] [--mode stream|burst]
                                    [--kubelets running|paused]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any


from lab import local as launcher
from kubelab.client import Client, new_object
from kubelab.events import EventRecorder

from .common import CpuMeter, RawEtcd, noop_apiserver, pct, rss_mib, run_concurrent

NAMESPACE = "bench-sched"


def bench_pod(i: int) -> Any:
    p = new_object("Pod", f"p{i:05d}", NAMESPACE)
    p.metadata.labels["app"] = "bench"
    c = p.spec.containers.add(name="app", image="kubelab/hello:v1")
    c.ports.add(container_port=8080)
    c.resources.requests.update({"cpu": "100m", "memory": "64Mi"})
    return p


async def raw_etcd_rate(endpoint: str, n: int, concurrency: int, value: bytes,
                        tls: dict[str, str] | None = None) -> float:
    etcd = RawEtcd(endpoint, tls)
    took, _ = await run_concurrent(n, concurrency, lambda i: etcd.create(f"/bench-raw/{i}".encode(), value))
    await etcd.delete_prefix(b"/bench-raw/")
    await etcd.close()
    return n / took


async def noop_ceiling(token: str, n: int, concurrency: int) -> tuple[float, float]:
    """Pods/s if the API did no work, sent by the same client over the same transport (pipelined writes, as
    the scheduler sends them) to bench/noop_apiserver.py: (the bind alone, the bind and its Scheduled event).
    No scheduler on kubelab's API can bind faster than the first on this machine; kubelab's also writes the
    second."""
    with noop_apiserver(token) as (address, _pid):
        async with Client(address, token, pipeline=True) as client:
            recorder = EventRecorder(client, "default-scheduler")

            async def bind(i: int, event: bool) -> None:
                pod = bench_pod(i)
                await client.bind(NAMESPACE, pod.metadata.name, "hollow-node-0")
                if event:
                    await recorder.record(pod, "Normal", "Scheduled",
                                          f"Successfully assigned {NAMESPACE}/{pod.metadata.name} to hollow-node-0")
            bind_only, _ = await run_concurrent(n, concurrency, lambda i: bind(i, False))
            with_event, _ = await run_concurrent(n, concurrency, lambda i: bind(i, True))
    return n / bind_only, n / with_event


async def wait_nodes(c: Client, n: int, timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        nodes, _ = await c.list("Node")
        if sum(1 for x in nodes if any(k.type == "Ready" and k.status == "True" for k in x.status.conditions)) >= n:
            return time.perf_counter() - t0
        await asyncio.sleep(0.5)
    raise SystemExit(f"only {len(nodes)} of {n} nodes registered within {timeout:.0f}s")


class Observer:
    """One watch on the bench namespace: when each pod was first seen bound and Running."""

    def __init__(self, client: Client, rv: str, n: int) -> None:
        self.client, self.rv, self.n = client, rv, n
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.all_bound = asyncio.Event()
        self.all_running = asyncio.Event()

    async def run(self) -> None:
        stream = self.client.watch("Pod", NAMESPACE, resource_version=self.rv)
        try:
            async for ev in stream:
                if ev.type not in ("ADDED", "MODIFIED"):
                    continue
                pod = ev.object.pod
                name, now = pod.metadata.name, time.perf_counter()
                if pod.spec.node_name and name not in self.bound:
                    self.bound[name] = now
                    if len(self.bound) == self.n:
                        self.all_bound.set()
                if pod.status.phase == "Running" and name not in self.running:
                    self.running[name] = now
                    if len(self.running) == self.n:
                        self.all_running.set()
                        return
        finally:
            stream.cancel()


async def bench(args: argparse.Namespace, info: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    # Pipelined, as the controllers that create pods (ReplicaSet, Job) send their writes.
    clients = [Client(info["server"], info["token"], pipeline=True) for _ in range(8)]
    c = clients[0]
    took = await wait_nodes(c, args.nodes, args.timeout)
    lines.append(f"{args.nodes} hollow nodes Ready {took:.1f}s after the control plane answered")
    await asyncio.sleep(args.settle)

    await c.create(new_object("Namespace", NAMESPACE))
    await c.create(new_object("Namespace", "bench-sample"))
    sample_pod = bench_pod(0)
    sample_pod.metadata.namespace = "bench-sample"
    sample = (await c.create(sample_pod)).SerializeToString()    # a pod as stored, defaults and all
    raw = await raw_etcd_rate(info["etcd"], args.etcd_ops or args.pods, args.bind_concurrency, sample,
                                 info.get("etcd_tls"))
    lines.append(f"raw etcd create txns: {raw:8.0f}/s ({args.etcd_ops or args.pods} txns, "
                 f"{args.bind_concurrency} concurrent, {len(sample)} B values)")
    bind_only, ceiling = await noop_ceiling(info["token"], args.etcd_ops or args.pods, args.bind_concurrency)
    lines.append(f"ceiling: a no-op API server (same client and transport, no work) taking each pod's bind: "
                 f"{bind_only:5.0f} pods/s = {bind_only / raw:.1%} of raw etcd; its bind and Scheduled event: "
                 f"{ceiling:5.0f} pods/s = {ceiling / raw:.1%}")

    _, rv = await c.list("Pod", NAMESPACE)
    obs = Observer(clients[-1], rv, args.pods)
    watcher = asyncio.create_task(obs.run())
    created: dict[str, float] = {}

    async def create(i: int) -> None:
        p = bench_pod(i)
        created[p.metadata.name] = time.perf_counter()
        await clients[i % len(clients)].create(p)
    meter = CpuMeter(info["pids"])
    if args.mode == "burst":
        launcher.stop_component("scheduler", info["state_path"], signal.SIGSTOP)
    t0 = time.perf_counter()
    create_took, _ = await run_concurrent(args.pods, args.create_concurrency, create)
    paused = args.mode == "burst" and args.kubelets == "paused"
    if paused:      # scheduler_perf's setting: no kubelet work competes while pods are scheduled
        launcher.stop_component("hollow-nodes", info["state_path"], signal.SIGSTOP)
    if args.mode == "burst":     # every pod exists: from now on only the scheduler's pace counts
        t0 = time.perf_counter()
        meter = CpuMeter(info["pids"])
        launcher.stop_component("scheduler", info["state_path"], signal.SIGCONT)
    try:
        await asyncio.wait_for(obs.all_bound.wait(), args.timeout)
    except asyncio.TimeoutError:
        pass
    if paused:
        launcher.stop_component("hollow-nodes", info["state_path"], signal.SIGCONT)
    bound_at = sorted(obs.bound.values())
    if len(bound_at) < args.pods:
        lines.append(f"only {len(bound_at)} of {args.pods} pods were bound within {args.timeout:.0f}s")
    span = bound_at[-1] - t0 if bound_at else float("nan")
    rate = len(bound_at) / span if bound_at else 0.0
    lo, hi = int(len(bound_at) * 0.1), int(len(bound_at) * 0.9) - 1
    steady = (hi - lo) / (bound_at[hi] - bound_at[lo]) if hi > lo and bound_at[hi] > bound_at[lo] else float("nan")
    cpu_line = meter.share_report("CPU during scheduling")
    per_pod = meter.per_op_report(len(bound_at)) if bound_at else ""
    etcd_sec = meter.used().get("etcd", 0.0) / max(len(bound_at), 1)
    lat = [(obs.bound[k] - created[k]) * 1000 for k in obs.bound if k in created]
    lines.append(f"created {args.pods} pods in {create_took:.1f}s ({args.pods / create_took:.0f}/s, "
                 f"{args.create_concurrency} concurrent clients)")
    start = "the first create" if args.mode == "stream" else "resuming the scheduler"
    mode = f"{args.mode}, hollow kubelets paused while binding" if paused else args.mode
    lines.append(f"scheduling ({mode}): {len(bound_at)} pods bound in {span:.1f}s from {start} -> "
                 f"{rate:.0f} pods/s (middle 80% of binds: {steady:.0f} pods/s); created->bound p50 {pct(lat, 50):.0f} ms, "
                 f"p99 {pct(lat, 99):.0f} ms")
    lines.append(f"scheduler throughput / raw etcd txn rate: {rate / raw:.1%} (target >= 50%); "
                 f"/ the no-op ceiling: {rate / ceiling:.1%}; vs the 800 pods/s target: {rate / 800:.0%}")
    lines.append(cpu_line)
    if per_pod:
        lines.append(f"{per_pod} (per bound pod)")
    if etcd_sec > 0 and paused:      # only binds were written meanwhile: no creates, no kubelet status
        # What the ratio target asks of etcd alone: each pod is two etcd writes (the bind, the Scheduled event).
        most = (os.cpu_count() or 1) / etcd_sec
        lines.append(f"etcd alone spends {etcd_sec * 1e6:.0f} us of CPU per bound pod: with all {os.cpu_count()} "
                     f"cores to itself it could take {most:.0f} pods/s = {most / raw:.0%} of raw etcd, before "
                     f"any CPU for the apiserver and scheduler")
    try:
        await asyncio.wait_for(obs.all_running.wait(), args.timeout)
    except asyncio.TimeoutError:
        pass
    running_at = sorted(obs.running.values())
    if running_at:
        lines.append(f"all Running: {len(running_at)} of {args.pods} pods Running {running_at[-1] - t0:.1f}s after "
                     f"{start} (target: 10,000 within 60 s)")
    watcher.cancel()
    rss = {name: rss_mib(pid) for name, pid in info["pids"].items()}
    lines.append("RSS at the end: " + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in
                                                 sorted(rss.items(), key=lambda kv: kv[0] != "apiserver")) +
                 " (apiserver target <= 1024 MiB)")
    for cl in clients:
        await cl.close()
    return lines


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--mode", choices=("stream", "burst"), default="stream",
                    help="stream: the scheduler runs while pods are created (created->bound); burst: it is paused "
                         "(SIGSTOP) until all pods exist, then timed alone")
    ap.add_argument("--kubelets", choices=("running", "paused"), default="running",
                    help="burst only: paused stops the hollow-node runner (SIGSTOP) until every pod is bound, as "
                         "Kubernetes' scheduler_perf measures with no kubelets; then resumes it for 'all Running'")
    ap.add_argument("--create-concurrency", type=int, default=64)
    ap.add_argument("--bind-concurrency", type=int, default=256, help="the scheduler's binds in flight (and the "
                    "concurrency of the raw etcd run)")
    ap.add_argument("--etcd-ops", type=int, default=0, help="raw etcd txns to time (default: --pods)")
    ap.add_argument("--heartbeat", type=float, default=10.0, help="hollow node heartbeat seconds")
    ap.add_argument("--hollow-events", default=True, action=argparse.BooleanOptionalAction,
                    help="kubelet Events from hollow nodes")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to idle after the nodes are Ready")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--scheduler-args", default="", help="extra flags for kubelab-scheduler")
    ap.add_argument("--hollow-args", default="", help="extra flags for the hollow-node runner")
    ap.add_argument("--apiserver-args", default="", help="extra flags for the apiserver")
    ap.add_argument("--keep", action="store_true", help="leave the cluster's logs in the printed state dir")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-sched-")
    os.environ.setdefault("KUBELAB_CONFIG", str(Path(tmp) / "kubeconfig"))
    state = Path(tmp) / "state"
    hollow = ["--heartbeat", str(args.heartbeat), "--events" if args.hollow_events else "--no-events",
              *args.hollow_args.split()]
    info = await launcher.up_local(
        hollow_nodes=args.nodes, state_dir=state, write_kubeconfig=False, components=("scheduler",),
        extra_args={"scheduler": ["--no-leader-elect", "--bind-concurrency", str(args.bind_concurrency),
                                  *args.scheduler_args.split()],
                    "apiserver": args.apiserver_args.split(), "hollow-nodes": hollow})
    info["state_path"] = state
    try:
        print(f"kubelab scheduler benchmark: {args.pods} pods on {args.nodes} hollow nodes (etcd, apiserver, "
              f"scheduler, hollow runner and this client share {os.cpu_count()} cores)")
        for line in await bench(args, info):
            print(line, flush=True)
    finally:
        launcher.down_local(state, remove_context=False)
        if args.keep:
            print(f"logs: {state / 'logs'}")


if __name__ == "__main__":
    asyncio.run(main())
