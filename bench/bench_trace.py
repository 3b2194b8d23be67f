"""Trace benchmark: `kubelab trace deployment/web` latency for a Deployment of 100 pods on hollow nodes.

Against the local launcher (etcd, apiserver, scheduler, controller manager, one hollow-node runner as
separate processes on this machine): the Deployment is created and waited for until every pod is Ready and
the apiserver's index says so (the critical path is complete), then the Trace call is timed (a full
timeline, as `kubelab trace` and `-o json` ask for it, and a `-w` follow-up with the last cursor). The
issue's target is 200 ms. Also printed: the index's size, and the steps and critical path of the trace.
A second figure, in process: the same call over a full index (50,000 records of other pods, the case of
the issue's 10,000-pod run, where the cost is the scan of the ring and the object graph).

    python -m bench.bench_trace [--replicas 100] [--nodes 20] [--calls 20]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from kubelab.client import Client
from lab import local as launcher
from tests.harness.controller_manager import deployment_manifest, ensure_namespace

from .bench_rollout import wait_nodes
from .common import pct

NAMESPACE = "bench-trace"


async def bench(args: argparse.Namespace, state: Path) -> None:
    info = await launcher.up_local(hollow_nodes=args.nodes, state_dir=state, write_kubeconfig=False)
    try:
        async with Client(info["server"], info["token"]) as c:
            await wait_nodes(c, args.nodes, 120)
            await ensure_namespace(c, NAMESPACE)
            await c.create(deployment_manifest("web", NAMESPACE, args.replicas, "nginx:1.15"))
            t0 = time.perf_counter()
            while True:
                t = await c.trace("Deployment", "web", NAMESPACE)
                if t.critical_path.startswith("apply → all pods Ready"):
                    break
                if time.perf_counter() - t0 > 300:
                    raise SystemExit(f"not all pods Ready in the trace within 300 s: {t.critical_path}")
                await asyncio.sleep(0.5)
            full: list[float] = []
            for _ in range(args.calls):
                s = time.perf_counter()
                t = await c.trace("Deployment", "web", NAMESPACE)
                full.append(time.perf_counter() - s)
            follow: list[float] = []
            for _ in range(args.calls):
                s = time.perf_counter()
                await c.trace("Deployment", "web", NAMESPACE, since=t.cursor)
                follow.append(time.perf_counter() - s)
    finally:
        launcher.down_local(state, remove_context=False)
    ms = lambda v: f"{v * 1000:6.1f} ms"  # noqa: E731
    print(f"trace benchmark: deployment/web with {args.replicas} pods on {args.nodes} hollow nodes")
    print(f"  index: {t.cursor} records seen; trace: {len(t.steps)} steps")
    print(f"  critical path: {t.critical_path}")
    print(f"  full trace  p50 {ms(pct(full, 50))}  p99 {ms(pct(full, 99))}  (target 200 ms)")
    print(f"  -w follow   p50 {ms(pct(follow, 50))}  p99 {ms(pct(follow, 99))}")
    scan = full_index_figure(args.calls)
    print(f"  full index (50,000 records, in process): p50 {ms(pct(scan, 50))}  p99 {ms(pct(scan, 99))}")


def full_index_figure(calls: int) -> list[float]:
    """Seconds per trace_for over an index filled to its bound with other pods' writes, changes and Events."""
    from apiserver.trace import MAX_RECORDS, TraceIndex, stamp, trace_for
    from kubelab.v1 import objects_pb2 as pb
    idx = TraceIndex()
    t0 = time.time()
    agent = "kubelet/v0.1.0 (linux/amd64) kubelab"
    for i in range(MAX_RECORDS):
        name, uid = f"other-{i:05d}", f"uid-{i:05d}"
        if i % 3 == 0:
            idx.add_audit({"stage": "ResponseComplete", "verb": "update", "user": {"username": "system:node:n"},
                           "userAgent": agent, "requestReceivedTimestamp": stamp(t0 + i / 1000),
                           "responseStatus": {"code": 200},
                           "objectRef": {"resource": "pods", "namespace": "other", "name": name,
                                         "subresource": "status", "resourceVersion": str(i)}})
        elif i % 3 == 1:
            p = pb.Pod()
            p.metadata.name, p.metadata.namespace, p.metadata.uid = name, "other", uid
            p.metadata.owner_references.add(uid="rs-other", kind="ReplicaSet", name="rs")
            p.status.conditions.add(type="Ready", status="True")
            idx.add_object("Pod", "MODIFIED", p)
        else:
            e = pb.Event(reason="Started", reporting_component="kubelet", event_time=stamp(t0 + i / 1000))
            e.metadata.name, e.involved_object.uid, e.involved_object.name = f"ev-{i}", uid, name
            idx.add_object("Event", "ADDED", e)
    dep = pb.Deployment()
    dep.metadata.name, dep.metadata.namespace, dep.metadata.uid = "web", "default", "dep"
    out = []
    for _ in range(calls):
        s = time.perf_counter()
        trace_for(idx, lambda kind, ns, name: dep, "Deployment", "default", "web")
        out.append(time.perf_counter() - s)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--calls", type=int, default=20)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="kubelab-bench-trace-")
    try:
        os.environ["KUBELAB_CONFIG"] = str(Path(tmp) / "kubeconfig")
        asyncio.run(bench(args, Path(tmp) / "state"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
