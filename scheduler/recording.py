"""Events and pod conditions the scheduler writes for users (`kubectl describe pod`).

Events go through kubelab.events.EventRecorder, bounded in flight (see
server.py) so a burst of Scheduled events cannot crowd out the binds.
"""
from __future__ import annotations

import logging
from typing import Any

from kubelab import conditions, errors, timeutil
from kubelab.client import Client
from kubelab.retry import cached_first, retry_on_conflict

log = logging.getLogger(__name__)

UNSCHEDULABLE_TRIES = 3      # few: the pod's next failed scheduling attempt writes the condition again


def with_condition(pod: Any, type_: str, status: str, reason: str, message: str) -> Any | None:
    """A copy of `pod` with the condition set, or None when it is already so (nothing to write)."""
    out = type(pod)()
    out.CopyFrom(pod)
    if not conditions.set_simple(out.status.conditions, type_, status, reason, message, timeutil.now_str()):
        return None
    written = conditions.get(out.status.conditions, type_)
    assert written is not None                  # set_simple has just written it
    written.last_probe_time = ""
    return out


async def set_unschedulable(client: Client, pod: Any, message: str) -> None:
    """PodScheduled=False/Unschedulable with the fit error, as `kubectl describe` shows it (conflict-safe)."""
    read = cached_first(pod, lambda: client.get("Pod", pod.metadata.name, pod.metadata.namespace))

    async def attempt() -> None:
        current = await read()
        if current.spec.node_name:
            return     # bound meanwhile: the condition is the binder's now
        updated = with_condition(current, "PodScheduled", "False", "Unschedulable", message)
        if updated is None:
            return
        await client.update_status(updated)
    try:
        await retry_on_conflict(attempt, steps=UNSCHEDULABLE_TRIES)
    except (errors.Conflict, errors.NotFound):
        return         # still conflicting (see UNSCHEDULABLE_TRIES), or the pod is gone
    except errors.ApiError as e:
        log.warning("could not update the condition of %s/%s: %s", pod.metadata.namespace, pod.metadata.name, e)
