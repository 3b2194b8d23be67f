"""Rollout benchmark: a 100-replica Deployment on hollow nodes, created then rolled to a new image.

Against the local launcher: etcd, the apiserver, the scheduler, the
controller manager and one hollow-node runner (SIMULATED kubelets) as
separate processes on this machine. It measures

1. scale-out: Deployment created → all replicas available (the ReplicaSet
   controller's slow-start batches, scheduling, hollow kubelets);
2. rollout: image changed → every replica updated and available, the
   Deployment reporting NewReplicaSetAvailable; with the number of
   ScalingReplicaSet steps, and, from a watch on the pods, the most pods
   that existed at once and the fewest available (which must stay within
   replicas + maxSurge and replicas − maxUnavailable);
3. the controller manager's reconciles and CPU time during the rollout.

    python -m bench.bench_rollout [--replicas 100] [--nodes 100] [--max-surge 25%] [--max-unavailable 25%]
                                  [--ready-delay 0.5]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from controller_manager.deployment import util
from tests.harness.cluster import ensure_namespace
from tests.harness.controller_manager import observe
from tests.harness.manifests import deployment_manifest
from lab import local as launcher
from kubelab.client import Client

from .common import cpu_seconds, rss_mib

NAMESPACE = "bench-rollout"


def scrape(port: int) -> dict[str, float]:
    """The controller manager's /metrics, as {"name{labels}": value}."""
    out: dict[str, float] = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
    return out


async def wait_complete(c: Client, replicas: int, image: str, timeout: float, t0: float) -> float:
    """Seconds from `t0` until the Deployment reports the rollout complete."""
    while time.perf_counter() - t0 < timeout:
        d = await c.get("Deployment", "web", NAMESPACE)
        st = d.status
        cond = next((x for x in st.conditions if x.type == "Progressing"), None)
        if (st.observed_generation == d.metadata.generation and st.updated_replicas == replicas
                and st.replicas == replicas and st.available_replicas == replicas
                and cond is not None and cond.reason == util.NEW_RS_AVAILABLE
                and d.spec.template.spec.containers[0].image == image):
            return time.perf_counter() - t0
        await asyncio.sleep(0.1)
    raise SystemExit(f"deployment did not complete within {timeout:.0f}s: {d.status}")


async def wait_nodes(c: Client, n: int, timeout: float) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        nodes, _ = await c.list("Node")
        if sum(1 for x in nodes if any(k.type == "Ready" and k.status == "True" for k in x.status.conditions)) >= n:
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"nodes not Ready within {timeout:.0f}s")


def _int_or_pct(v: str) -> int | str:
    return v if v.endswith("%") else int(v)


async def bench(args: argparse.Namespace, state: Path) -> None:
    metrics_port = launcher.free_port()
    info = await launcher.up_local(
        hollow_nodes=args.nodes, state_dir=state, write_kubeconfig=False,
        extra_args={"controller-manager": ["-v", "--metrics-address", f"127.0.0.1:{metrics_port}"],
                    "hollow-nodes": ["--no-events"] if args.no_kubelet_events else []})
    cm_pid = info["pids"]["controller-manager"]
    try:
        async with Client(info["server"], info["token"]) as c:
            await wait_nodes(c, args.nodes, 120)
            await ensure_namespace(c, NAMESPACE)
            surge, unavailable = _int_or_pct(args.max_surge), _int_or_pct(args.max_unavailable)
            d = deployment_manifest("web", NAMESPACE, args.replicas, "nginx:1.15", surge, unavailable,
                                    ready_delay=args.ready_delay)
            t0 = time.perf_counter()
            await c.create(d)
            scale_out = await wait_complete(c, args.replicas, "nginx:1.15", 300, t0)

            watch, task = await observe(c, NAMESPACE)
            before = scrape(metrics_port)
            cpu0 = cpu_seconds(cm_pid)
            t0 = time.perf_counter()
            await c.patch("Deployment", "web", {"spec": {"template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.16"}]}}}}, NAMESPACE)
            rollout = await wait_complete(c, args.replicas, "nginx:1.16", 600, t0)
            cpu = cpu_seconds(cm_pid) - cpu0
            rss = rss_mib(cm_pid)
            after = scrape(metrics_port)
            task.cancel()
            evs, _ = await c.list("Event", NAMESPACE)
            steps = sum(e.count for e in evs if e.reason == "ScalingReplicaSet"
                        and e.involved_object.name == "web") - 1          # minus the scale-out's own
            s, u = util.resolve_fenceposts(d.spec.strategy.rolling_update.max_surge,
                                           d.spec.strategy.rolling_update.max_unavailable, args.replicas)
    finally:
        launcher.down_local(state, remove_context=False)

    def delta(name: str) -> float:
        return sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith(name))
    reconciles = {k.split('"')[1]: v - before.get(k, 0.0) for k, v in after.items()
                  if k.startswith("kubelab_controller_reconcile_total")}
    print(f"rollout benchmark: {args.replicas} replicas on {args.nodes} hollow nodes, "
          f"maxSurge {args.max_surge} ({s} pods), maxUnavailable {args.max_unavailable} ({u} pods), "
          f"ready delay {args.ready_delay}s")
    print(f"  scale-out 0 -> {args.replicas} available:     {scale_out:6.2f} s")
    print(f"  rollout 1.15 -> 1.16 complete:      {rollout:6.2f} s  ({args.replicas / rollout:.1f} pods replaced/s, "
          f"{steps} scaling steps)")
    print(f"  most pods at once:                  {watch.max_live:6d}    (bound {args.replicas + s})")
    print(f"  fewest available:                   {watch.min_available:6d}    (bound {args.replicas - u})")
    print(f"  controller-manager CPU in rollout:  {cpu:6.2f} s  ({cpu / rollout:.0%} of a core), RSS {rss:.0f} MiB")
    print("  reconciles during rollout:          " + ", ".join(
        f"{k} {int(v)}" for k, v in sorted(reconciles.items(), key=lambda kv: -kv[1]) if v))
    print(f"  reconcile errors (retried):         {int(delta('kubelab_controller_reconcile_errors_total'))}")
    if watch.max_live > args.replicas + s or watch.min_available < args.replicas - u:
        raise SystemExit("BOUNDS VIOLATED")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--max-surge", default="25%")
    p.add_argument("--max-unavailable", default="25%")
    p.add_argument("--ready-delay", type=float, default=0.5, help="hollow pods' Running -> Ready delay (s)")
    p.add_argument("--no-kubelet-events", action="store_true", help="hollow kubelets record no Events")
    p.add_argument("--keep", action="store_true", help="keep the state directory (logs) and print where it is")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="kubelab-bench-rollout-")
    try:
        os.environ["KUBELAB_CONFIG"] = str(Path(tmp) / "kubeconfig")
        asyncio.run(bench(args, Path(tmp) / "state"))
    finally:
        if args.keep:
            print(f"  logs: {tmp}/state/logs")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
