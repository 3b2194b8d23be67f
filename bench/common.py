"""What every benchmark shares: percentiles, concurrent/open-loop drivers, raw etcd writes, /proc readings."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, Iterator

import grpc
from aetcd import rpc

from lab.local import free_port


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def run_concurrent(n: int, concurrency: int,
                         op: Callable[[int], Awaitable[object]]) -> tuple[float, list[float]]:
    """Run `op(i)` for i in range(n) over `concurrency` workers; returns (seconds taken, latencies in ms)."""
    lat: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t = time.perf_counter()
            await op(i)
            lat.append((time.perf_counter() - t) * 1000)
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, lat


class RawEtcd:
    """Straight to etcd through aetcd's raw stubs: the baseline every API figure is compared with."""

    def __init__(self, endpoint: str, tls: dict[str, str] | None = None) -> None:
        # The local launcher's etcd asks for a client certificate: the apiserver's (its info["etcd_tls"]).
        from apiserver.storage import EtcdTLS
        # A range of 10,000 pods is over gRPC's default 4 MiB answer (the apiserver's own client allows more).
        options = [("grpc.max_receive_message_length", 256 << 20)]
        self.channel = (grpc.aio.secure_channel(endpoint, EtcdTLS(**tls).credentials(), options=options) if tls
                        else grpc.aio.insecure_channel(endpoint, options=options))
        self.kv = rpc.KVStub(self.channel)
        self.watch = rpc.WatchStub(self.channel)

    async def create(self, key: bytes, value: bytes) -> None:
        # The apiserver's write shape: a create-if-absent transaction.
        cmp = rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.VERSION, version=0)
        await self.kv.Txn(rpc.TxnRequest(compare=[cmp], success=[
            rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value))]))

    async def delete_prefix(self, prefix: bytes) -> None:
        await self.kv.DeleteRange(rpc.DeleteRangeRequest(key=prefix, range_end=prefix[:-1] + bytes([prefix[-1] + 1])))

    async def close(self) -> None:
        await self.channel.close()


def family(pid: int) -> list[int]:
    """A process and its direct children (the apiserver's --workers are forked children)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return [pid, *kids]


def _rss_one(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mib(pid: int) -> float:
    """RSS of a process and its children, MiB (shared pages of forked workers counted in each)."""
    return sum(_rss_one(p) for p in family(pid))


def _cpu_one(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime so far of a process and its children."""
    return sum(_cpu_one(p) for p in family(pid))


class CpuMeter:
    """CPU each process used over a stretch of a run; this process is the bench client."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.before["bench client"] = time.process_time()
        self.t0 = time.perf_counter()

    def used(self) -> dict[str, float]:
        used = {name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}
        used["bench client"] = time.process_time() - self.before["bench client"]
        return used

    def per_op(self, ops: int) -> dict[str, float]:
        """CPU seconds per operation, by process."""
        return {name: sec / ops for name, sec in self.used().items()}

    def share_report(self, title: str) -> str:
        wall = time.perf_counter() - self.t0
        return f"{title} (share of one core): " + ", ".join(
            f"{name} {sec / wall:.0%}" for name, sec in sorted(self.used().items(), key=lambda kv: -kv[1]))

    def per_op_report(self, ops: int) -> str:
        used = self.used()
        total = sum(used.values())
        return f"CPU per op {total / ops * 1e6:.0f} us = " + " + ".join(
            f"{name} {sec / ops * 1e6:.0f}" for name, sec in sorted(used.items(), key=lambda kv: -kv[1]))


@contextlib.contextmanager
def noop_apiserver(token: str) -> Iterator[tuple[str, int]]:
    """bench/noop_apiserver.py in its own process: yields (address, pid) once it accepts connections."""
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "bench.noop_apiserver", str(port), token], cwd=root)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the no-op API server did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}", proc.pid
    finally:
        proc.kill()
        proc.wait()
