"""Status conditions, written once for every component (every kind uses pb.Condition): read and set.

Where this sits: the shared library (`kubelab`), used by the apiserver (a
binding sets PodScheduled), the scheduler (PodScheduled=False/Unschedulable),
the controllers (Deployment, ReplicaSet, PDB, Node, Namespace) and the kubelet
(pod and node conditions). Kubernetes' rule (`transition_time`):
lastTransitionTime moves only when the status changes; lastUpdateTime
(Deployments) moves whenever the condition is written.
"""
from __future__ import annotations

from typing import Any

from kubelab.v1 import objects_pb2 as pb


def get(conditions: Any, type_: str) -> pb.Condition | None:
    for c in conditions:
        if c.type == type_:
            return c
    return None


def is_true(conditions: Any, type_: str) -> bool:
    """Whether the condition of `type_` says True (absent, False or Unknown: not), as Kubernetes'
    IsPodReady/IsNodeReady ask it."""
    c = get(conditions, type_)
    return c is not None and c.status == "True"


def pod_ready(pod: Any) -> bool:
    """The pod's Ready condition is True: it serves (Endpoints), counts as available, ranks first."""
    return is_true(pod.status.conditions, "Ready")


def node_ready(node: Any) -> bool:
    """The node's Ready condition is True (its kubelet's heartbeat says so)."""
    return is_true(node.status.conditions, "Ready")


def new(type_: str, status: str, reason: str, message: str, now: str) -> pb.Condition:
    return pb.Condition(type=type_, status=status, reason=reason, message=message,
                        last_transition_time=now, last_update_time=now)


def transition_time(previous: pb.Condition | None, status: str, now: str) -> str:
    """When a condition that now has `status` last changed: `previous`'s time while its status is the same
    (a condition written without one gets `now`), else `now`."""
    if previous is not None and previous.status == status and previous.last_transition_time:
        return previous.last_transition_time
    return now


def set_(conditions: Any, cond: pb.Condition) -> None:
    """Put `cond` in place of the condition of its type (Deployment semantics:
    an unchanged status with an unchanged reason keeps the old condition)."""
    current = get(conditions, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    replace(conditions, cond)


def replace(conditions: Any, cond: pb.Condition) -> None:
    """Put `cond` last in place of the condition of its type, even if only its message or lastUpdateTime is new
    (Deployment progress); its lastTransitionTime stays the old one's while the status does."""
    cond.last_transition_time = transition_time(get(conditions, cond.type), cond.status, cond.last_transition_time)
    remove(conditions, cond.type)
    conditions.add().CopyFrom(cond)


def remove(conditions: Any, type_: str) -> None:
    keep = [c for c in conditions if c.type != type_]
    if len(keep) != len(conditions):
        copies = [pb.Condition() for _ in keep]
        for dst, src in zip(copies, keep):
            dst.CopyFrom(src)
        del conditions[:]
        conditions.extend(copies)


def set_simple(conditions: Any, type_: str, status: str, reason: str, message: str, now: str,
               probe_time: str = "") -> bool:
    """Set status/reason/message in place (pods, nodes, PDBs), and lastProbeTime if given (the node lifecycle
    controller's); True if status, reason or message changed."""
    c = get(conditions, type_)
    changed = c is None or (c.status, c.reason, c.message) != (status, reason, message)
    if c is None:
        c = conditions.add(type=type_)
    c.last_transition_time = transition_time(c, status, now)
    c.status, c.reason, c.message = status, reason, message
    if probe_time:
        c.last_probe_time = probe_time
    return changed
