"""Status conditions, written once for every component (every kind uses pb.Condition).

Where this sits: the shared library (`kubelab`), used by the apiserver (a
binding sets PodScheduled), the scheduler (PodScheduled=False/Unschedulable)
and the controllers (Deployment, ReplicaSet, PDB, Node, Namespace).
Kubernetes' rule: lastTransitionTime moves only when the status changes;
lastUpdateTime (Deployments) moves whenever the condition is written.
"""
from __future__ import annotations

from typing import Any

from kubelab.v1 import objects_pb2 as pb


def get(conditions: Any, type_: str) -> pb.Condition | None:
    for c in conditions:
        if c.type == type_:
            return c
    return None


def new(type_: str, status: str, reason: str, message: str, now: str) -> pb.Condition:
    return pb.Condition(type=type_, status=status, reason=reason, message=message,
                        last_transition_time=now, last_update_time=now)


def set_(conditions: Any, cond: pb.Condition) -> None:
    """Put `cond` in place of the condition of its type (Deployment semantics:
    an unchanged status with an unchanged reason keeps the old condition)."""
    current = get(conditions, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    if current is not None and current.status == cond.status:
        cond.last_transition_time = current.last_transition_time
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


def set_simple(conditions: Any, type_: str, status: str, reason: str, message: str, now: str) -> bool:
    """Set status/reason/message in place (pods, nodes, PDBs); True if anything changed."""
    c = get(conditions, type_)
    if c is None:
        conditions.add(type=type_, status=status, reason=reason, message=message, last_transition_time=now)
        return True
    changed = (c.status, c.reason, c.message) != (status, reason, message)
    if c.status != status:
        c.last_transition_time = now
    c.status, c.reason, c.message = status, reason, message
    return changed
