"""Pod start with an image pull from the lab registry, next to `docker pull` and `docker run` alone.

On the running compose lab (`kubelab cluster up`), in one run, round by round (each round measures every
figure once, so a slow minute of the shared machine hits all of them alike):

- `docker pull` of a ~100 MB image (random bytes: no compression helps) from the lab registry
  (localhost:5000), the image removed from the engine first: the baseline
- pod start with that pull: create → Running (watch), the image absent, so the kubelet pulls it
  through the same engine
- `docker run -d` of the image, present: the baseline for
- pod start with the image present (the same pod again, `IfNotPresent`)

Targets: the pull adds ≤ 20 % to `docker pull`'s time ((pod start pulling − pod start with the image
present) / docker pull ≤ 1.2; the kubelet's own timing of the pull, from its Pulled event, is printed
beside it), and pod start with the image present ≤ 3 × a bare `docker run`. Prints figures and ratios;
asserts nothing.

    python -m bench.bench_pull [--rounds 5] [--mb 100]
"""
from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubelab import config as kubeconfig
from kubelab import kinds
from kubelab.client import Client, new_object
from lab import compose as lab

NAMESPACE = "bench-pull"
IMAGE = "localhost:5000/bench/pull:v1"


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)}: {r.stderr.strip()}")
    return r


def build_and_push(mb: int) -> int:
    """The ~`mb` MB image, pushed to the lab registry once; returns its size in bytes."""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "Dockerfile").write_text(f'FROM kubelab/busybox:latest\n'
                                            f'RUN dd if=/dev/urandom of=/blob bs=1M count={mb}\n'
                                            f'CMD ["sleep", "3600"]\n')
        docker("build", "--pull=false", "-q", "-t", IMAGE, d)
    docker("push", IMAGE)
    return int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)


def remove_image() -> None:
    docker("image", "rm", "-f", IMAGE)


def timed_docker_pull() -> float:
    remove_image()
    t = time.perf_counter()
    docker("pull", IMAGE)
    return time.perf_counter() - t


def timed_docker_run() -> float:
    name = f"kubelab-bench-pull-{uuid.uuid4().hex[:6]}"
    t = time.perf_counter()
    docker("run", "-d", "--name", name, "--network", lab.NETWORK, IMAGE)
    took = time.perf_counter() - t
    docker("rm", "-f", name)
    return took


def pod(name: str) -> Any:
    p = new_object("Pod", name, NAMESPACE)
    p.spec.termination_grace_period_seconds = 0
    p.spec.containers.add(name="c", image=IMAGE, image_pull_policy="IfNotPresent")
    return p


def running(p: Any) -> bool:
    return p.status.phase == "Running" and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)


def go_seconds(text: str) -> float:
    """Go's Duration.String() back to seconds: `512ms`, `1.234s`, `1m2.5s`."""
    m = re.fullmatch(r"(?:(\d+)m)?(?:([\d.]+)s)?|([\d.]+)ms", text)
    if m is None:
        raise ValueError(text)
    if m.group(3):
        return float(m.group(3)) / 1000
    return int(m.group(1) or 0) * 60 + float(m.group(2) or 0)


async def kubelet_pull_seconds(client: Client, pod_name: str) -> float:
    """The pull as the kubelet timed it: its Event `Successfully pulled image "X" in 1.2s (...)`."""
    for _ in range(50):
        items, _ = await client.list("Event", NAMESPACE)
        for ev in items:
            m = re.match(r'Successfully pulled image "[^"]+" in (\S+) ', ev.message)
            if ev.involved_object.name == pod_name and m:
                return go_seconds(m.group(1))
        await asyncio.sleep(0.1)
    raise SystemExit(f"no Pulled event for {pod_name}")


async def timed_pod_start(client: Client, pulled: list[float] | None = None) -> float:
    """Create → Running and Ready, seen through a watch; the pod is deleted (and gone) afterwards. With
    `pulled`, the kubelet's own timing of the pull is appended to it."""
    name = f"pull-{uuid.uuid4().hex[:6]}"
    _, rv = await client.list("Pod", NAMESPACE)
    stream = client.watch("Pod", NAMESPACE, resource_version=rv)
    t = time.perf_counter()
    await client.create(pod(name))
    try:
        async for ev in stream:
            if ev.type == "BOOKMARK":
                continue
            p = kinds.unwrap(ev.object)
            if p.metadata.name == name and running(p):
                took = time.perf_counter() - t
                break
            if p.metadata.name == name and any(
                    cs.state.waiting.reason in ("ErrImagePull", "ImagePullBackOff") for cs in p.status.container_statuses):
                raise SystemExit(f"the pod could not pull {IMAGE}: {p.status.container_statuses[0].state.waiting}")
    finally:
        stream.cancel()
    if pulled is not None:
        pulled.append(await kubelet_pull_seconds(client, name))
    await client.delete("Pod", name, NAMESPACE, grace_period_seconds=0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:       # gone from the engine too, so the image can be removed
        if not docker("ps", "-aq", "--filter", f"label=io.kubelab.pod={name}").stdout.strip():
            break
        await asyncio.sleep(0.2)
    return took


def line(label: str, values: list[float]) -> str:
    return (f"  {label:44s} median {statistics.median(values):6.2f} s   min {min(values):6.2f} s   "
            f"max {max(values):6.2f} s   (n={len(values)})")


async def bench(args: argparse.Namespace) -> None:
    size = build_and_push(args.mb)
    conn = kubeconfig.connection(context_name=lab.CONTEXT)
    async with Client(conn.server, conn.token) as client:
        try:
            await client.create(new_object("Namespace", NAMESPACE))
        except Exception:  # noqa: BLE001 - exists
            pass
        await timed_pod_start(client)                    # warm-up: connections, lazy imports
        pulls: list[float] = []
        pod_pulls: list[float] = []
        kubelet_pulls: list[float] = []
        runs: list[float] = []
        pod_present: list[float] = []
        for _ in range(args.rounds):
            pulls.append(timed_docker_pull())
            remove_image()
            # A kubelet believes "present" for 5 s (kubelet.pulls.ImagePuller.present): let that lapse, so
            # it pulls instead of starting a container from the image just removed.
            await asyncio.sleep(6)
            pod_pulls.append(await timed_pod_start(client, kubelet_pulls))   # absent: the kubelet pulls
            runs.append(timed_docker_run())
            pod_present.append(await timed_pod_start(client))  # present: IfNotPresent uses it
        await client.delete("Namespace", NAMESPACE)
    remove_image()
    med = statistics.median
    added = med(pod_pulls) - med(pod_present)          # what the pull adds to a pod's start
    pull_ratio = added / med(pulls)
    run_ratio = med(pod_present) / med(runs)
    print(f"\n{IMAGE}: {size / 1e6:.0f} MB, {args.rounds} rounds (each figure once per round)")
    print(line("`docker pull` from the lab registry", pulls))
    print(line("pod start, the kubelet pulling it", pod_pulls))
    print(line("  the pull, as the kubelet's Pulled event says", kubelet_pulls))
    print(line("bare `docker run -d`, image present", runs))
    print(line("pod start, image present", pod_present))
    print(f"  what the pull adds to pod start (pod start pulling − pod start present, medians: {added:.2f} s) / "
          f"docker pull: {pull_ratio:.2f}x (target ≤ 1.20: {'met' if pull_ratio <= 1.2 else 'NOT met'})")
    print(f"  the kubelet's pull / docker pull: {med(kubelet_pulls) / med(pulls):.2f}x;  whole pod start pulling "
          f"/ docker pull: {med(pod_pulls) / med(pulls):.2f}x (includes scheduling and the container's start)")
    print(f"  pod start, image present / docker run: {run_ratio:.2f}x (target ≤ 3: "
          f"{'met' if run_ratio <= 3 else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mb", type=int, default=100)
    asyncio.run(bench(ap.parse_args()))


if __name__ == "__main__":
    main()
