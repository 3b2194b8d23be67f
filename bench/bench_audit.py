"""Audit cost (issue 15): create throughput and apiserver CPU with the audit log on versus off, in one run.

Two local clusters (bench/abtest.py: each its own etcd and apiserver, the modes taking turns round by
round): the launcher's apiserver, which writes the audit log (`--audit-log-path STATE/logs/audit.log`, the
default policy: every write at Metadata), and the same apiserver with `--audit-log-path ""` (a later flag
wins over the launcher's: off). Target: audit costs <= 10 % of create throughput. Prints figures; asserts
nothing.

At scale (`--nodes 1000 --pods 10000`): each mode's cluster is a whole control plane with that many hollow
nodes, and the rounds create `--pods` pods in all per mode, each bound by the scheduler and run by its
hollow kubelet (so the apiserver also serves the binds, status writes, Events and heartbeats a cluster of
that size makes, and the audit log records them).

    python -m bench.bench_audit [--quick] [--api grpc|http] [--objects 1000] [--clients 20] [--rounds 10]
    python -m bench.bench_audit --nodes 1000 --pods 10000 [--rounds 10]
"""
from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from .abtest import Mode, compare, report


def audit_lines(mode: Mode) -> int:
    """Records in the mode's audit log (rotated files included): one per write, as the issue asks."""
    logs = Path(mode.info["state_dir"]) / "logs"
    return sum(sum(1 for _ in f.open("rb")) for f in logs.glob("audit*.log*"))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api", choices=("grpc", "http"), default="grpc", help="the creates' API")
    ap.add_argument("--objects", type=int, default=1000, help="creates per round per mode")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="4 rounds of 500")
    ap.add_argument("--nodes", type=int, default=0, help="hollow nodes per mode's cluster (with its scheduler and "
                    "controller manager); 0: the apiserver and etcd alone")
    ap.add_argument("--pods", type=int, default=0, help="pods per mode in all (sets --objects to pods/rounds)")
    ap.add_argument("--heartbeat", type=float, default=10.0, help="with --nodes: hollow node heartbeat seconds")
    args = ap.parse_args(argv)
    if args.quick:
        args.objects, args.rounds = 500, 4
    if args.pods:
        args.objects = max(1, args.pods // args.rounds)
    return args


async def main() -> None:
    args = parse()
    modes = [Mode("audit log off", ["--audit-log-path", ""]), Mode("audit log on (the lab's default)", [])]
    import os
    import time
    t0 = time.monotonic()
    extra = {"hollow-nodes": ["--heartbeat", str(args.heartbeat)]} if args.nodes else None
    counts = await compare(modes, args.api, args.objects, args.clients, args.rounds, lambda ms: [
        f"    audit records written: off {audit_lines(ms[0])}, on {audit_lines(ms[1])}"], args.nodes, extra)
    what = "audit cost" + (f" on 2 clusters of {args.nodes} hollow nodes each (scheduler, controller manager, "
                           f"{args.rounds * args.objects} pods per mode bound and run)" if args.nodes else "")
    for line in report(modes, what, args.api, args.objects, args.clients, args.rounds) + counts:
        print(line)
    load = os.getloadavg()
    print(f"    run: {time.monotonic() - t0:.0f} s on {os.cpu_count()} cores; load average at the end "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
