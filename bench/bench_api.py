"""API server benchmark: create throughput/latency and watch delivery, next to raw etcd.

Runs against the local launcher (real etcd, real apiserver process). Every
figure is measured in this one run, and the API figures are printed as a
ratio of the raw etcd figures measured beside them. Beside both runs a
no-op API server (bench/noop_apiserver.py: the same client, transport and
wire types, no work): the ceiling for any API server on Python's gRPC.
Then the Kubernetes HTTP API's figures (bench/bench_http.py) on the same
apiserver: creates beside the gRPC unary path's rate and CPU, a LIST of
10,000 pods as JSON and as a Table, watch delivery to HTTP watchers.
Prints figures; asserts nothing.

    python -m bench.bench_api [--quick] [--objects 3000] [--watchers 100] [--list-pods 10000] [--no-http]
"""
from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from aetcd import rpc

from lab import local as launcher
from kubelab.client import Client, new_object

from .common import CpuMeter, RawEtcd, noop_apiserver, pct, run_concurrent


def pod(name: str, namespace: str) -> Any:
    p = new_object("Pod", name, namespace)
    p.metadata.labels["app"] = "bench"
    c = p.spec.containers.add(name="c", image="kubelab/hello:v1")
    c.ports.add(container_port=8080)
    c.resources.requests["cpu"] = "10m"
    return p


async def run_at_rate(n: int, rate: float, op: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    """Open-loop: start op(i) every 1/rate seconds regardless of completions."""
    lat: list[float] = []

    async def one(i: int) -> None:
        t = time.perf_counter()
        await op(i)
        lat.append((time.perf_counter() - t) * 1000)
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):
        target = t0 + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return n / (time.perf_counter() - t0), lat


async def bench_creates(info: dict[str, Any], n: int,
                        baselines: dict[int, dict[str, Any]] | None = None) -> list[str]:
    """`baselines`, when given, gets each concurrency's raw etcd and gRPC unary rates and the unary path's
    CPU per create by process: what the HTTP figures are set beside."""
    lines = []
    clients = [Client(info["server"], info["token"]) for _ in range(20)]
    # The same 20 clients' writes on pipelined streams (kubelab/pipeline.py), as the components send theirs.
    pipelined = [Client(info["server"], info["token"], pipeline=True) for _ in range(20)]
    etcd = RawEtcd(info["etcd"], info.get("etcd_tls"))
    sample = pod("sample", "default").SerializeToString()
    procs = {"apiserver": info["pids"]["apiserver"], "etcd": info["pids"]["etcd"]}
    for ns in ("bench-20", "bench-200", "bench-rate", "bench-p20", "bench-p200"):
        await clients[0].create(new_object("Namespace", ns))
    with noop_apiserver(info["token"]) as (noop_address, noop_pid):
        noop_clients = [Client(noop_address, info["token"]) for _ in range(len(clients))]
        for conc in (20, 200):
            meter = CpuMeter(procs)
            took, api_lat = await run_concurrent(
                n, conc, lambda i, conc=conc: clients[i % len(clients)].create(pod(f"p{i}", f"bench-{conc}")))
            api_rate, api_cpu, api_per_op = n / took, meter.per_op_report(n), meter.per_op(n)
            meter = CpuMeter(procs)
            took, pipe_lat = await run_concurrent(
                n, conc, lambda i, conc=conc: pipelined[i % len(pipelined)].create(pod(f"p{i}", f"bench-p{conc}")))
            pipe_rate, pipe_cpu = n / took, meter.per_op_report(n)
            meter = CpuMeter(procs)
            took, raw_lat = await run_concurrent(
                n, conc, lambda i, conc=conc: etcd.create(f"/bench/{conc}/p{i}".encode(), sample))
            raw_rate, raw_cpu = n / took, meter.per_op_report(n)
            if baselines is not None:
                baselines[conc] = {"raw_rate": raw_rate, "grpc_rate": api_rate, "cpu": api_per_op}
            meter = CpuMeter({"no-op server": noop_pid})
            took, _ = await run_concurrent(
                n, conc, lambda i, conc=conc: noop_clients[i % len(noop_clients)].create(pod(f"p{i}", "noop")))
            noop_rate, noop_cpu = n / took, meter.per_op_report(n)
            lines.append(f"creates, {conc:>3} concurrent clients: API {api_rate:7.0f}/s p50 {pct(api_lat, 50):6.1f} ms "
                         f"p99 {pct(api_lat, 99):6.1f} ms | raw etcd txn {raw_rate:7.0f}/s p50 "
                         f"{pct(raw_lat, 50):5.1f} ms p99 {pct(raw_lat, 99):5.1f} ms | API/etcd throughput "
                         f"{api_rate / raw_rate:5.1%} (target >= 50%)")
            lines.append(f"    pipelined writes (the components' transport): API {pipe_rate:7.0f}/s p50 "
                         f"{pct(pipe_lat, 50):6.1f} ms p99 {pct(pipe_lat, 99):6.1f} ms | API/etcd throughput "
                         f"{pipe_rate / raw_rate:5.1%} (target >= 50%)")
            # The same client and gRPC transport against a server that does no work: no Python API
            # server can create faster than this, whatever its own code does.
            lines.append(f"    ceiling: a no-op API server (same client and transport, no work, no etcd) "
                         f"{noop_rate:7.0f}/s = {noop_rate / raw_rate:5.1%} of raw etcd; the API reaches "
                         f"{api_rate / noop_rate:5.1%} of it")
            # Where the time goes: every process shares this machine's cores, so each one's CPU per
            # operation bounds the throughput (cores / total CPU per op).
            lines.append(f"    API      {api_cpu}")
            lines.append(f"    API, pipelined {pipe_cpu}")
            lines.append(f"    raw etcd {raw_cpu}")
            lines.append(f"    no-op    {noop_cpu}")
        for cl in noop_clients:
            await cl.close()
    rate_n = 2000
    got, lat = await run_at_rate(rate_n, 200.0, lambda i: clients[i % len(clients)].create(pod(f"r{i}", "bench-rate")))
    lines.append(f"creates at a fixed 200/s ({rate_n} objects): achieved {got:.0f}/s, p50 {pct(lat, 50):.1f} ms, "
                 f"p99 {pct(lat, 99):.1f} ms (target p99 <= 50 ms)")
    for c in clients + pipelined:
        await c.close()
    await etcd.close()
    return lines


async def bench_watch(info: dict[str, Any], watchers: int, events: int) -> list[str]:
    lines = []
    async with Client(info["server"], info["token"]) as c:
        await c.create(new_object("Namespace", "bench-watch"))
        start_rv = (await c.list("Pod", "bench-watch"))[1]
        channels = [Client(info["server"], info["token"]) for _ in range(10)]
        lat: list[float] = []

        async def watcher(k: int) -> None:
            stream = channels[k % len(channels)].watch("Pod", "bench-watch", resource_version=start_rv)
            seen = 0
            async for ev in stream:
                sent = float(ev.object.pod.metadata.annotations["sent"])
                lat.append((time.time() - sent) * 1000)
                seen += 1
                if seen == events:
                    break
            stream.cancel()
        tasks = [asyncio.create_task(watcher(k)) for k in range(watchers)]
        await asyncio.sleep(1.0)
        for i in range(events):
            p = pod(f"w{i}", "bench-watch")
            p.metadata.annotations["sent"] = repr(time.time())
            await c.create(p)
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        for ch in channels:
            await ch.close()
    lines.append(f"watch delivery, {watchers} watchers x {events} events: API p50 {pct(lat, 50):.1f} ms "
                 f"p99 {pct(lat, 99):.1f} ms ({len(lat)} deliveries; target p99 <= 100 ms)")

    etcd = RawEtcd(info["etcd"], info.get("etcd_tls"))
    raw_lat: list[float] = []
    prefix = b"/bench-watch/"

    async def raw_watcher() -> None:
        q: asyncio.Queue[Any] = asyncio.Queue()
        await q.put(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=prefix, range_end=b"/bench-watch0")))

        async def reqs() -> Any:
            while True:
                yield await q.get()
        call = etcd.watch.Watch(reqs())
        seen = 0
        async for resp in call:
            for ev in resp.events:
                raw_lat.append((time.time() - float(ev.kv.value)) * 1000)
                seen += 1
            if seen >= events:
                break
        call.cancel()
    tasks = [asyncio.create_task(raw_watcher()) for _ in range(watchers)]
    await asyncio.sleep(1.0)
    for i in range(events):
        await etcd.kv.Put(rpc.PutRequest(key=prefix + str(i).encode(), value=repr(time.time()).encode()))
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    await etcd.channel.close()
    lines.append(f"watch delivery, {watchers} raw etcd watchers x {events} events: p50 {pct(raw_lat, 50):.1f} ms "
                 f"p99 {pct(raw_lat, 99):.1f} ms | API/etcd p99 ratio {pct(lat, 99) / pct(raw_lat, 99):.1f}x")
    return lines


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--objects", type=int, default=3000, help="objects created per concurrency level")
    ap.add_argument("--watchers", type=int, default=100)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--list-pods", type=int, default=10000, help="pods in the LIST timed over HTTP")
    ap.add_argument("--apiserver-workers", type=int, default=1)
    ap.add_argument("--no-http", action="store_true", help="the gRPC figures only")
    ap.add_argument("--quick", action="store_true", help="1000 objects per level, 50 watch events")
    args = ap.parse_args()
    if args.quick:
        args.objects, args.events = 1000, 50
    with tempfile.TemporaryDirectory() as tmp:
        info = await launcher.up_local(state_dir=Path(tmp) / "state", write_kubeconfig=False, components=(),
                                         extra_args={"apiserver": ["--workers", str(args.apiserver_workers)]})
        try:
            print(f"kubelab API benchmark (local launcher: etcd + apiserver with {args.apiserver_workers} "
                  f"worker process(es) on loopback; client, apiserver and etcd share this machine's cores)")
            baselines: dict[int, dict[str, Any]] = {}
            for line in await bench_creates(info, args.objects, baselines):
                print(line, flush=True)
            for line in await bench_watch(info, args.watchers, args.events):
                print(line, flush=True)
            if not args.no_http:
                from . import bench_http
                for part in (bench_http.bench_http_creates(info, args.objects, baselines),
                             bench_http.bench_http_list(info, args.list_pods),
                             bench_http.bench_http_watch(info, args.watchers, args.events)):
                    for line in await part:
                        print(line, flush=True)
        finally:
            launcher.down_local(Path(tmp) / "state", remove_context=False)


if __name__ == "__main__":
    asyncio.run(main())
