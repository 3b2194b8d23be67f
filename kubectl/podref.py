"""Which pod a CLI reference means: `pod/x`, `x`, `deployment/x`, `replicaset/x`, `service/x`.

Shared by the verbs that talk to one pod (kubectl/logs.py, exec_.py,
attach.py, portforward.py, proxy.py): resolve the reference to pods (best
first, as kubectl ranks them), pick the default container, map a
port-forward or service port to the pod's port.
"""
from __future__ import annotations

import re
from typing import Any

from kubectl.context import CLIError, err
from kubelab import conditions


_KIND_ALIASES = {"po": "Pod", "pod": "Pod", "pods": "Pod",
                 "deploy": "Deployment", "deployment": "Deployment", "deployments": "Deployment",
                 "rs": "ReplicaSet", "replicaset": "ReplicaSet", "replicasets": "ReplicaSet",
                 "svc": "Service", "service": "Service", "services": "Service"}


def split_ref(ref: str) -> tuple[str, str]:
    """`pod/x`, `deployment/x`, `svc/x`, or a bare pod name → (kind, name)."""
    if "/" not in ref:
        return "Pod", ref
    kind, _, name = ref.partition("/")
    k = _KIND_ALIASES.get(kind.lower().split(".")[0])
    if k is None:
        raise CLIError(f"cannot select a pod of {kind}: use pod/, deployment/, replicaset/ or service/")
    if not name:
        raise CLIError("arguments in resource/name form must have a single resource and name")
    return k, name


def selector_of(obj: Any) -> str:
    """An object's pod selector as a list call's labelSelector (kubelab.selectors.selector_of, written once)."""
    from kubelab import selectors
    return str(selectors.selector_of(obj))


def pod_rank(p: Any) -> tuple[int, int, int, str]:
    """Kubernetes' ordering for "the first pod" of a controller: running, ready, not terminating first."""
    ready = conditions.pod_ready(p)
    return (0 if not p.metadata.deletion_timestamp else 1, 0 if p.status.phase == "Running" else 1,
            0 if ready else 1, p.metadata.creation_timestamp)


async def resolve_pods(client: Any, namespace: str, ref: str) -> tuple[list[Any], Any]:
    """(the pods, best first, the object named) for `pod/x`, `x`, `deployment/x`, `service/x`."""
    kind, name = split_ref(ref)
    if kind == "Pod":
        pod = await client.get("Pod", name, namespace)
        return [pod], pod
    obj = await client.get(kind, name, namespace)
    selector = selector_of(obj)
    if not selector:
        raise CLIError(f"{kind.lower()} {name} has no selector")
    pods, _ = await client.list("Pod", namespace, label_selector=selector)
    if not pods:
        raise CLIError(f"no pods found for {kind.lower()} {name} (selector {selector})")
    return sorted(pods, key=pod_rank), obj


async def resolve_pod(client: Any, namespace: str, ref: str) -> tuple[Any, Any]:
    """(the pod, the object named): the best of `resolve_pods`."""
    pods, obj = await resolve_pods(client, namespace, ref)
    return pods[0], obj


def default_container(pod: Any, quiet: bool = False) -> str:
    names = [c.name for c in pod.spec.containers]
    wanted = pod.metadata.annotations.get("kubectl.kubernetes.io/default-container", "")
    if wanted in names:
        return wanted
    if len(names) > 1 and not quiet:
        err(f'Defaulted container "{names[0]}" out of: {", ".join(names)}')
    return names[0] if names else ""


def duration(text: str) -> int:
    """`10s`, `5m`, `1h`, `1h30m` → seconds."""
    if not text:
        return 0
    total = 0
    for num, unit in re.findall(r"(\d+)([smh])", text):
        total += int(num) * {"s": 1, "m": 60, "h": 3600}[unit]
    if total == 0 or re.sub(r"\d+[smh]", "", text):
        raise CLIError(f'invalid argument "{text}" for "--since" flag: use a duration such as 10s, 5m or 1h')
    return total


def target_port(pod: Any, obj: Any, remote: str) -> int:
    """The pod port for a remote spec: a number, a named container port, or (services) a service port."""
    from kubelab.v1 import objects_pb2 as pb

    def container_port(name: str) -> int:
        for c in pod.spec.containers:
            for p in c.ports:
                if p.name == name:
                    return int(p.container_port)
        raise CLIError(f"pod {pod.metadata.name} has no port named {name!r}")

    if isinstance(obj, pb.Service):
        svc_port = None
        for p in obj.spec.ports:
            if (remote.isdigit() and p.port == int(remote)) or p.name == remote:
                svc_port = p
                break
        if svc_port is None:
            raise CLIError(f"service {obj.metadata.name} does not have a service port {remote}")
        tp = svc_port.target_port
        kind = tp.WhichOneof("kind")
        if kind == "number_value":
            return int(tp.number_value)
        if kind == "string_value":
            return int(tp.string_value) if tp.string_value.isdigit() else container_port(tp.string_value)
        return int(svc_port.port)
    return int(remote) if remote.isdigit() else container_port(remote)
