"""Event recording: what a user would ask about becomes an Event.

Repeated events (same object, reason, message) are counted on one Event
object rather than written anew, as Kubernetes' recorder does.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from typing import Any

from kubelab import errors, kinds
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "") -> None:
        self.client = client
        self.component = component
        self.host = host
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        """Record without waiting (fire and forget, logged on failure)."""
        task = asyncio.create_task(self.record(obj, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def record(self, obj: Any, type_: str, reason: str, message: str) -> None:
        info = kinds.info_of(obj)
        md = obj.metadata
        namespace = md.namespace or "default"
        digest = hashlib.sha1(f"{info.kind}/{md.uid}/{reason}/{message}/{self.component}".encode()).hexdigest()[:10]
        name = f"{md.name}.{digest}"
        now = _now()
        try:
            for _ in range(3):
                # Create first: most events are new, so this is one call instead of get + create.
                ev = pb.Event(api_version="v1", kind="Event", reason=reason, message=message, type=type_,
                              first_timestamp=now, last_timestamp=now, count=1,
                              reporting_component=self.component, reporting_instance=self.host)
                ev.metadata.name, ev.metadata.namespace = name, namespace
                ev.involved_object.CopyFrom(pb.ObjectReference(
                    kind=info.kind, namespace=md.namespace, name=md.name, uid=md.uid,
                    api_version=info.api_version, resource_version=md.resource_version))
                ev.source.component, ev.source.host = self.component, self.host
                try:
                    await self.client.create(ev)
                    return
                except errors.AlreadyExists:
                    pass
                try:
                    ev = await self.client.get("Event", name, namespace)
                    ev.count += 1
                    ev.last_timestamp = now
                    await self.client.update(ev)
                    return
                except (errors.Conflict, errors.NotFound):
                    continue
        except errors.ApiError as e:
            log.warning("could not record event %s on %s/%s: %s", reason, namespace, md.name, e)

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
