"""A soak under faults on the compose lab: writes at a steady rate, one fault a minute, then a consistency check.

For --minutes (default 10), at --rate operations/s (default 20, open loop: an operation starts every
1/rate s whatever the others do), against the `soak` namespace through the lab's gRPC API (the kubeconfig's
"kubelab" context, as the CLI):
  - Roles (plain objects; an annotation holds the value written): created, updated (a merge patch of their data), deleted
  - Deployments (kubelab/hello, up to --deployments at once): created, scaled (0–3 replicas),
    their image updated (hello:v1 ↔ v2: a rollout), deleted (background propagation)
Each object's operations are serialized; every answer is recorded: an acknowledged write is what the
object must hold at the end (or a later write of it), a failed one may have happened or not. A Deployment
whose write failed takes no more scales or image updates; it is deleted (NotFound counts as done: then
the failed write was a create that did not happen) before any other Deployment operation, so a fault
that fails a few Deployment writes does not leave the soak without Deployments for the rest of its run
(as it did in the run of 2026-12-03 21:39 UTC: the apiserver kill at 20 s failed a write of each of
the four, and 19 Deployment operations were all the run made).

Once a minute a fault (seeded: --seed), with what it takes to recover (from the kill, or from the
moment a node is put back): every node Ready with a heartbeat after the fault, the faulted container
running and healthy (its compose healthcheck passed by a check that started after the fault: Docker keeps
a container's last health status across a restart, so a killed proxy read "healthy" 0.1 s after its kill),
and the API taking a write:
  - kill -9 (from the host, by the container's pid: Docker restarts it, unless-stopped) of etcd,
    the apiserver, scheduler, controller manager, DNS, a node's kubelet or a node's proxy
  - a node container stopped (`docker stop`) and started again 10, 30 or 90 s later (90: the controller
    manager has evicted its pods meanwhile, and the returning kubelet must remove their containers)
  - a node cut off the lab network (`docker network disconnect`) and put back (its aliases, no --ip:
    whatever address Docker gives, the old one when it is still free) 10, 30 or 90 s later; when the
    address changed, the node's kubelet must report the new one (recovery of a node's fault waits for
    its Node's InternalIP to be its container's address). Never `connect --ip`: it pins the address in
    the container's configuration, and once the node is stopped a pod may take it, after which every
    start of the node fails (exit 128, "Address already in use"; seen in the run of 2026-12-04 03:11 UTC:
    node3 put back with --ip at 440 s, stopped at 534 s, never started again)

Then, with the writes stopped: every acknowledged write is in etcd (read back through the API), every
ReplicaSet has its pods Running, and each pod container on the engine belongs to a pod, which has no
second one (lab/audit.py), and each node reports its container's address on the lab network (the
Node's InternalIP, the hostIP of its pods). Prints figures; asserts nothing. Targets: 0 acknowledged writes lost,
0 orphaned/duplicate containers, every fault recovered within 30 s.

    python -m bench.soak [--minutes 10] [--rate 20] [--seed 1] [--keep-lab]

Runs on the shared compose lab: under `flock /work/lab.lock` where several people share the machine.
Uses the running lab if there is one, else brings one up (and removes it afterwards unless --keep-lab).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from kubelab import config as kubeconfig
from kubelab import errors
from kubelab.client import Client, new_object
from lab import audit
from lab import compose as lab
from tests.harness.cluster import ensure_namespace
from tests.harness.manifests import deployment_manifest

from .common import pct

NAMESPACE = "soak"
IMAGES = ("kubelab/hello:v1", "kubelab/hello:v2")
ABSENT = "absent"
VALUE = "soak.kubelab.io/value"
RECOVERY_TARGET = 30.0
# The share of operations on Deployments. At 0.12 (2.4/s, each Deployment living ~30 s) the kubelets fell behind on
# this 2-core machine (116 pods Terminating after 4 min, load average 60, healthchecks timing out); at 0.04 the
# pod churn is what three Docker nodes here keep up with, and the rest are writes of plain objects.
DEPLOYMENT_SHARE = 0.04
OP_TIMEOUT = 60.0               # seconds a client waits for one operation, its own retries included
NODES = ("node1", "node2", "node3")
KILLABLE = ("etcd", "apiserver", "scheduler", "controller-manager", "dns") + NODES + ("proxy1", "proxy2", "proxy3")


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- the ledger of acknowledged writes
@dataclass
class Entry:
    """What one object may hold at the end: exactly `ok` after an acknowledged write; after a failed one,
    the state before it or the one attempted (then it takes no more writes: its outcome is unknown)."""
    kind: str
    ok: set[Any]
    uncertain: bool = False
    busy: bool = False


@dataclass
class Stats:
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latency: list[float] = field(default_factory=list)
    skipped: int = 0
    error_times: list[tuple[float, str]] = field(default_factory=list)


class Workload:
    def __init__(self, client: Client, rng: random.Random, max_deployments: int) -> None:
        self.c = client
        self.rng = rng
        self.max_deployments = max_deployments
        self.ledger: dict[tuple[str, str], Entry] = {}
        self.stats = Stats()
        self.serial = 0
        self.t0 = time.monotonic()

    def _live(self, kind: str) -> list[str]:
        return [n for (k, n), e in self.ledger.items()
                if k == kind and not e.uncertain and not e.busy and e.ok != {ABSENT}]

    def _name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial:05d}"

    def pick(self) -> tuple[str, str, str, Any] | None:
        """(op, kind, name, the state it writes) for the next operation."""
        r = self.rng.random()
        if r < DEPLOYMENT_SHARE:                # Deployments: create, scale, image update, delete
            unsure = [n for (k, n), e in self.ledger.items() if k == "Deployment" and e.uncertain and not e.busy
                      and e.ok != {ABSENT}]
            if unsure:
                return "retire", "Deployment", unsure[0], ABSENT
            live = self._live("Deployment")
            count = sum(1 for (k, _), e in self.ledger.items() if k == "Deployment" and e.ok != {ABSENT})
            if count < self.max_deployments and (not live or self.rng.random() < 0.25):
                return "create", "Deployment", self._name("d"), (self.rng.randint(1, 3), IMAGES[0])
            if not live:
                return None
            name = self.rng.choice(live)
            replicas, image = next(iter(self.ledger[("Deployment", name)].ok))
            x = self.rng.random()
            if x < 0.5:
                return "scale", "Deployment", name, (self.rng.choice([n for n in range(4) if n != replicas]), image)
            if x < 0.85:
                return "image", "Deployment", name, (replicas, IMAGES[1] if image == IMAGES[0] else IMAGES[0])
            return "delete", "Deployment", name, ABSENT
        live = self._live("Role")
        if len(live) < 150 and (not live or self.rng.random() < 0.4):
            return "create", "Role", self._name("role"), f"v{self.serial}"
        name = self.rng.choice(live)
        if self.rng.random() < 0.7:
            self.serial += 1
            return "update", "Role", name, f"v{self.serial}"
        return "delete", "Role", name, ABSENT

    async def one(self) -> None:
        chosen = self.pick()
        if chosen is None:
            self.stats.skipped += 1
            return
        op, kind, name, state = chosen
        entry = self.ledger.setdefault((kind, name), Entry(kind, {ABSENT}))
        entry.busy = True
        label = f"{kind} {op}"
        t = time.perf_counter()
        try:
            await asyncio.wait_for(self._write(op, kind, name, state), OP_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - whatever a client sees is an error it saw (a timeout too)
            reason = getattr(e, "reason", "") or type(e).__name__
            self.stats.errors[f"{label}: {reason}"] += 1
            self.stats.error_times.append((time.monotonic() - self.t0, f"{label}: {reason}"))
            entry.ok.add(state)
            entry.uncertain = True
        else:
            entry.ok = {state}
            entry.uncertain = entry.uncertain and op != "retire"
            self.stats.latency.append(time.perf_counter() - t)
        finally:
            entry.busy = False
            self.stats.ops[label] += 1

    async def _write(self, op: str, kind: str, name: str, state: Any) -> None:
        c = self.c
        if kind == "Role":
            if op == "create":
                role = new_object("Role", name, NAMESPACE)
                role.metadata.annotations[VALUE] = state
                rule = role.rules.add()
                rule.api_groups.append("")
                rule.resources.append("pods")
                rule.verbs.append("get")
                await c.create(role)
            elif op == "update":
                await c.patch("Role", name, {"metadata": {"annotations": {VALUE: state}}}, NAMESPACE,
                              patch_type="merge")
            else:
                await c.delete("Role", name, NAMESPACE)
            return
        if op == "create":
            d = deployment_manifest(name, NAMESPACE, state[0], state[1], 1, 0)
            d.spec.template.spec.termination_grace_period_seconds = 1
            d.spec.template.spec.containers[0].name = "hello"
            await c.create(d)
        elif op == "scale":
            await c.patch("Deployment", name, {"spec": {"replicas": state[0]}}, NAMESPACE, patch_type="merge")
        elif op == "image":
            await c.patch("Deployment", name, {"spec": {"template": {"spec": {"containers": [
                {"name": "hello", "image": state[1]}]}}}}, NAMESPACE)
        elif op == "retire":
            try:
                await c.delete("Deployment", name, NAMESPACE, propagation_policy="Background")
            except errors.NotFound:
                pass
        else:
            await c.delete("Deployment", name, NAMESPACE, propagation_policy="Background")

    async def run(self, seconds: float, rate: float, stop: asyncio.Event) -> float:
        """Start an operation every 1/rate s until `seconds` pass; returns the seconds it took."""
        t0 = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        i = 0
        while time.monotonic() - t0 < seconds and not stop.is_set():
            i += 1
            if len(tasks) < 400:
                task = asyncio.create_task(self.one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                self.stats.skipped += 1
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        await asyncio.gather(*tasks, return_exceptions=True)
        return time.monotonic() - t0


# ---------------------------------------------------------------- faults
@dataclass
class Fault:
    kind: str            # kill, stop, disconnect
    target: str          # the compose service
    at: float            # seconds into the run
    hold: float = 0.0
    recovered: float | None = None      # seconds from the kill / the put-back to recovered
    note: str = ""


def container(service: str) -> str:
    return f"kubelab-{service}"


def pid_of(service: str) -> int:
    r = docker("inspect", "-f", "{{.State.Pid}}", container(service))
    return int(r.stdout.strip() or 0)


def healthy(service: str, since_wall: float) -> bool:
    """Running, and (with a healthcheck) healthy with a passing check that started after `since_wall`."""
    r = docker("inspect", "-f", "{{json .State}}", container(service))
    try:
        state = json.loads(r.stdout or "{}")
    except ValueError:
        return False
    if not state.get("Running"):
        return False
    health = state.get("Health")
    if not health:
        return True
    passed = [x["Start"] for x in health.get("Log") or [] if x.get("ExitCode") == 0]
    return health.get("Status") == "healthy" and bool(passed) and _wall(passed[-1]) >= since_wall


def _wall(stamp: str) -> float:
    """Docker's RFC 3339 time (nanoseconds, Z) as seconds since the epoch."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    try:
        t = dt.datetime.strptime(head[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:
        return 0.0
    return t + float("0." + (frac[:6] or "0"))


def address_of(service: str) -> str:
    """The container's address on the lab network ("" when it is off it)."""
    r = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container(service))
    try:
        return str((json.loads(r.stdout or "{}").get(lab.NETWORK) or {}).get("IPAddress") or "")
    except ValueError:
        return ""


def internal_ip(node: Any) -> str:
    return next((a.address for a in node.status.addresses if a.type == "InternalIP"), "")


def choose_fault(rng: random.Random, minute: int) -> Fault:
    kind = rng.choice(["kill", "kill", "stop", "disconnect"])
    target = rng.choice(KILLABLE if kind == "kill" else NODES)
    hold = 0.0 if kind == "kill" else float(rng.choice([10, 30, 90]))   # 90 s: its pods are evicted
    return Fault(kind, target, 0.0, hold)


async def inject(f: Fault) -> float:
    """Do the fault; returns the monotonic time recovery is counted from."""
    name = container(f.target)
    if f.kind == "kill":
        pid = pid_of(f.target)
        if pid:
            os.kill(pid, 9)
        else:
            f.note = "not running"
        return time.monotonic()
    if f.kind == "stop":
        await asyncio.to_thread(docker, "stop", "-t", "2", name)
        await asyncio.sleep(f.hold)
        await asyncio.to_thread(docker, "start", name)
        return time.monotonic()
    raw = json.loads(docker("inspect", name).stdout)[0]
    net = raw["NetworkSettings"]["Networks"][lab.NETWORK]
    aliases = [a for a in (net.get("Aliases") or []) if a != raw["Id"][:12]]
    await asyncio.to_thread(docker, "network", "disconnect", lab.NETWORK, name)
    await asyncio.sleep(f.hold)
    plain = ["network", "connect"] + [x for a in aliases for x in ("--alias", a)]
    holder = address_holder(net["IPAddress"])
    r = await asyncio.to_thread(docker, *plain, lab.NETWORK, name)
    now = address_of(f.target)
    if now != net["IPAddress"]:
        taken = f", taken meanwhile by {holder}" if holder else ""
        f.note = f"back as {now or '-'} (was {net['IPAddress']}{taken})"
    if r.returncode != 0:
        f.note += f"; reconnect failed: {r.stderr.strip()[:200]}"
    pinned = (json.loads(docker("inspect", name).stdout)[0]["NetworkSettings"]["Networks"]
              .get(lab.NETWORK, {}).get("IPAMConfig") or {}).get("IPv4Address", "")
    if pinned:          # not by this connect: left by an earlier `connect --ip` (every later start may fail)
        f.note += f"; address {pinned} pinned"
    return time.monotonic()


def address_holder(ip: str) -> str:
    """The container on the lab network that holds `ip` now ("" if none)."""
    held = json.loads(docker("network", "inspect", lab.NETWORK, "-f", "{{json .Containers}}").stdout or "{}")
    return next((c.get("Name", "") for c in (held or {}).values()
                 if c.get("IPv4Address", "").split("/")[0] == ip), "")


def _heartbeat(node: Any) -> float:
    for c in node.status.conditions:
        if c.type == "Ready" and c.status == "True" and c.last_heartbeat_time:
            try:
                return dt.datetime.strptime(c.last_heartbeat_time[:19], "%Y-%m-%dT%H:%M:%S").replace(
                    tzinfo=dt.timezone.utc).timestamp()
            except ValueError:
                return 0.0
    return 0.0


async def recovered(client: Client, f: Fault, since_wall: float, probe: int) -> str:
    """The faulted container healthy, the API writing, every node Ready with a heartbeat after the fault
    (when the fault was the node's, or the apiserver's or etcd's; otherwise one of the last 20 s).
    "" when recovered, else what is still missing."""
    if not await asyncio.to_thread(healthy, f.target, since_wall):
        return "container not running/healthy"
    if f.target not in NODES + ("apiserver", "etcd"):
        since_wall = time.time() - 20
    try:
        nodes, _ = await asyncio.wait_for(client.list("Node"), 5)
        if sum(1 for n in nodes if _heartbeat(n) >= since_wall - 1) < len(NODES):
            return "a node without a fresh heartbeat"
        if f.target in NODES:
            reported = next((internal_ip(n) for n in nodes if n.metadata.name == f.target), "")
            if reported != await asyncio.to_thread(address_of, f.target):
                return "the node reporting an address its container does not have"
        probe_obj = new_object("ServiceAccount", f"probe-{probe}", NAMESPACE)
        await asyncio.wait_for(client.create(probe_obj), 5)
        await asyncio.wait_for(client.delete("ServiceAccount", probe_obj.metadata.name, NAMESPACE), 5)
    except (errors.ApiError, asyncio.TimeoutError) as e:
        return f"API: {getattr(e, 'reason', '') or type(e).__name__}"
    return ""


async def fault_loop(client: Client, rng: random.Random, minutes: int, t0: float, faults: list[Fault]) -> None:
    for minute in range(minutes):
        await asyncio.sleep(max(0.0, t0 + minute * 60 + 20 - time.monotonic()))    # 20 s into each minute
        f = choose_fault(rng, minute)
        f.at = time.monotonic() - t0
        wall = time.time()
        print(f"  [{f.at:5.0f}s] fault: {f.kind} {f.target}" + (f" for {f.hold:.0f}s" if f.hold else ""), flush=True)
        start = await inject(f)
        wall_from = wall + (start - (t0 + f.at))
        probe = 0
        waits: Counter[str] = Counter()
        while time.monotonic() - start < 120:
            probe += 1
            missing = await recovered(client, f, wall_from, minute * 1000 + probe)
            if not missing:
                f.recovered = time.monotonic() - start
                break
            waits[missing] += 1
            await asyncio.sleep(0.5)
        if waits:
            f.note = (f.note + "; " if f.note else "") + "waited on: " + ", ".join(f"{k} ×{v}" for k, v in waits.items())
        faults.append(f)
        print(f"  [{time.monotonic() - t0:5.0f}s]   recovered in "
              + (f"{f.recovered:.1f}s" if f.recovered is not None else "NOT within 120s") +
              (f" ({f.note})" if f.note else ""), flush=True)


# ---------------------------------------------------------------- the consistency check
async def lost_writes(client: Client, ledger: dict[tuple[str, str], Entry]) -> tuple[int, int, list[str]]:
    """(objects checked, acknowledged writes not there, what is wrong)."""
    found: dict[tuple[str, str], Any] = {}
    for role in (await client.list("Role", NAMESPACE))[0]:
        if not role.metadata.deletion_timestamp:
            found[("Role", role.metadata.name)] = role.metadata.annotations.get(VALUE, "")
    for d in (await client.list("Deployment", NAMESPACE))[0]:
        if not d.metadata.deletion_timestamp:
            found[("Deployment", d.metadata.name)] = (d.spec.replicas, d.spec.template.spec.containers[0].image)
    bad = []
    for key, e in ledger.items():
        have = found.get(key, ABSENT)
        if have not in e.ok:
            bad.append(f"{key[0]} {key[1]}: has {have}, acknowledged {sorted(map(str, e.ok))}")
    return len(ledger), len(bad), bad


async def replicaset_problems(client: Client) -> list[str]:
    """ReplicaSets without their pods Running, or left after their Deployment."""
    deployments = {d.metadata.uid for d in (await client.list("Deployment", NAMESPACE))[0]
                   if not d.metadata.deletion_timestamp}
    pods = [p for p in (await client.list("Pod", NAMESPACE))[0] if not p.metadata.deletion_timestamp]
    out = []
    for rs in (await client.list("ReplicaSet", NAMESPACE))[0]:
        if rs.metadata.deletion_timestamp:
            continue
        owners = [o.uid for o in rs.metadata.owner_references]
        if owners and not any(o in deployments for o in owners):
            out.append(f"ReplicaSet {rs.metadata.name}: its Deployment is gone")
            continue
        mine = [p for p in pods if any(o.uid == rs.metadata.uid for o in p.metadata.owner_references)]
        running = [p for p in mine if p.status.phase == "Running"]
        if len(mine) != rs.spec.replicas or len(running) != rs.spec.replicas:
            out.append(f"ReplicaSet {rs.metadata.name}: wants {rs.spec.replicas}, has {len(mine)} pods "
                       f"({len(running)} Running)")
    return out


async def container_problems(client: Client) -> list[str]:
    pods, _ = await client.list("Pod", "")
    views = [audit.PodView(p.metadata.uid, p.metadata.namespace, p.metadata.name, p.spec.node_name,
                           p.status.phase, tuple(c.name for c in p.spec.containers),
                           bool(p.metadata.deletion_timestamp)) for p in pods]
    return audit.problems(views, await asyncio.to_thread(audit.pod_containers))


async def address_problems(client: Client) -> list[str]:
    """Nodes whose InternalIP, or pods whose hostIP, is not the node container's address on the lab network."""
    addresses = {n: await asyncio.to_thread(address_of, n) for n in NODES}
    out = [f"Node {n.metadata.name}: InternalIP {internal_ip(n)}, its container has {addresses[n.metadata.name]}"
           for n in (await client.list("Node"))[0]
           if n.metadata.name in addresses and internal_ip(n) != addresses[n.metadata.name]]
    for p in (await client.list("Pod", ""))[0]:
        want = addresses.get(p.spec.node_name)
        if want and p.status.host_ip and p.status.host_ip != want and not p.metadata.deletion_timestamp:
            out.append(f"Pod {p.metadata.namespace}/{p.metadata.name} on {p.spec.node_name}: hostIP "
                       f"{p.status.host_ip}, the node's address is {want}")
    return out


async def converge(what: str, check: Callable[[], Awaitable[list[str]]], timeout: float) -> tuple[float, list[str]]:
    """Seconds until `check` finds nothing wrong (or the timeout), and what it found last."""
    t0 = time.monotonic()
    last: list[str] = []
    while time.monotonic() - t0 < timeout:
        try:
            last = await check()
        except (errors.ApiError, asyncio.TimeoutError) as e:
            last = [f"{what}: {e}"]
        if not last:
            break
        await asyncio.sleep(2)
    return time.monotonic() - t0, last


# ---------------------------------------------------------------- the run
def load_average() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


async def soak(args: argparse.Namespace) -> None:
    conn = kubeconfig.connection(context_name=lab.CONTEXT)
    rng = random.Random(args.seed)
    async with Client(conn.server, conn.token) as client, Client(conn.server, conn.token, retries=0) as prober:
        await ensure_namespace(client, NAMESPACE)
        work = Workload(client, rng, args.deployments)
        faults: list[Fault] = []
        stop = asyncio.Event()
        print(f"soak: {args.minutes} min at {args.rate:g} ops/s, one fault a minute (seed {args.seed}); "
              f"{os.cpu_count()} CPUs, load average {load_average()} at the start, "
              f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC", flush=True)
        t0 = time.monotonic()
        fault_task = asyncio.create_task(fault_loop(prober, random.Random(args.seed + 1), args.minutes, t0, faults))
        took = await work.run(args.minutes * 60, args.rate, stop)
        await fault_task
        load_end = load_average()

        print("\nwrites stopped; waiting for the lab to converge", flush=True)
        for attempt in range(30):          # the API may still be coming back from the last fault
            try:
                checked, lost, lost_list = await lost_writes(client, work.ledger)
                break
            except errors.ApiError:
                if attempt == 29:
                    raise
                await asyncio.sleep(2)
        rs_s, rs_left = await converge("replicasets", lambda: replicaset_problems(client), args.settle)
        ct_s, ct_left = await converge("containers", lambda: container_problems(client), args.settle)
        ad_s, ad_left = await converge("addresses", lambda: address_problems(client), args.settle)

    st = work.stats
    total = sum(st.ops.values())
    errs = sum(st.errors.values())
    print(f"\n=== soak figures ({args.minutes} min, load average {load_end} at the end) ===")
    print(f"operations: {total} in {took:.0f} s = {total / took:.1f}/s (target rate {args.rate:g}/s; "
          f"{st.skipped} not started)")
    for k, v in sorted(st.ops.items()):
        print(f"  {k:22s} {v:6d}")
    print(f"acknowledged: {len(st.latency)}; latency p50 {pct(st.latency, 50) * 1000:.0f} ms, "
          f"p99 {pct(st.latency, 99) * 1000:.0f} ms, max {max(st.latency, default=0) * 1000:.0f} ms")
    print(f"errors clients saw: {errs} ({100 * errs / max(1, total):.2f} %)")
    for k, v in st.errors.most_common():
        print(f"  {k:40s} {v:5d}")
    print("faults (recovery: from the kill, or from the put-back, to every node heartbeating, the container "
          "healthy and the API writing):")
    for f in faults:
        rec = f"{f.recovered:5.1f} s" if f.recovered is not None else "NOT recovered"
        near = sum(1 for t, _ in st.error_times if f.at <= t <= f.at + f.hold + (f.recovered or 120) + 5)
        print(f"  {f.at:5.0f}s  {f.kind:10s} {f.target:18s} hold {f.hold:4.0f}s  recovered {rec}   "
              f"errors meanwhile {near}{'  ' + f.note if f.note else ''}")
    recs = [f.recovered for f in faults if f.recovered is not None]
    slow = [f for f in faults if f.recovered is None or f.recovered > RECOVERY_TARGET]
    print(f"  recovery: max {max(recs, default=0):.1f} s, median {pct(recs, 50):.1f} s; "
          f"over {RECOVERY_TARGET:.0f} s: {len(slow)} (target 0: {'met' if not slow else 'NOT met'})")
    print(f"acknowledged writes lost: {lost} of {checked} objects checked (target 0: "
          f"{'met' if not lost else 'NOT met'})")
    for line in lost_list[:20]:
        print(f"  {line}")
    print(f"ReplicaSets with their pods: {'yes' if not rs_left else 'NO'} after {rs_s:.0f} s")
    for line in rs_left[:20]:
        print(f"  {line}")
    orphans = [x for x in ct_left if x.startswith(("orphan", "duplicate"))]
    print(f"pod containers in order: {'yes' if not ct_left else 'NO'} after {ct_s:.0f} s; "
          f"orphaned/duplicate: {len(orphans)} (target 0: {'met' if not orphans else 'NOT met'})")
    for line in ct_left[:20]:
        print(f"  {line}")
    print(f"nodes reporting their containers' addresses (InternalIP, pods' hostIP): "
          f"{'yes' if not ad_left else 'NO'} after {ad_s:.0f} s")
    for line in ad_left[:20]:
        print(f"  {line}")


def lab_running() -> bool:
    r = docker("inspect", "-f", "{{.State.Running}}", container("apiserver"))
    return r.stdout.strip() == "true"


def cleanup() -> None:
    subprocess.run([sys.executable, "-m", "kubectl", "delete", "namespace", NAMESPACE, "--wait=false"],
                   capture_output=True, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--rate", type=float, default=20.0, help="operations per second")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deployments", type=int, default=4, help="most Deployments at once")
    ap.add_argument("--settle", type=float, default=300.0, help="seconds the lab has to converge at the end")
    ap.add_argument("--keep-lab", action="store_true", help="leave a lab this run brought up")
    args = ap.parse_args()
    started = False
    if not lab_running():
        t = time.perf_counter()
        lab.up(quiet=True)
        started = True
        print(f"lab up in {time.perf_counter() - t:.0f} s")
    try:
        asyncio.run(soak(args))
    finally:
        if started and not args.keep_lab:
            lab.down(quiet=True)
        else:
            cleanup()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
