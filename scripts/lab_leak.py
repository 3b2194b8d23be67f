#!/usr/bin/env python3
"""scripts/lab_leak.py: bisects, on the real compose lab, which fault leaves Docker's `kubelab` network undeletable
(kubelab issue 12, item 16).

Not a test and not part of any tier. The cause was found later with plain containers (scripts/epcnt_race.py,
docs/troubleshooting.md: endpoints removed at once on one network); this script still shows when, in the lab, the
count moves. This script applies
the soak's faults (its own `inject`, `recovered`) one named step at a time to the running lab, with a few
Deployments whose pods the kubelets create and remove meanwhile, and after every step reads Docker's network store
to compare the network's endpoint count with the endpoints the store holds. Docker refuses `network rm` while
that count is not 0, and corrects it only when dockerd starts ("Fixing inconsistent endpoint_cnt for network
kubelab" in its log): a count above the endpoints held is the leak, seen here at the step that made it instead of
at `cluster down`.

How the count is read: dockerd keeps libnetwork's store in /var/lib/docker/network/files/local-kv.db (bbolt, bucket
"libnetwork"); a copy of the file is parsed here (no Docker API shows the count). Key
docker/network/v1.0/endpoint_count/<network id>/ holds {"Count": N}; docker/network/v1.0/endpoint/<network id>/<id>/
one key per endpoint. Needs root (the file is dockerd's). The store lags a step that is still under way: a mismatch
is read again until it holds for 5 s.

Steps (each followed by the soak's recovery wait, then the count read; HOLD in seconds):
  disconnect:NODE:HOLD   `docker network disconnect` of kubelab-NODE, back after HOLD (the soak's reconnect)
  stop:NODE:HOLD         `docker stop -t 2`, `docker start` after HOLD
  kill:SERVICE           kill -9 of the container's pid from the host (Docker restarts it: unless-stopped)
  churn                  scale every Deployment to another replica count (pods created and removed)
  sleep:S                wait S seconds
  down                   `kubelab cluster down` (lab/compose.py's down), then whether the network is gone

    python3 scripts/lab_leak.py --up disconnect:node3:30 churn down     # under flock /work/lab.lock
    python3 scripts/lab_leak.py --probe                                 # the count now, lab or not
    python3 scripts/lab_leak.py --watch 900 &    # beside anything else (the soak): each lasting change of the drift

What it showed on Docker 20.10.24 (2026-12-04): docs/troubleshooting.md, "What is known about the cause".

Exit status 2 when the count drifted or the network was left. It never restarts dockerd (the only fix of a leaked
count: docs/troubleshooting.md).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import docker_store  # noqa: E402 - after the path

DOCKERD_LOG = Path("/var/log/dockerd.log")
NETWORK = "kubelab"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def network_id(name: str = NETWORK) -> str:
    return docker_store.network_id(name)


def listed(name: str = NETWORK) -> list[str]:
    r = docker("network", "inspect", "-f", "{{json .Containers}}", name)
    if r.returncode != 0:
        return []
    return sorted(str(c.get("Name", "")) for c in (json.loads(r.stdout.strip() or "null") or {}).values())


def probe(label: str, settle: float = 5.0) -> bool:
    """Log the count against the endpoints; True when they differ for `settle` seconds (the leak)."""
    nid = network_id()
    if not nid:
        log(f"probe {label}: no network {NETWORK}")
        return False
    deadline = time.monotonic() + settle
    while True:
        c = docker_store.endpoint_count(nid)
        count, names = c.count, list(c.endpoints)
        if count == len(names) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    drift = count != len(names)
    log(f"probe {label}: endpoint_count={count}, endpoints in the store={len(names)}, listed by inspect="
        f"{len(listed())}{'   <<< COUNT DRIFT: ' + str(count - len(names)) if drift else ''}")
    if drift:
        log(f"  store's endpoints: {names}")
    return drift


class DockerdLog:
    """The lines dockerd logged since the last look, those about networks and endpoints."""

    WORDS = ("endpoint", "sandbox", "network", "Address already", "failed", "level=error")

    def __init__(self) -> None:
        self.offset = DOCKERD_LOG.stat().st_size if DOCKERD_LOG.exists() else 0

    def news(self) -> list[str]:
        if not DOCKERD_LOG.exists():
            return []
        with DOCKERD_LOG.open(errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
            self.offset = f.tell()
        return [ln for ln in text.splitlines()
                if ("level=warn" in ln or "level=error" in ln) and any(w in ln for w in self.WORDS)]

    def show(self) -> None:
        lines = self.news()
        for ln in lines[:40]:
            log(f"  dockerd: {ln[:400]}")
        if len(lines) > 40:
            log(f"  dockerd: ... {len(lines) - 40} more")


# ---------------------------------------------------------------- the lab's faults (bench/soak.py's)
async def run_steps(steps: list[str], deployments: int, replicas: int, seed: int) -> bool:
    from bench import soak
    from kubelab import config as kubeconfig
    from kubelab.client import Client
    from lab import compose as lab
    from tests.harness.cluster import ensure_namespace
    from tests.harness.manifests import deployment_manifest

    rng = random.Random(seed)
    dlog = DockerdLog()
    drifted = False
    conn = kubeconfig.connection(context_name=lab.CONTEXT)
    async with Client(conn.server, conn.token) as client, Client(conn.server, conn.token, retries=0) as prober:
        await ensure_namespace(client, soak.NAMESPACE)
        names = [f"leak-{i}" for i in range(deployments)]
        for n in names:
            d = deployment_manifest(n, soak.NAMESPACE, replicas, soak.IMAGES[0], 1, 0)
            d.spec.template.spec.termination_grace_period_seconds = 1
            d.spec.template.spec.containers[0].name = "hello"
            try:
                await client.create(d)
            except Exception as e:  # noqa: BLE001 - exists from an earlier run on this lab
                log(f"create {n}: {type(e).__name__}")
        await wait_pods(client, soak.NAMESPACE, deployments * replicas)
        drifted |= probe("before the steps")
        dlog.show()
        for i, step in enumerate(steps):
            kind, *rest = step.split(":")
            log(f"--- step {i + 1}: {step}")
            if kind in ("disconnect", "stop", "kill"):
                f = soak.Fault(kind, rest[0], 0.0, float(rest[1]) if len(rest) > 1 else 0.0)
                wall, mono = time.time(), time.monotonic()
                start = await soak.inject(f)
                wall_from = wall + (start - mono)          # the wall time recovery is counted from
                t0 = time.monotonic()
                missing = "?"
                while time.monotonic() - t0 < 120:
                    missing = await soak.recovered(prober, f, wall_from, int(time.time() * 1000) % 10**9)
                    if not missing:
                        break
                    await asyncio.sleep(0.5)
                log(f"  {'recovered' if not missing else 'NOT recovered: ' + missing} in {time.monotonic() - t0:.1f}s"
                    f"{'  (' + f.note + ')' if f.note else ''}")
            elif kind == "churn":
                total = 0
                for n in names:
                    r = rng.choice([x for x in range(4) if x != replicas])
                    total += r
                    await client.patch("Deployment", n, {"spec": {"replicas": r}}, soak.NAMESPACE, patch_type="merge")
                await wait_pods(client, soak.NAMESPACE, total)
            elif kind == "sleep":
                await asyncio.sleep(float(rest[0]))
            elif kind == "down":
                break
            else:
                raise SystemExit(f"unknown step {step}")
            await asyncio.sleep(3)
            drifted |= probe(f"after {step}")
            dlog.show()
    return drifted


async def wait_pods(client: Any, namespace: str, want: int, timeout: float = 120) -> None:
    """Until `want` pods of the namespace are Running and none is terminating (or the timeout)."""
    t0 = time.monotonic()
    running = terminating = 0
    while time.monotonic() - t0 < timeout:
        pods, _ = await client.list("Pod", namespace)
        running = sum(1 for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp)
        terminating = sum(1 for p in pods if p.metadata.deletion_timestamp)
        if running == want and not terminating:
            break
        await asyncio.sleep(1)
    log(f"  pods: {running} Running (want {want}), {terminating} terminating after {time.monotonic() - t0:.0f}s")


def down_and_check() -> bool:
    """`cluster down`; True when the network is left behind."""
    from lab import compose as lab
    dlog = DockerdLog()
    nid = network_id()
    try:
        res = lab.down(quiet=True)
        log(f"down: {res.get('pod_containers')} pod containers removed; problems: {res.get('problems')}")
    except lab.LabError as e:
        log(f"down failed: {e}")
    dlog.show()
    if network_id():
        c = docker_store.endpoint_count(nid)
        count, names = c.count, list(c.endpoints)
        log(f"LEAKED: network {NETWORK} ({nid[:12]}) is left: endpoint_count={count}, endpoints in the store={names}, "
            f"listed by inspect={listed()}")
        return True
    log(f"network {NETWORK} removed")
    return False


def watch(seconds: float) -> None:
    """Read the count every second for `seconds`; log each change of (count - endpoints) that holds for 3 reads
    (an endpoint being made or removed is counted a moment after it is stored or deleted)."""
    t_end = time.monotonic() + seconds
    reported, recent = 0, []
    while time.monotonic() < t_end:
        nid = network_id()
        if nid:
            try:
                c = docker_store.endpoint_count(nid)
                count, names = c.count, list(c.endpoints)
            except RuntimeError:
                time.sleep(1)
                continue
            recent = (recent + [count - len(names)])[-3:]
            if len(recent) == 3 and len(set(recent)) == 1 and recent[0] != reported:
                reported = recent[0]
                log(f"watch: endpoint_count={count}, endpoints in the store={len(names)}: drift {reported}"
                    f" (inspect lists {len(listed())})")
        time.sleep(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("steps", nargs="*")
    ap.add_argument("--up", action="store_true", help="bring the lab up first when it is not running")
    ap.add_argument("--deployments", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--probe", action="store_true", help="only read the count of the kubelab network")
    ap.add_argument("--watch", type=float, metavar="SECONDS",
                    help="only read the count every second, logging each lasting change of the drift")
    args = ap.parse_args()
    if args.probe:
        return 2 if probe("now") else 0
    if args.watch:
        watch(args.watch)
        return 0
    from bench import soak
    from lab import compose as lab
    server = docker("version", "-f", "{{.Server.Version}}").stdout.strip()
    log(f"docker engine {server}; steps: {' '.join(args.steps)}")
    if not soak.lab_running():
        if not args.up:
            raise SystemExit("no lab running (use --up)")
        t = time.monotonic()
        lab.up(quiet=True)
        log(f"lab up in {time.monotonic() - t:.0f}s")
    drifted = asyncio.run(run_steps(args.steps, args.deployments, args.replicas, args.seed))
    left = down_and_check() if "down" in args.steps else False
    log(f"result: count {'DRIFTED' if drifted else 'consistent'} during the steps; network "
        f"{'LEFT' if left else ('removed' if 'down' in args.steps else 'not removed (no down step)')}")
    return 2 if drifted or left else 0


if __name__ == "__main__":
    sys.exit(main())
