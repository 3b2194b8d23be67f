"""Events and pod conditions the scheduler writes for users (`kubectl describe pod`).

`BoundedRecorder` is kubelab.events.EventRecorder with two changes that
matter at thousands of pods a second: it tries `create` first (a new event,
the common case, costs one call instead of get + create) and it bounds how
many event writes are in flight, so a burst of Scheduled events cannot
crowd out the binds. Repeats still fold into one Event with a count, under
the same name the base recorder uses.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from typing import Any

from kubelab import errors, kinds
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_name(obj: Any, component: str, reason: str, message: str) -> str:
    """The name kubelab.events gives an event, so repeats of either recorder land on one object."""
    md = obj.metadata
    kind = kinds.info_of(obj).kind
    digest = hashlib.sha1(f"{kind}/{md.uid}/{reason}/{message}/{component}".encode()).hexdigest()[:10]
    return f"{md.name}.{digest}"


class BoundedRecorder(EventRecorder):
    def __init__(self, client: Client, component: str, host: str = "", max_in_flight: int = 32) -> None:
        super().__init__(client, component, host)
        self._slots = asyncio.Semaphore(max_in_flight)

    async def record(self, obj: Any, type_: str, reason: str, message: str) -> None:
        async with self._slots:
            info, md = kinds.info_of(obj), obj.metadata
            ts = now()
            ev = pb.Event(api_version="v1", kind="Event", reason=reason, message=message, type=type_,
                          first_timestamp=ts, last_timestamp=ts, count=1,
                          reporting_component=self.component, reporting_instance=self.host)
            ev.metadata.name = event_name(obj, self.component, reason, message)
            ev.metadata.namespace = md.namespace or "default"
            ev.involved_object.CopyFrom(pb.ObjectReference(
                kind=info.kind, namespace=md.namespace, name=md.name, uid=md.uid, api_version=info.api_version,
                resource_version=md.resource_version))
            ev.source.component, ev.source.host = self.component, self.host
            try:
                await self.client.create(ev)
                return
            except errors.AlreadyExists:
                pass
            except errors.ApiError as e:
                log.warning("could not record event %s on %s/%s: %s", reason, md.namespace, md.name, e)
                return
            await super().record(obj, type_, reason, message)   # a repeat: count it


def with_condition(pod: Any, type_: str, status: str, reason: str, message: str) -> Any | None:
    """A copy of `pod` with the condition set, or None when it is already so (nothing to write)."""
    for c in pod.status.conditions:
        if c.type == type_ and c.status == status and c.reason == reason and c.message == message:
            return None
    out = type(pod)()
    out.CopyFrom(pod)
    for c in out.status.conditions:
        if c.type == type_:
            if c.status != status:
                c.last_transition_time = now()
            c.status, c.reason, c.message = status, reason, message
            c.last_probe_time = ""
            return out
    out.status.conditions.add(type=type_, status=status, reason=reason, message=message,
                              last_transition_time=now())
    return out


async def set_unschedulable(client: Client, pod: Any, message: str) -> None:
    """PodScheduled=False/Unschedulable with the fit error, as `kubectl describe` shows it (conflict-safe)."""
    for attempt in range(3):
        updated = with_condition(pod, "PodScheduled", "False", "Unschedulable", message)
        if updated is None:
            return
        try:
            await client.update_status(updated)
            return
        except errors.Conflict:
            try:
                pod = await client.get("Pod", pod.metadata.name, pod.metadata.namespace)
            except errors.NotFound:
                return
            if pod.spec.node_name:
                return     # bound meanwhile: the condition is the binder's now
        except errors.NotFound:
            return
        except errors.ApiError as e:
            log.warning("could not update the condition of %s/%s: %s", pod.metadata.namespace, pod.metadata.name, e)
            return
