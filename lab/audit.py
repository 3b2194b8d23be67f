"""The lab's pod containers against the API's pods: orphans, duplicates, missing containers.

Where it sits: used by the restart tests (tests/e2e/test_zx_restarts.py) and the soak
(bench/soak.py) after a fault, to say whether the kubelets converged. The kubelets label every
container they make (kubelet/docker_runtime.py: io.kubelab.node/uid/type/container), so one
`docker ps` of the host's engine shows every pod container of the lab. `problems` is the pure
decision; `pod_containers` the only I/O.

A pod container is in order when its uid is a pod of the API bound to the node it was made on.
A pod may have at most one running sandbox and one running container per name (older, exited
instances stay for `logs --previous`); a Running pod that is not being deleted has exactly one
running sandbox and one running container per container its status says is running.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Iterable

FIELDS = ("io.kubelab.uid", "io.kubelab.node", "io.kubelab.type", "io.kubelab.container",
          "io.kubelab.namespace", "io.kubelab.pod")


@dataclass(frozen=True)
class PodContainer:
    """One Docker container a kubelet made, as its labels say."""
    id: str
    running: bool
    uid: str
    node: str
    kind: str            # "sandbox" | "container"
    container: str
    namespace: str
    pod: str


@dataclass(frozen=True)
class PodView:
    """What the API says of a pod, as far as its containers go."""
    uid: str
    namespace: str
    name: str
    node: str
    phase: str
    containers: tuple[str, ...]
    deleting: bool = False


def pod_containers() -> list[PodContainer]:
    """Every pod container on the host's engine (any node, any state)."""
    fmt = "\t".join(["{{.ID}}", "{{.State}}"] + ['{{.Label "%s"}}' % f for f in FIELDS])
    r = subprocess.run(["docker", "ps", "-a", "--filter", "label=io.kubelab.uid", "--format", fmt],
                       capture_output=True, text=True, timeout=60, check=True)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 2 + len(FIELDS):
            continue
        cid, state, uid, node, kind, container, ns, pod = parts
        out.append(PodContainer(cid, state in ("running", "restarting", "paused"), uid, node, kind, container,
                                ns, pod))
    return out


def pod_view(pod: dict) -> PodView:
    """A PodView of a pod as the HTTP API or `kubelab get -o json` shows it. Its containers are those its
    status says are running: one waiting out a crash loop's back-off has, rightly, no running container."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    running = tuple(s["name"] for s in status.get("containerStatuses") or []
                    if "running" in (s.get("state") or {}))
    return PodView(meta["uid"], meta.get("namespace", ""), meta["name"], spec.get("nodeName", ""),
                   status.get("phase", ""), running, bool(meta.get("deletionTimestamp")))


def problems(pods: Iterable[PodView], containers: Iterable[PodContainer]) -> list[str]:
    """What is out of order, one line each ([] when every container belongs to one pod and no pod has two)."""
    by_uid = {p.uid: p for p in pods}
    running: dict[tuple[str, str, str], list[PodContainer]] = {}
    out: list[str] = []
    for c in containers:
        pod = by_uid.get(c.uid)
        if pod is None:
            out.append(f"orphan: container {c.id[:12]} ({c.kind} {c.container}) of {c.namespace}/{c.pod} "
                       f"(uid {c.uid[:8]}) on {c.node}: no such pod")
            continue
        if pod.node != c.node:
            out.append(f"orphan: container {c.id[:12]} of {pod.namespace}/{pod.name} on {c.node}, "
                       f"but the pod is bound to {pod.node or 'no node'}")
            continue
        if c.running:
            running.setdefault((c.uid, c.kind, c.container), []).append(c)
    for (uid, kind, name), cs in sorted(running.items()):
        if len(cs) > 1:
            pod = by_uid[uid]
            out.append(f"duplicate: {len(cs)} running {kind} containers {name} of {pod.namespace}/{pod.name}: "
                       f"{' '.join(c.id[:12] for c in cs)}")
    for pod in by_uid.values():
        if pod.phase != "Running" or pod.deleting:
            continue
        want = [("sandbox", "POD")] + [("container", n) for n in pod.containers]
        missing = [n for kind, n in want if not running.get((pod.uid, kind, n))]
        if missing:
            out.append(f"missing: Running pod {pod.namespace}/{pod.name} on {pod.node} has no running "
                       f"{', '.join(missing)}")
    return out
