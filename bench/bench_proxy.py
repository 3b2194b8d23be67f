"""Requests/s, latency and bulk throughput through the node proxy vs straight to the backend, in one run.

    python -m bench.bench_proxy                 # local: etcd + apiserver + kubelab-proxy on loopback
    python -m bench.bench_proxy --lab           # the compose lab (up already): pod → ClusterIP → pod,
                                                # next to pod → pod IP, and host → NodePort next to host → pod

Both ends are the same small Python programs (SERVER, CLIENT below: an
HTTP/1.1 server answering "ok" or a bulk body, and a client measuring
new-connection requests, keep-alive requests and one bulk transfer), run
as processes on loopback or inside pods (image kubelab/kubelab). Each
figure is measured direct and proxied in the same round, several rounds,
medians; the ratio proxied/direct is what to read. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import CpuMeter

SERVER = r'''
import asyncio, sys
BULK = b"x" * (1 << 20)
async def handle(r, w):
    try:
        while True:
            line = await r.readline()
            if not line:
                break
            close = False
            while True:
                h = await r.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                if h.lower().startswith(b"connection: close"):
                    close = True
            if line.split()[1] == b"/bulk":
                n = 256
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (n * len(BULK)))
                for _ in range(n):
                    w.write(BULK)
                    await w.drain()
            else:
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await w.drain()
            if close:
                break
    except (ConnectionError, IndexError):
        pass
    finally:
        w.close()
async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    srv = await asyncio.start_server(handle, host, port, backlog=1024)
    print("listening", flush=True)
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
'''

CLIENT = r'''
import asyncio, json, sys, time
host, port, mode, n, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
async def content_length(r):
    length = 0
    while True:
        h = await r.readline()
        if h in (b"\r\n", b"\n", b""):
            return length
        if h.lower().startswith(b"content-length:"):
            length = int(h.split(b":")[1])
async def response(r):
    return await r.readexactly(await content_length(r))
async def one_conn(lat):
    t = time.perf_counter()
    r, w = await asyncio.open_connection(host, port)
    w.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await r.readline()
    await response(r)
    w.close()
    lat.append((time.perf_counter() - t) * 1000)
async def conns():
    lat, it = [], iter(range(n))
    async def worker():
        for _ in it:
            await one_conn(lat)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return time.perf_counter() - t0, lat
async def keepalive():
    lat = []
    async def worker(k):
        r, w = await asyncio.open_connection(host, port)
        for _ in range(k):
            t = time.perf_counter()
            w.write(REQ)
            await r.readline()
            await response(r)
            lat.append((time.perf_counter() - t) * 1000)
        w.close()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    return time.perf_counter() - t0, lat
async def bulk():
    r, w = await asyncio.open_connection(host, port)
    t0 = time.perf_counter()
    w.write(b"GET /bulk HTTP/1.1\r\nHost: x\r\n\r\n")
    await r.readline()
    length = await content_length(r)
    got = 0
    while got < length:     # chunks, discarded: the client must not be what is measured
        chunk = await r.read(1 << 18)
        if not chunk:
            break
        got += len(chunk)
    w.close()
    return time.perf_counter() - t0, [got]
secs, vals = asyncio.run({"conn": conns, "keepalive": keepalive, "bulk": bulk}[mode]())
s = sorted(vals)
p = lambda q: s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]
print(json.dumps({"seconds": secs, "count": len(vals), "p50": p(50), "p99": p(99), "bytes": sum(vals)}))
'''

# (mode, requests, concurrency, label)
CASES = [("conn", 1000, 8, "new connection per request, 8 at once"),
         ("keepalive", 2000, 1, "keep-alive, 1 connection"),
         ("keepalive", 4000, 16, "keep-alive, 16 connections"),
         ("bulk", 1, 1, "bulk 256 MiB, 1 connection")]


def figure(mode: str, r: dict[str, Any]) -> float:
    """The headline number of a case: requests/s, or MB/s for bulk."""
    if mode == "bulk":
        return r["bytes"] / r["seconds"] / 1e6
    return r["count"] / r["seconds"]


def report(results: dict[tuple[str, str], list[dict[str, Any]]], targets: list[str]) -> None:
    base = targets[0]
    for mode, n, conc, label in CASES:
        key = f"{mode}/{n}/{conc}"
        print(f"\n{label}:")
        base_fig = statistics.median(figure(mode, r) for r in results[(key, base)])
        for t in targets:
            runs = results[(key, t)]
            fig = statistics.median(figure(mode, r) for r in runs)
            unit = "MB/s" if mode == "bulk" else "req/s"
            line = f"  {t:<28} {fig:10.0f} {unit}  ({fig / base_fig:5.0%} of {base})"
            if mode != "bulk":
                line += (f"   latency p50 {statistics.median(r['p50'] for r in runs):.2f} ms"
                         f"  p99 {statistics.median(r['p99'] for r in runs):.2f} ms")
            print(line)


def run_rounds(run_client: Any, targets: dict[str, tuple[str, int]], rounds: int,
               meter_pids: dict[str, int] | None = None) -> dict[tuple[str, str], list[dict[str, Any]]]:
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rnd in range(rounds):
        for mode, n, conc, _ in CASES:
            for name, (host, port) in targets.items():      # direct and proxied in the same round
                meter = CpuMeter(meter_pids) if meter_pids else None
                r = run_client(host, port, mode, n, conc)
                if meter is not None:
                    r["cpu"] = meter.used()
                results.setdefault((f"{mode}/{n}/{conc}", name), []).append(r)
        print(f"round {rnd + 1}/{rounds} done", file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------- local
def local(args: argparse.Namespace) -> None:
    from tests.harness.cluster import kill, spawn
    from lab import local as launcher
    from kubelab.client import Client
    from kubelab.v1 import objects_pb2 as pb

    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    os.environ["KUBELAB_CONFIG"] = str(tmp / "kubeconfig")
    info = asyncio.run(launcher.up_local(state_dir=tmp / "state", components=(), write_kubeconfig=False,
                                         extra_args={"apiserver": ["--service-cluster-ip-range", "127.96.0.0/16"]}))
    info["state_path"] = tmp / "state"
    backend_port = launcher.free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, "127.0.0.2", str(backend_port)], stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdout.readline().strip() == b"listening"
    proxy = spawn(info, "proxy.main", ["--node-name", "bench", "--bind-address", "127.0.0.1",
                                       "--service-cluster-ip-range", "127.96.0.0/16", "--no-exit-on-lost-network"],
                  "proxy")
    try:
        async def setup() -> str:
            async with Client(info["server"], info["token"]) as c:
                svc = pb.Service(api_version="v1", kind="Service")
                svc.metadata.name, svc.metadata.namespace = "bench", "default"
                p = svc.spec.ports.add(name="http", port=8080, protocol="TCP")
                p.target_port.number_value = backend_port
                svc = await c.create(svc)
                ep = pb.Endpoints(api_version="v1", kind="Endpoints")
                ep.metadata.name, ep.metadata.namespace = "bench", "default"
                sub = ep.subsets.add()
                sub.addresses.add(ip="127.0.0.2")
                sub.ports.add(name="http", port=backend_port, protocol="TCP")
                await c.create(ep)
                return str(svc.spec.cluster_ip)
        cluster_ip = asyncio.run(setup())
        deadline = time.monotonic() + 20
        while True:
            try:
                run_local_client(cluster_ip, 8080, "keepalive", 1, 1)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        targets = {"direct 127.0.0.2": ("127.0.0.2", backend_port), f"proxy {cluster_ip}": (cluster_ip, 8080)}
        print(f"local: client, proxy (pid {proxy.pid}) and backend share this machine's {os.cpu_count()} cores")
        results = run_rounds(run_local_client, targets, args.rounds, {"proxy": proxy.pid})
        report(results, list(targets))
        cpu = [r["cpu"]["proxy"] for r in results[("bulk/1/1", f"proxy {cluster_ip}")]]
        print(f"\nproxy CPU per GB forwarded (bulk): {statistics.median(cpu) / (256 * 2**20) * 1e9:.2f} s")
    finally:
        kill(proxy, 15)
        server.terminate()
        launcher.down_local(tmp / "state", remove_context=False)


def run_local_client(host: str, port: int, mode: str, n: int, conc: int) -> dict[str, Any]:
    p = subprocess.run([sys.executable, "-c", CLIENT, host, str(port), mode, str(n), str(conc)],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip()[-500:])
    return dict(json.loads(p.stdout))


# ---------------------------------------------------------------- lab
NS = "bench-proxy"


def kubectl(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run([sys.executable, "-m", "kubectl", "-n", NS, *args], capture_output=True, text=True,
                       input=input, timeout=300)
    if check and p.returncode != 0:
        raise RuntimeError(f"kubelab {' '.join(args[:3])}: {p.stderr.strip()}")
    return p


def lab(args: argparse.Namespace) -> None:
    manifest = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {NS}, labels: {{app: bench-server}}}}
spec:
  nodeName: node1
  containers:
  - name: server
    image: kubelab/kubelab:latest
    command: ["python3", "-c", {json.dumps(SERVER)}, "0.0.0.0", "8080"]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {NS}}}
spec:
  nodeName: node2
  containers:
  - name: client
    image: kubelab/kubelab:latest
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: {NS}}}
spec:
  type: NodePort
  selector: {{app: bench-server}}
  ports: [{{port: 8080, targetPort: 8080}}]
"""
    subprocess.run([sys.executable, "-m", "kubectl", "apply", "-f", "-"], input=manifest, text=True, check=True,
                   capture_output=True)
    try:
        subprocess.run([sys.executable, "-m", "kubectl", "-n", NS, "wait", "--for=condition=Ready", "pod/server",
                        "pod/client", "--timeout=120s"], check=True, capture_output=True)
        pod_ip = json.loads(kubectl("get", "pod", "server", "-o", "json").stdout)["status"]["podIP"]
        svc = json.loads(kubectl("get", "service", "server", "-o", "json").stdout)
        cluster_ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
        nodes = json.loads(subprocess.run([sys.executable, "-m", "kubectl", "get", "nodes", "-o", "json"],
                                          capture_output=True, text=True, check=True).stdout)["items"]
        node2_ip = next(a["address"] for n in nodes if n["metadata"]["name"] == "node2"
                        for a in n["status"]["addresses"] if a["type"] == "InternalIP")

        def in_pod(host: str, port: int, mode: str, n: int, conc: int) -> dict[str, Any]:
            p = kubectl("exec", "client", "--", "python3", "-c", CLIENT, host, str(port), mode, str(n), str(conc))
            return dict(json.loads(p.stdout.strip().splitlines()[-1]))

        deadline = time.monotonic() + 30
        while True:
            try:
                in_pod(cluster_ip, 8080, "keepalive", 1, 1)
                break
            except (RuntimeError, ValueError, IndexError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        print("lab: client pod on node2 → server pod on node1; the ClusterIP goes through node2's proxy")
        targets = {f"pod → pod {pod_ip}": (pod_ip, 8080), f"pod → ClusterIP {cluster_ip}": (cluster_ip, 8080)}
        report(run_rounds(in_pod, targets, args.rounds), list(targets))
        print("\nfrom the host:")
        host_targets = {f"host → pod {pod_ip}": (pod_ip, 8080),
                        f"host → NodePort {node2_ip}:{node_port}": (node2_ip, node_port)}
        report(run_rounds(run_local_client, host_targets, args.rounds), list(host_targets))
    finally:
        subprocess.run([sys.executable, "-m", "kubectl", "delete", "namespace", NS], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lab", action="store_true", help="measure on the compose lab (must be up)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    (lab if args.lab else local)(args)


if __name__ == "__main__":
    main()
