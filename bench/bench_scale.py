"""Scale benchmark: a ReplicaSet of 10,000 pods on 100 hollow nodes, scaled to 0 (issue 12 item 11).

Against the local launcher (etcd, apiserver, scheduler, controller manager,
one hollow-node runner of SIMULATED kubelets) with Kubernetes' lease and
node timings. It measures

1. scale-out: ReplicaSet created with `--pods` replicas → that many pods exist
   (bursts of 500 a sync, each waiting for the watch to show the last);
2. scale-down: `replicas: 0` → no pod left (the issue: 4 min 23 s, with the
   controller waiting on deletions it had not seen);
3. for both, each sync's "have N" against what the syncs before it wrote
   (a mismatch is a create or delete the controller did not observe), the
   longest gap between two syncs, the Events on the ReplicaSet, and the CPU
   seconds of each component.

Prints figures; asserts nothing.

    python -m bench.bench_scale [--pods 10000] [--nodes 100]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from kubelab.client import Client
from tests.harness.cluster import K8S_TIMINGS, ensure_namespace, start_cluster, stop_cluster
from tests.harness.controller_manager import replicaset_syncs, unseen_writes
from tests.harness.manifests import replicaset_manifest

from .common import cpu_seconds

NAMESPACE, NAME = "bench-scale", "big"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO controller_manager\.replicaset: (creating|deleting)",
                   re.M)


async def count(client: Client) -> int:
    pods, _ = await client.list("Pod", NAMESPACE)
    return len(pods)


async def until(client: Client, ok: Any, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if ok(await count(client)):
            break
        await asyncio.sleep(1.0)
    return time.monotonic() - start


def longest_gaps(info: dict[str, Any]) -> dict[str, float]:
    """The longest wait between two bursts of the same verb, from the controller manager's log."""
    import datetime as dt
    text = (Path(info["state_path"]) / "logs" / "controller-manager.log").read_text(errors="replace")
    out: dict[str, float] = {}
    last: dict[str, float] = {}
    for m in STAMP.finditer(text):
        t = dt.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if m[2] in last:
            out[m[2]] = max(out.get(m[2], 0.0), t - last[m[2]])
        last[m[2]] = t
    return out


async def run(info: dict[str, Any], pods: int, nodes: int) -> None:
    client = Client(info["server"], info["token"])
    pids = info["pids"]
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    try:
        await ensure_namespace(client, NAMESPACE)
        await client.create(replicaset_manifest(NAME, NAMESPACE, pods, "kubelab/web:latest"))
        up = await until(client, lambda n: n >= pods, 900)
        cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        creates = replicaset_syncs(info, f"{NAMESPACE}/{NAME}")
        await client.patch("ReplicaSet", NAME, {"spec": {"replicas": 0}}, NAMESPACE)
        down = await until(client, lambda n: n == 0, 900)
        cpu2 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        deletes = replicaset_syncs(info, f"{NAMESPACE}/{NAME}")[len(creates):]
        events, _ = await client.list("Event", NAMESPACE, field_selector=f"involvedObject.name={NAME}")
        all_events, _ = await client.list("Event", NAMESPACE)
    finally:
        await client.close()
    gaps = longest_gaps(info)
    print(f"{pods} pods on {nodes} hollow nodes")
    print(f"scale-out:  {up:6.1f} s  syncs {len(creates):3d}  unseen {unseen_writes(creates, 0) or 'none'}  "
          f"longest gap {gaps.get('creating', 0):.1f} s")
    print(f"scale-down: {down:6.1f} s  syncs {len(deletes):3d}  unseen {unseen_writes(deletes, pods) or 'none'}  "
          f"longest gap {gaps.get('deleting', 0):.1f} s")
    print(f"events on the ReplicaSet: {len(events)} objects, count {sum(e.count for e in events)}; "
          f"in the namespace: {len(all_events)} objects, count {sum(e.count for e in all_events)}")
    print("cpu seconds (scale-out / scale-down): " + ", ".join(
        f"{name} {cpu1[name] - cpu0[name]:.0f}/{cpu2[name] - cpu1[name]:.0f}" for name in pids))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--nodes", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        info = start_cluster(Path(tmp), hollow_nodes=args.nodes, controller_manager=K8S_TIMINGS,
                             hollow=["--heartbeat", "10"])
        try:
            asyncio.run(run(info, args.pods, args.nodes))
        finally:
            stop_cluster(info)


if __name__ == "__main__":
    main()
