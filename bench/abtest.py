"""A/B runs of the apiserver: the same creates against apiservers started with different flags, in one run.

What bench_audit.py (audit log on/off) and bench_rbac.py (RBAC/AlwaysAllow) share. Every mode's
cluster (its own etcd and apiserver, by the local launcher) is up at once, and the modes take turns
round by round (A, B, A, B, ...), so a machine that drifts during the run (these vary by a third day to
day) drifts under each alike; an idle cluster costs next to nothing. Each round: `n` creates over `conc`
concurrent clients, by gRPC unary calls or the HTTPS API. Per mode: the median round's creates/s, p50/p99
over every round's latencies, and the apiserver's CPU per create; a mode's cost is the median of its
rounds' ratios to the first mode's round run next to it; beside them the raw etcd transaction
rate measured beside each round (on each mode's etcd in turn), the baseline of bench_api.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from kubelab.client import Client, new_object
from lab import local as launcher

from .bench_api import pod
from .bench_http import HttpApi, pod_json
from .common import CpuMeter, RawEtcd, pct, run_concurrent

NAMESPACE = "bench-ab"


@dataclass
class Mode:
    """One apiserver configuration: its extra flags (later flags win over the launcher's), and how the
    clients authenticate (None: the launcher's admin token). `prepare(info)` runs once the cluster is up."""
    name: str
    apiserver_args: list[str]
    token: str | None = None
    prepare: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    apiserver_cpu: float = 0.0
    ops: int = 0
    raw_rates: list[float] = field(default_factory=list)


async def raw_etcd_rate(info: dict[str, Any], n: int, conc: int) -> float:
    etcd = RawEtcd(info["etcd"], info.get("etcd_tls"))
    sample = pod("sample", NAMESPACE).SerializeToString()
    try:
        took, _ = await run_concurrent(n, conc, lambda i: etcd.create(f"/bench-raw/p{i}".encode(), sample))
        await etcd.delete_prefix(b"/bench-raw/")
    finally:
        await etcd.close()
    return n / took


class Creator:
    """`conc` clients of one mode's apiserver on the chosen API; create(name) writes one pod."""

    def __init__(self, mode: Mode, api: str, conc: int) -> None:
        self.api, self.conc = api, conc
        token = mode.token or mode.info["token"]
        self.grpc = [Client(mode.info["server"], token) for _ in range(min(conc, 20))] if api == "grpc" else []
        self.http = HttpApi(mode.info, token) if api == "http" else None

    async def warm(self) -> None:
        if self.http is not None:
            await self.http.warm(self.conc, NAMESPACE)

    async def create(self, i: int, name: str) -> None:
        if self.http is not None:
            await self.http.create(NAMESPACE, pod_json(name, NAMESPACE))
        else:
            await self.grpc[i % len(self.grpc)].create(pod(name, NAMESPACE))

    async def close(self) -> None:
        for c in self.grpc:
            await c.close()
        if self.http is not None:
            await self.http.close()


async def compare(modes: list[Mode], api: str, n: int, conc: int, rounds: int,
                  inspect: Callable[[list[Mode]], list[str]] | None = None, hollow_nodes: int = 0,
                  extra_args: dict[str, list[str]] | None = None) -> list[str]:
    """Run the A/B rounds, filling each mode's figures; `inspect(modes)`, run while the clusters are still
    up, gives lines to print (what the modes' state directories hold). With `hollow_nodes`, each mode's
    cluster is a whole control plane (scheduler, controller manager) with that many hollow nodes, so every
    pod created is also bound and run: its status writes load the apiserver as a cluster's would."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for k, mode in enumerate(modes):
                mode.info = await launcher.up_local(
                    state_dir=Path(tmp) / f"state{k}", write_kubeconfig=False, hollow_nodes=hollow_nodes,
                    components=("scheduler", "controller-manager") if hollow_nodes else (),
                    extra_args={**(extra_args or {}), "apiserver": mode.apiserver_args})
                if hollow_nodes:
                    from .bench_rollout import wait_nodes
                    async with Client(mode.info["server"], mode.info["token"]) as admin:
                        await wait_nodes(admin, hollow_nodes, 300)
                async with Client(mode.info["server"], mode.info["token"]) as admin:
                    await admin.create(new_object("Namespace", NAMESPACE))
                if mode.prepare is not None:
                    await mode.prepare(mode.info)
            creators = [Creator(m, api, conc) for m in modes]
            try:
                for cr, mode in zip(creators, modes):          # a round not counted: connections, caches
                    await cr.warm()
                    await run_concurrent(min(n, 200), conc, lambda i, cr=cr: cr.create(i, f"warm-{i}"))
                for r in range(rounds):
                    # A B, then B A: a drift within the run (other work on the machine) falls on each alike.
                    order = list(zip(creators, modes))
                    for cr, mode in (order if r % 2 == 0 else order[::-1]):
                        meter = CpuMeter({"apiserver": mode.info["pids"]["apiserver"]})
                        took, lat = await run_concurrent(n, conc, lambda i, cr=cr, r=r: cr.create(i, f"r{r}-p{i}"))
                        mode.apiserver_cpu += meter.used()["apiserver"]
                        mode.ops += n
                        mode.rates.append(n / took)
                        mode.latencies += lat
                    # The baseline beside each round, on each mode's etcd in turn.
                    base = modes[r % len(modes)]
                    base.raw_rates.append(await raw_etcd_rate(base.info, max(n, 1000), conc))
            finally:
                for cr in creators:
                    await cr.close()
            await asyncio.sleep(0.5)         # the audit log is flushed every 0.2 s
            return inspect(modes) if inspect is not None else []
        finally:
            for k, _ in enumerate(modes):
                if (Path(tmp) / f"state{k}").exists():
                    launcher.down_local(Path(tmp) / f"state{k}", remove_context=False)


def report(modes: list[Mode], what: str, api: str, n: int, conc: int, rounds: int,
           target: float = 0.10) -> list[str]:
    base = modes[0]
    raw = [r for m in modes for r in m.raw_rates]
    lines = [f"{what}: {rounds} rounds of {n} {api} creates at {conc} concurrent clients, modes taking turns; "
             f"raw etcd txn (the baseline, beside each round) median {statistics.median(raw):.0f}/s "
             f"({min(raw):.0f}-{max(raw):.0f})"]
    for m in modes:
        rate = statistics.median(m.rates)
        lines.append(f"    {m.name:<32} {rate:6.0f} creates/s (rounds {min(m.rates):.0f}-{max(m.rates):.0f}) = "
                     f"{rate / statistics.median(raw):5.1%} of raw etcd, p50 {pct(m.latencies, 50):6.1f} ms "
                     f"p99 {pct(m.latencies, 99):6.1f} ms, "
                     f"apiserver CPU per create {m.apiserver_cpu / m.ops * 1e6:5.0f} us")
    for m in modes[1:]:
        # Each round's pair ran back to back: the median of their ratios is the least disturbed figure.
        cost = 1 - statistics.median(b / a for a, b in zip(base.rates, m.rates))
        cpu = (m.apiserver_cpu / m.ops) / (base.apiserver_cpu / base.ops) - 1
        p99 = pct(m.latencies, 99) / pct(base.latencies, 99) - 1
        lines.append(f"    {m.name} costs {cost:+.1%} of create throughput vs {base.name} (median of the rounds' "
                     f"ratios; target <= {target:.0%}: {'met' if cost <= target else 'NOT met'}); apiserver CPU "
                     f"per create {cpu:+.1%}; p99 {p99:+.1%}")
    spread = max(max(m.rates) / min(m.rates) for m in modes)
    if spread > 1.3:
        # Other work on the machine moves throughput more than the flag does; CPU per create barely moves.
        lines.append(f"    (one mode's rounds ranged {spread:.1f}x apart: the machine was busy, so the throughput "
                     f"cost is within noise; the apiserver's CPU per create is the steadier figure)")
    return lines
