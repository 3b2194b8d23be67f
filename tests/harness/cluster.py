"""Test harness: a local cluster for the integration tests and benchmarks, and the processes around it.

`start_cluster` runs the launcher (lab/local.py: etcd, apiserver, scheduler, controller manager, hollow nodes) in
a temporary state directory with short lab timings (`FAST_*`; `K8S_TIMINGS` for tests of load), `spawn` and
`kill` start and stop one more component process, `component_log` reads a component's log, and
`ensure_namespace` / `namespace_for_test` give a test a namespace of its own.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

from kubelab import errors
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

# Short lab timings so failure handling fits in a test.
FAST_CONTROLLER_MANAGER = ["-v", "--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3",
                           "--leader-elect-retry-period", "0.5", "--node-monitor-grace-period", "8",
                           "--node-monitor-period", "1", "--pod-eviction-timeout", "6"]
FAST_HOLLOW = ["--heartbeat", "2", "--stop-delay", "0.2"]
# Kubernetes' own lease and node timings, for tests of load: under load the short ones provoke the failover
# they are made for (a lease lost while the machine is busy), which is not what such a test is about.
K8S_TIMINGS = ["--leader-elect-lease-duration", "15", "--leader-elect-renew-deadline", "10",
               "--leader-elect-retry-period", "2", "--node-monitor-grace-period", "40",
               "--pod-eviction-timeout", "300"]


def start_cluster(tmp: Path, hollow_nodes: int = 3, controller_manager: list[str] | None = None,
                  hollow: list[str] | None = None, scheduler: list[str] | None = None) -> dict[str, Any]:
    """Start a local cluster in `tmp` (kubeconfig there too); returns the launcher's info."""
    from lab import local as launcher
    os.environ["KUBELAB_CONFIG"] = str(tmp / "kubeconfig")
    extra = {"controller-manager": FAST_CONTROLLER_MANAGER + (controller_manager or []),
             "hollow-nodes": FAST_HOLLOW + (hollow or []),
             "scheduler": scheduler or []}
    info = asyncio.run(launcher.up_local(hollow_nodes=hollow_nodes, state_dir=tmp / "state",
                                         write_kubeconfig=False, extra_args=extra))
    info["state_path"] = tmp / "state"
    return info


def stop_cluster(info: dict[str, Any]) -> None:
    from lab import local as launcher
    launcher.down_local(info["state_path"], remove_context=False)


def component_log(info: dict[str, Any], name: str = "controller-manager", tail: int = 6000) -> str:
    path = Path(info["state_path"]) / "logs" / f"{name}.log"
    return path.read_text(errors="replace")[-tail:] if path.exists() else ""


def spawn(info: dict[str, Any], module: str, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
    """Start one more component process (a second controller manager, another hollow runner)."""
    logs = Path(info["state_path"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{log_name}.log", "ab")
    env = {**os.environ, "KUBELAB_SERVER": info["server"], "KUBELAB_TOKEN": info["token"]}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    out.close()
    return proc


def kill(proc: subprocess.Popen[bytes], sig: int = 9) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


async def namespace_for_test(client: Client, test_name: str) -> str:
    """A namespace of its own for one test: readable slug plus a stable hash, created if missing."""
    slug = re.sub(r"[^a-z0-9-]+", "-", test_name.lower().replace("test_", ""))[:32].strip("-")
    name = f"{slug}-{zlib.crc32(test_name.encode()) % 10000:04d}"
    await ensure_namespace(client, name)
    return name


async def ensure_namespace(client: Client, name: str) -> None:
    ns = pb.Namespace(api_version="v1", kind="Namespace")
    ns.metadata.name = name
    try:
        await client.create(ns)
    except errors.AlreadyExists:
        pass
