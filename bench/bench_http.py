"""The Kubernetes HTTP API's benchmark figures, run by bench/bench_api.py in the same run as the gRPC ones.

An aiohttp client over HTTPS (the lab's CA, the bearer token), as a client of the ecosystem talks to the
apiserver's `--secure-port`: creates/s and latency at 20 and 200 clients with the CPU each process spends
per create beside the gRPC unary path's; a LIST of 10,000 pods as JSON and as a Table next to the gRPC
LIST and a raw etcd range of the same keys; watch delivery to 100 HTTP watchers. HTTP/1.1 has one request
at a time per connection, so N clients are N connections (opened before the clock starts). Each figure
prints its target and whether it was met; nothing is asserted.
"""
from __future__ import annotations

import asyncio
import json
import ssl
import statistics
import time
from typing import Any

import aiohttp
from aetcd import rpc

from kubelab.client import Client, new_object

from .common import CpuMeter, RawEtcd, pct, run_concurrent

TABLE = "application/json;as=Table;g=meta.k8s.io;v=v1"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def pod_json(name: str, namespace: str, annotations: dict[str, str] | None = None) -> bytes:
    """bench_api.pod() as Kubernetes JSON: the same object, so both APIs store the same thing."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": "bench"}}
    if annotations:
        meta["annotations"] = annotations
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{
        "name": "c", "image": "kubelab/hello:v1", "ports": [{"containerPort": 8080}],
        "resources": {"requests": {"cpu": "10m"}}}]}}).encode()


class HttpApi:
    """One aiohttp session to the HTTPS API (unlimited connections: one per concurrent request)."""

    def __init__(self, info: dict[str, Any], token: str | None = None) -> None:
        ctx = ssl.create_default_context(cafile=info["ca_file"])
        self.base = info["https"]
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=ctx, limit=0),
            headers={"Authorization": f"Bearer {token or info['token']}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None))

    async def create(self, namespace: str, body: bytes) -> None:
        async with self.session.post(f"{self.base}/api/v1/namespaces/{namespace}/pods", data=body,
                                     headers={"Content-Type": "application/json"}) as r:
            text = await r.read()
            if r.status != 201:
                raise RuntimeError(f"create: HTTP {r.status}: {text[:300]!r}")

    async def get(self, path: str, accept: str = "application/json") -> bytes:
        async with self.session.get(f"{self.base}{path}", headers={"Accept": accept}) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {r.status}: {body[:300]!r}")
            return body

    async def warm(self, connections: int, namespace: str) -> None:
        """Open `connections` keep-alive connections (TLS handshakes) before anything is timed (a read that
        a user bound to `edit` in the namespace may do)."""
        await asyncio.gather(*(self.get(f"/api/v1/namespaces/{namespace}/pods?limit=1")
                               for _ in range(connections)))

    async def close(self) -> None:
        await self.session.close()


def cpu_line(label: str, per_op: dict[str, float]) -> str:
    total = sum(per_op.values())
    return f"{label} CPU per create {total * 1e6:.0f} us = " + " + ".join(
        f"{name} {sec * 1e6:.0f}" for name, sec in sorted(per_op.items(), key=lambda kv: -kv[1]))


async def bench_http_creates(info: dict[str, Any], n: int, grpc: dict[int, dict[str, Any]]) -> list[str]:
    """HTTP creates at each concurrency bench_creates measured; `grpc[conc]` holds that run's raw etcd rate
    and the gRPC unary path's CPU per create by process ("cpu")."""
    lines = []
    procs = {"apiserver": info["pids"]["apiserver"], "etcd": info["pids"]["etcd"]}
    async with Client(info["server"], info["token"]) as c:
        for conc in grpc:
            await c.create(new_object("Namespace", f"bench-h{conc}"))
    api = HttpApi(info)
    try:
        for conc, base in grpc.items():
            ns = f"bench-h{conc}"
            await api.warm(conc, ns)
            meter = CpuMeter(procs)     # the body made in the op, as the gRPC run makes its object
            took, lat = await run_concurrent(n, conc, lambda i, ns=ns: api.create(ns, pod_json(f"p{i}", ns)))
            rate, cpu = n / took, meter.per_op(n)
            lines.append(f"HTTP creates, {conc:>3} concurrent clients (HTTPS, one connection each): {rate:7.0f}/s "
                         f"p50 {pct(lat, 50):6.1f} ms p99 {pct(lat, 99):6.1f} ms | raw etcd txn "
                         f"{base['raw_rate']:7.0f}/s: HTTP/etcd {rate / base['raw_rate']:5.1%} | gRPC unary "
                         f"{base['grpc_rate']:7.0f}/s: HTTP/gRPC {rate / base['grpc_rate']:5.1%}")
            lines.append("    " + cpu_line("HTTP      ", cpu))
            lines.append("    " + cpu_line("gRPC unary", base["cpu"]))
            api_ratio = cpu["apiserver"] / base["cpu"]["apiserver"]
            all_ratio = sum(cpu.values()) / sum(base["cpu"].values())
            lines.append(f"    HTTP/gRPC CPU per create: apiserver {api_ratio:.2f}x, etcd "
                         f"{cpu['etcd'] / base['cpu']['etcd']:.2f}x, client "
                         f"{cpu['bench client'] / base['cpu']['bench client']:.2f}x, all processes "
                         f"{all_ratio:.2f}x (target <= 1.5x: apiserver {verdict(api_ratio <= 1.5)}, "
                         f"all {verdict(all_ratio <= 1.5)})")
    finally:
        await api.close()
    return lines


async def _seed(info: dict[str, Any], namespace: str, count: int) -> None:
    """`count` pods in `namespace`, fast: pipelined gRPC writes (what is timed is the reading)."""
    writers = [Client(info["server"], info["token"], pipeline=True) for _ in range(10)]
    try:
        await writers[0].create(new_object("Namespace", namespace))

        async def one(i: int) -> None:
            p = new_object("Pod", f"l{i:05d}", namespace)
            p.metadata.labels["app"] = "bench"
            ct = p.spec.containers.add(name="c", image="kubelab/hello:v1")
            ct.ports.add(container_port=8080)
            ct.resources.requests["cpu"] = "10m"
            await writers[i % len(writers)].create(p)
        await run_concurrent(count, 200, one)
    finally:
        for w in writers:
            await w.close()


async def _timed(times: int, fn: Any) -> tuple[list[float], Any]:
    took, out = [], None
    for _ in range(times):
        t = time.perf_counter()
        out = await fn()
        took.append(time.perf_counter() - t)
    return took, out


def _secs(took: list[float]) -> str:
    return f"median {statistics.median(took) * 1000:6.0f} ms (best {min(took) * 1000:.0f})"


async def bench_http_list(info: dict[str, Any], count: int, times: int = 3) -> list[str]:
    """LIST of `count` pods: raw etcd range of their keys, gRPC List, HTTP JSON, HTTP Table."""
    ns = "bench-list"
    t0 = time.perf_counter()
    await _seed(info, ns, count)
    lines = [f"LIST of {count} pods (seeded in {time.perf_counter() - t0:.1f} s by pipelined gRPC creates), "
             f"{times} times each, to the last byte received:"]
    etcd = RawEtcd(info["etcd"], info.get("etcd_tls"))
    prefix = f"/registry/pods/{ns}/".encode()
    end = prefix[:-1] + b"0"
    raw, resp = await _timed(times, lambda: etcd.kv.Range(rpc.RangeRequest(key=prefix, range_end=end)))
    await etcd.close()
    lines.append(f"    raw etcd range        {_secs(raw)}, {resp.count} keys")
    async with Client(info["server"], info["token"]) as c:
        grpc_took, (items, _) = await _timed(times, lambda: c.list("Pod", ns))
    lines.append(f"    gRPC List             {_secs(grpc_took)}, {len(items)} pods")
    api = HttpApi(info)
    try:
        path = f"/api/v1/namespaces/{ns}/pods"
        as_json, body = await _timed(times, lambda: api.get(path))
        t = time.perf_counter()
        got = len(json.loads(body)["items"])
        decode = time.perf_counter() - t
        as_table, tbody = await _timed(times, lambda: api.get(path, TABLE))
        rows = len(json.loads(tbody)["rows"])
    finally:
        await api.close()
    for label, took, size, what in (("HTTP JSON", as_json, len(body), f"{got} items"),
                                    ("HTTP Table", as_table, len(tbody), f"{rows} rows")):
        med = statistics.median(took)
        lines.append(f"    {label:<21} {_secs(took)}, {what}, {size / 2**20:.1f} MiB | "
                     f"{med / statistics.median(raw):.1f}x raw etcd, {med / statistics.median(grpc_took):.2f}x "
                     f"gRPC (target <= 1 s: {verdict(med <= 1.0)})")
    lines.append(f"    (the client's json.loads of the JSON list: {decode * 1000:.0f} ms more, not counted)")
    return lines


async def bench_http_watch(info: dict[str, Any], watchers: int, events: int) -> list[str]:
    """`watchers` HTTP watches (a connection each) of one namespace; pods created by gRPC every 20 ms carry
    their creation time; delivery = receipt of the event line - that time."""
    ns = "bench-hwatch"
    lat: list[float] = []
    async with Client(info["server"], info["token"]) as c:
        await c.create(new_object("Namespace", ns))
        start_rv = (await c.list("Pod", ns))[1]
        api = HttpApi(info)
        connected = 0
        all_connected = asyncio.Event()

        async def watcher() -> None:
            nonlocal connected
            url = f"{api.base}/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={start_rv}"
            async with api.session.get(url) as r:
                if r.status != 200:
                    raise RuntimeError(f"watch: HTTP {r.status}: {(await r.read())[:300]!r}")
                connected += 1
                if connected == watchers:
                    all_connected.set()
                seen = 0
                async for line in r.content:
                    ev = json.loads(line)
                    if ev["type"] != "ADDED":
                        continue
                    lat.append((time.time() - float(ev["object"]["metadata"]["annotations"]["sent"])) * 1000)
                    seen += 1
                    if seen == events:
                        return
        try:
            tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
            await asyncio.wait_for(all_connected.wait(), timeout=60)
            await asyncio.sleep(0.5)
            for i in range(events):
                p = new_object("Pod", f"w{i}", ns)
                p.spec.containers.add(name="c", image="kubelab/hello:v1")
                p.metadata.annotations["sent"] = repr(time.time())
                await c.create(p)
                await asyncio.sleep(0.02)
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        finally:
            await api.close()
    p99 = pct(lat, 99)
    return [f"HTTP watch delivery, {watchers} watchers x {events} events: p50 {pct(lat, 50):.1f} ms p99 "
            f"{p99:.1f} ms ({len(lat)} deliveries; target p99 <= 100 ms: {verdict(p99 <= 100)})"]
