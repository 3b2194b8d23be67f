"""Trace benchmark: `kubelab trace deployment/web` latency for a Deployment of 100 pods on hollow nodes.

Against the local launcher (etcd, apiserver, scheduler, controller manager, one hollow-node runner as
separate processes on this machine): the Deployment is created and waited for until every pod is Ready and
the apiserver's index says so (the critical path is complete), then the Trace call is timed (a full
timeline, as `kubelab trace` and `-o json` ask for it, and a `-w` follow-up with the last cursor). The
issue's target is 200 ms. Also printed: the index's size, and the steps and critical path of the trace;
where a full call's time goes: the apiserver's handler (its own /metrics), how busy the apiserver was, the
answer's size and its encoding and decoding, a Get between the traces (it waits while a trace holds the
apiserver's loop); with `--profile`, py-spy (pip install py-spy) samples the apiserver during a further
round of calls and the shares of the trace's functions and the busiest lines are printed.
A last figure, in process: the Trace handler's work over a full index (50,000 records: a 100-pod rollout's
in its namespace, the rest other pods' in another, the case of the issue's 10,000-pod run), computed
afresh and repeated.

At scale (issue 15: `--nodes 1000 --background 10000 --dashboard`): first 10,000 bare pods are created
(pipelined, as controllers write) and bound and run on the 1,000 hollow nodes, filling the index past its
bound; then the 100-pod Deployment is traced as above. With `--dashboard`, `kubelab dashboard --url` runs
against the cluster and headless chromium (Debian's chromium + chromium-driver, selenium) opens it; once
every pod's card is on the page, pods are created one at a time and the time from the create call to the
card's appearance (a MutationObserver on the page stamps it) is printed. Targets: trace <= 200 ms, card
<= 1 s.

    python -m bench.bench_trace [--replicas 100] [--nodes 20] [--calls 20]
    python -m bench.bench_trace --nodes 1000 --background 10000 --dashboard [--profile]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from kubelab.client import Client
from lab import local as launcher
from tests.harness.cluster import ensure_namespace
from tests.harness.manifests import deployment_manifest

from .bench_rollout import wait_nodes
from .common import cpu_seconds, pct, run_concurrent

NAMESPACE = "bench-trace"


def background_pod(i: int) -> Any:
    from kubelab.client import new_object
    p = new_object("Pod", f"bg-{i:05d}", "bench-background")
    p.metadata.labels["app"] = "background"
    p.spec.containers.add(name="app", image="kubelab/hello:v1").resources.requests["cpu"] = "10m"
    return p


async def background(info: dict[str, Any], n: int, timeout: float) -> str:
    """`n` pods created by pipelined clients; returns when all are Running (or says how many were)."""
    clients = [Client(info["server"], info["token"], pipeline=True) for _ in range(8)]
    try:
        await ensure_namespace(clients[0], "bench-background")
        t0 = time.perf_counter()
        took, _ = await run_concurrent(n, 64, lambda i: clients[i % 8].create(background_pod(i)))
        running = 0
        while time.perf_counter() - t0 < timeout:
            pods, _ = await clients[0].list("Pod", "bench-background")
            running = sum(1 for p in pods if p.status.phase == "Running")
            if running >= n:
                break
            await asyncio.sleep(2)
        return (f"background: {n} pods created in {took:.1f} s ({n / took:.0f}/s), {running} Running "
                f"{time.perf_counter() - t0:.1f} s after the first create")
    finally:
        for c in clients:
            await c.close()


async def bench(args: argparse.Namespace, state: Path) -> None:
    # One scheduler and one controller manager, without leader election: on a loaded machine a renewal that
    # misses its deadline ends the component (kube-scheduler's way), and no pod would be bound after it.
    info = await launcher.up_local(hollow_nodes=args.nodes, state_dir=state, write_kubeconfig=False,
                                   extra_args={"hollow-nodes": ["--heartbeat", str(args.heartbeat)],
                                               "scheduler": ["--no-leader-elect"],
                                               "controller-manager": ["--no-leader-elect"]})
    lines: list[str] = []
    try:
        async with Client(info["server"], info["token"]) as c:
            t0 = time.perf_counter()
            await wait_nodes(c, args.nodes, 300)
            lines.append(f"{args.nodes} hollow nodes Ready {time.perf_counter() - t0:.1f} s after the API answered")
            if args.background:
                lines.append(await background(info, args.background, 420))
            await ensure_namespace(c, NAMESPACE)
            await c.create(deployment_manifest("web", NAMESPACE, args.replicas, "nginx:1.15"))
            t0 = time.perf_counter()
            ready_at = 0.0
            while True:
                t = await c.trace("Deployment", "web", NAMESPACE)
                if t.critical_path.startswith("apply → all pods Ready"):
                    # The kubelets' Events (Started) are written after the Ready status, from a queue: the
                    # path's `container start ?` fills in when they arrive. Wait for them (20 s at most), so
                    # the trace timed is the whole one.
                    ready_at = ready_at or time.perf_counter()
                    waited = time.perf_counter() - ready_at
                    if " ?" not in t.critical_path or waited > 20:
                        lines.append(f"the last pod's Events in the trace {waited:.1f} s after its Ready status"
                                     if " ?" not in t.critical_path else
                                     f"the last pod's Events not in the trace {waited:.0f} s after its Ready status")
                        break
                elif ready_at:
                    lines.append("the Deployment's apply left the index while the last pod's Events were awaited")
                    break
                gone = [name for name, pid in info["pids"].items() if not alive(pid)]
                if gone:
                    print("\n".join(lines))
                    raise SystemExit(f"{', '.join(gone)} exited (logs in {state / 'logs'}): {t.critical_path[:300]}")
                if time.perf_counter() - t0 > args.ready_timeout:
                    print("\n".join(lines))
                    raise SystemExit(f"not all pods Ready in the trace within {args.ready_timeout:.0f} s: "
                                     f"{t.critical_path[:300]}")
                await asyncio.sleep(0.5)
            full, small = [], []
            before, cpu0, wall0 = await handler_seconds(info), cpu_seconds(info["pids"]["apiserver"]), time.perf_counter()
            for _ in range(args.calls):
                s = time.perf_counter()
                t = await c.trace("Deployment", "web", NAMESPACE)
                full.append(time.perf_counter() - s)
                s = time.perf_counter()
                await c.get("Namespace", NAMESPACE)
                small.append(time.perf_counter() - s)
            after, cpu1 = await handler_seconds(info), cpu_seconds(info["pids"]["apiserver"])
            parts = breakdown(t, full, small, before, after, (cpu1 - cpu0) / (time.perf_counter() - wall0))
            if args.profile:
                parts += await profile(c, info, args.calls)
            follow: list[float] = []
            for _ in range(args.calls):
                s = time.perf_counter()
                await c.trace("Deployment", "web", NAMESPACE, since=t.cursor)
                follow.append(time.perf_counter() - s)
        if args.dashboard:
            lines += await asyncio.to_thread(card_latency, info, state, args.cards,
                                             args.background + args.replicas)
    finally:
        launcher.down_local(state, remove_context=False)
    ms = lambda v: f"{v * 1000:6.1f} ms"  # noqa: E731
    load = os.getloadavg()
    print(f"trace benchmark: deployment/web with {args.replicas} pods on {args.nodes} hollow nodes"
          + (f", {args.background} other pods" if args.background else "")
          + f" ({os.cpu_count()} cores shared; load average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    for line in lines:
        print(f"  {line}")
    print(f"  index: {t.cursor} records seen; trace: {len(t.steps)} steps")
    print(f"  critical path: {t.critical_path}")
    print(f"  full trace  p50 {ms(pct(full, 50))}  p99 {ms(pct(full, 99))}  (target 200 ms)")
    print(f"  -w follow   p50 {ms(pct(follow, 50))}  p99 {ms(pct(follow, 99))}")
    for line in parts:
        print(f"  {line}")
    print_full_index(args.calls, args.replicas)


def print_full_index(calls: int, replicas: int) -> None:
    ms = lambda v: f"{v * 1000:6.1f} ms"  # noqa: E731
    fresh, repeated, steps, records = full_index_figure(calls, replicas)
    print(f"  in process, a full index ({records:,} records; a {replicas}-pod rollout's, {steps} steps, and "
          f"other namespaces'), the Trace handler's work:")
    print(f"    computed afresh p50 {ms(pct(fresh, 50))}  p99 {ms(pct(fresh, 99))};  "
          f"repeated p50 {ms(pct(repeated, 50))}  p99 {ms(pct(repeated, 99))}")


def alive(pid: int) -> bool:
    """The process runs (not exited, nor exited and not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


async def handler_seconds(info: dict[str, Any]) -> tuple[float, int]:
    """The apiserver's own account of its Trace calls so far: (seconds in the handler, calls), from /metrics."""
    import urllib.request
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(info["apiserver_metrics"], timeout=30).read())
    total, count = 0.0, 0
    for line in text.decode().splitlines():
        if line.startswith("apiserver_request_duration_seconds_") and 'verb="trace"' in line:
            if line.startswith("apiserver_request_duration_seconds_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith("apiserver_request_duration_seconds_count"):
                count += int(float(line.rsplit(" ", 1)[1]))
    return total, count


def breakdown(t: Any, full: list[float], small: list[float], before: tuple[float, int], after: tuple[float, int],
              busy: float) -> list[str]:
    """Where a full trace call's time goes: the apiserver's handler (its /metrics), how busy the apiserver was
    (its CPU over the calls' wall time, all its work: 1,000 nodes' heartbeats too), the message's size
    and what encoding and decoding it cost (in this process, the same upb protobuf as both ends), and a small
    call on the same channel between the traces (a Get, read from etcd: it waits while a trace holds the loop)."""
    from apiserver.trace import Step, Trace, trace_proto
    from kubelab import timeutil
    from kubelab.v1 import api_pb2 as api
    handler = (after[0] - before[0]) / max(1, after[1] - before[1])
    raw = t.SerializeToString()
    trace = Trace("Deployment", NAMESPACE, "web",
                  [Step(timeutil.parse(s.time) or 0.0, s.component, s.identity, s.action, s.object, s.detail,
                        s.user_agent, s.seq, s.delay_seconds) for s in t.steps], t.critical_path, list(t.notes),
                  t.cursor)

    def each(fn: Any, k: int = 20) -> float:
        s = time.perf_counter()
        for _ in range(k):
            fn()
        return (time.perf_counter() - s) / k
    build = each(lambda: trace_proto(trace))
    built = trace_proto(trace)
    encode = each(built.SerializeToString)
    decode = each(lambda: api.TraceResponse.FromString(raw))
    ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
    return [f"where a full trace's {ms(pct(full, 50))} (p50) goes:",
            f"  apiserver handler (admit, then the trace and its message; its /metrics, mean of {after[1] - before[1]}): "
            f"{ms(handler)}; the apiserver used {busy:.0%} of a core meanwhile (all its work)",
            f"  response {len(raw):,} bytes, {len(t.steps)} steps: building it {ms(build)}, encoding "
            f"{ms(encode)}, decoding {ms(decode)} (in process)",
            f"  a namespace Get between the traces, same channel: p50 {ms(pct(small, 50))}, "
            f"p99 {ms(pct(small, 99))} (a read from etcd through the same loop; a `-w` follow-up with nothing new is "
            f"the floor of a call)"]


async def profile(c: Client, info: dict[str, Any], calls: int) -> list[str]:
    """py-spy samples the apiserver (without stopping it) while `calls` full traces are made back to back;
    the share of the samples in the trace's own functions, and the busiest functions (own samples)."""
    import signal
    import subprocess
    import sys
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return ["profile: py-spy is not installed (pip install py-spy)"]
    out = Path(tempfile.mkdtemp(prefix="kubelab-trace-spy-")) / "raw.txt"
    proc = subprocess.Popen([spy, "record", "--pid", str(info["pids"]["apiserver"]), "--format", "raw",
                             "--rate", "250", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.sleep(2)
        s = time.perf_counter()
        for _ in range(calls):
            await c.trace("Deployment", "web", NAMESPACE)
        took = time.perf_counter() - s
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(proc.wait, 30)
    stacks: list[tuple[list[str], int]] = []
    for line in out.read_text().splitlines() if out.exists() else []:
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    shutil.rmtree(out.parent, ignore_errors=True)
    total = sum(n for _, n in stacks)
    if not total:
        return ["profile: py-spy recorded nothing (ptrace not allowed?)"]
    inside: dict[str, int] = {}
    own: dict[str, int] = {}
    for frames, n in stacks:
        names = {f.split(" (", 1)[0].rsplit(".", 1)[-1] for f in frames}
        for fn in ("Trace", "trace_for", "build_trace", "related", "critical_path", "trace_proto"):
            if fn in names:
                inside[fn] = inside.get(fn, 0) + n
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + n
    lines = [f"profile: py-spy, {total} samples of the apiserver's busy threads over {took:.1f} s of {calls} "
             f"traces back to back; samples inside: "
             + ", ".join(f"{fn} {n / total:.0%}" for fn, n in inside.items())]
    lines += [f"  own {n / total:5.1%}  {leaf}" for leaf, n in sorted(own.items(), key=lambda kv: -kv[1])[:12]]
    return lines


KCM = "kube-controller-manager/v0.1.0 (linux/amd64) kubelab"
SCHED = "kube-scheduler/v0.1.0 (linux/amd64) kubelab"
KUBELET = "kubelet/v0.1.0 (linux/amd64) kubelab"


def full_index(replicas: int, t0: float | None = None) -> Any:
    """A TraceIndex filled to its bound: other pods' writes, changes and Events in another namespace, then a
    Deployment's rollout of `replicas` pods in `default` as the apiserver records it (each pod's create,
    binding with the scheduler's decision, Events and their writes, status writes, Endpoints writes)."""
    from apiserver.trace import MAX_RECORDS, TraceIndex
    from kubelab.timeutil import fmt_micro as stamp
    from kubelab.v1 import objects_pb2 as pb
    t0 = time.time() - 3600 if t0 is None else t0
    clock = [t0]
    idx = TraceIndex(clock=lambda: clock[0])

    def write(t: float, verb: str, resource: str, name: str, agent: str, rv: str = "", sub: str = "",
              ns: str = "default", annotations: dict[str, str] | None = None) -> None:
        ref = {"resource": resource, "namespace": ns, "name": name, "resourceVersion": rv, "subresource": sub}
        idx.add_audit({"stage": "ResponseComplete", "verb": verb, "user": {"username": agent.split("/")[0]},
                       "userAgent": agent, "requestReceivedTimestamp": stamp(t), "responseStatus": {"code": 200},
                       "objectRef": ref, "annotations": annotations or {}})

    def meta(obj: Any, name: str, uid: str, rv: str, owner: str = "", ns: str = "default") -> Any:
        obj.metadata.name, obj.metadata.namespace, obj.metadata.uid = name, ns, uid
        obj.metadata.resource_version, obj.metadata.creation_timestamp = rv, stamp(clock[0])
        if owner:
            obj.metadata.owner_references.add(uid=owner, kind="x", name="x")
        return obj

    def event(i: int, reason: str, pod: str, uid: str, node: str) -> None:
        e = pb.Event(reason=reason, message=f"{reason} app", type="Normal", event_time=stamp(clock[0]),
                     reporting_component="kubelet", reporting_instance=node)
        e.metadata.name, e.metadata.namespace = f"{pod}.{i}", "default"
        e.involved_object.kind, e.involved_object.namespace = "Pod", "default"
        e.involved_object.name, e.involved_object.uid = pod, uid
        idx.add_object("Event", "ADDED", e)
        write(clock[0], "create", "events", e.metadata.name, KUBELET)

    own = 20 * replicas + 4
    for i in range(MAX_RECORDS - own):
        clock[0] = t0 + i / 1000
        name, uid = f"other-{i:05d}", f"uid-{i:05d}"
        if i % 3 == 0:
            write(clock[0], "update", "pods", name, KUBELET, str(i), "status", ns="other")
        elif i % 3 == 1:
            p = meta(pb.Pod(), name, uid, str(i), owner="rs-other", ns="other")
            p.status.conditions.add(type="Ready", status="True")
            idx.add_object("Pod", "MODIFIED", p)
        else:
            e = pb.Event(reason="Started", reporting_component="kubelet", event_time=stamp(clock[0]))
            e.metadata.name, e.involved_object.uid, e.involved_object.name = f"ev-{i}", uid, name
            e.metadata.namespace = e.involved_object.namespace = "other"
            idx.add_object("Event", "ADDED", e)
    rv = 100_000
    clock[0] += 1
    write(clock[0], "create", "deployments", "web", "kubectl/v1.37.0", str(rv))
    idx.add_object("Deployment", "ADDED", meta(pb.Deployment(), "web", "dep", str(rv)))
    write(clock[0], "create", "replicasets", "web-1", KCM, str(rv + 1))
    idx.add_object("ReplicaSet", "ADDED", meta(pb.ReplicaSet(), "web-1", "rs", str(rv + 1), owner="dep"))
    decision = '{"examined":1000,"feasible":1000,"node":"%s","nodes":1000,"score":87.5}'
    ep = meta(pb.Endpoints(), "web", "ep", str(rv + 2))
    ep.subsets.add()
    for i in range(replicas):
        pod, uid, node = f"web-1-{i:03d}", f"pod-{i}", f"hollow-node-{i % 1000}"
        p = meta(pb.Pod(), pod, uid, "", owner="rs")
        for step, (verb, sub, agent) in enumerate((("create", "", KCM), ("create", "binding", SCHED),
                                                   ("update", "status", KUBELET), ("update", "status", KUBELET))):
            clock[0] += 0.002
            rv += 10
            p.metadata.resource_version = str(rv)
            if sub == "binding":
                p.spec.node_name = node
            if step == 3:
                p.status.conditions.add(type="Ready", status="True")
            write(clock[0], verb, "pods", pod, agent, str(rv), sub,
                  annotations={"kubelab.io/scheduler-decision": decision % node} if sub == "binding" else None)
            idx.add_object("Pod", "ADDED" if step == 0 else "MODIFIED", p)
            if step == 1:
                for k, reason in enumerate(("Scheduled", "Pulling", "Pulled", "Created", "Started")):
                    event(k, reason, pod, uid, node)
        ep.subsets[0].addresses.add(ip=f"10.1.{i // 250}.{i % 250}", target_ref=pb.ObjectReference(kind="Pod", uid=uid))
        ep.metadata.resource_version = str(rv + 1)
        write(clock[0], "update", "endpoints", "web", KCM, str(rv + 1))
        idx.add_object("Endpoints", "MODIFIED", ep)
    clock[0] += 60                        # every change settled
    return idx


def full_index_figure(calls: int, replicas: int = 100) -> tuple[list[float], list[float], int, int]:
    """Seconds per Trace call's work in process (trace_for, then trace_proto) over `full_index`: computed afresh
    each time (the first call after the namespace changed), and as repeated calls find it; steps; records."""
    from apiserver import trace as tr
    from kubelab.v1 import objects_pb2 as pb
    idx = full_index(replicas)
    dep = pb.Deployment()
    dep.metadata.name, dep.metadata.namespace, dep.metadata.uid = "web", "default", "dep"
    cached = getattr(idx, "traces", None)

    def call() -> Any:     # what the Trace handler calls (before trace_response: trace_proto(trace_for(...)))
        if hasattr(tr, "trace_response"):
            return tr.trace_response(idx, lambda kind, ns, name: dep, "Deployment", "default", "web")
        return tr.trace_proto(tr.trace_for(idx, lambda kind, ns, name: dep, "Deployment", "default", "web"))
    fresh, repeated = [], []
    for _ in range(calls):
        if cached is not None:
            cached.clear()
        s = time.perf_counter()
        t = call()
        fresh.append(time.perf_counter() - s)
    for _ in range(calls):
        s = time.perf_counter()
        call()
        repeated.append(time.perf_counter() - s)
    return fresh, repeated, len(t.steps), len(idx.records)


CARD_OBSERVER = """
window.__cards = {};
new MutationObserver((records) => {
  const now = Date.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType !== 1) continue;
    const cards = n.matches('.pod-card') ? [n] : [...n.querySelectorAll('.pod-card')];
    for (const c of cards) if (!(c.dataset.name in window.__cards)) window.__cards[c.dataset.name] = now;
  }
}).observe(document.getElementById('board'), {childList: true, subtree: true});
"""


def card_latency(info: dict[str, Any], state: Path, n: int, existing: int) -> list[str]:
    """Seconds from a pod's create call to its card on the dashboard, in headless chromium, with every
    existing pod's card already on the page."""
    import signal
    import subprocess
    import sys

    from kubelab import config as kubeconfig
    from kubelab.client import new_object
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        return ["dashboard: chromium and chromium-driver are not installed; card latency not measured"]
    path = kubeconfig.write_kube_context(str(info["https"]), Path(info["ca_file"]).read_bytes(), info["token"],
                                         info["server"], path=state / "kube-config")
    proc = subprocess.Popen([sys.executable, "-m", "kubectl", "dashboard", "--url"],
                            env={**os.environ, "KUBECONFIG": str(path)}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        t0 = time.perf_counter()
        driver.get(url)
        count = "return document.querySelectorAll('.pod-card').length"
        while driver.execute_script(count) < existing and time.perf_counter() - t0 < 300:
            time.sleep(0.5)
        loaded = time.perf_counter() - t0
        on_page = driver.execute_script(count)
        driver.execute_script(CARD_OBSERVER)

        async def create(name: str) -> float:
            async with Client(info["server"], info["token"]) as c:
                p = new_object("Pod", name, NAMESPACE)
                p.spec.containers.add(name="app", image="kubelab/hello:v1")
                s = time.time()
                await c.create(p)
                return s
        out: list[float] = []
        for i in range(n):
            name = f"card-{i:03d}"
            started = asyncio.run(create(name))
            deadline = time.monotonic() + 30
            stamp = None
            while stamp is None and time.monotonic() < deadline:
                stamp = driver.execute_script(f"return window.__cards[{name!r}]")
                time.sleep(0.01)
            if stamp is not None:
                out.append(stamp / 1000 - started)
            time.sleep(0.2)
    finally:
        driver.quit()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    lines = [f"dashboard: the page showed {on_page} pod cards {loaded:.1f} s after it was opened"]
    if out:
        lines.append(f"dashboard: a new pod's card {len(out)} times: p50 {pct(out, 50) * 1000:.0f} ms, "
                     f"max {max(out) * 1000:.0f} ms after its create call (target 1 s)")
    else:
        lines.append("dashboard: no new pod's card appeared within 30 s")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--background", type=int, default=0, help="pods created (and run) before the Deployment")
    p.add_argument("--heartbeat", type=float, default=10.0, help="hollow node heartbeat seconds")
    p.add_argument("--dashboard", action="store_true", help="time a new pod's card on the dashboard (chromium)")
    p.add_argument("--cards", type=int, default=10, help="pods created one at a time for the card figure")
    p.add_argument("--ready-timeout", type=float, default=300.0,
                   help="seconds the Deployment's pods may take to be Ready in the trace")
    p.add_argument("--profile", action="store_true",
                   help="py-spy (if installed) samples the apiserver during a further round of calls")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="kubelab-bench-trace-")
    try:
        os.environ["KUBELAB_CONFIG"] = str(Path(tmp) / "kubeconfig")
        asyncio.run(bench(args, Path(tmp) / "state"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
