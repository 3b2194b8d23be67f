"""Event recording: what a user would ask about becomes an Event.

One recorder for every component. An event is written under a name derived
from (object, reason, message, component), so a repeat is counted on the
existing Event (`count`, `lastTimestamp`) rather than written anew, as
Kubernetes' recorder does. The recorder remembers (an LRU, as client-go's
event cache) which Event each repeat lands on and its count, so a repeat is
one merge patch and the first is one create: it never reads an event, and
needs no more than Kubernetes' create/patch/update on events. An Event an
earlier run of the component left under the same name is not counted on (its
count is unknown without reading it): the repeat gets a name of its own, as
client-go's timestamped names do. Writes are fire-and-forget
(`event`): queued and written by a bounded number of writers, so a component
emitting them by the thousand (the scheduler, hollow nodes) cannot crowd out
its real work.

Before anything is written, `EventCorrelator` does what client-go's does
(tools/record/events_cache.go): similar events (same source, object, type
and reason, different messages) are aggregated after 10 in 10 minutes into
one Event whose message says "(combined from similar events)"; and a token
bucket per source and object (burst 25, one more every 5 minutes) drops the
rest. A ReplicaSet scaled by 10,000 pods records 25 events, not 20,000
writes the apiserver must serve while the controller waits for its watch.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
from typing import Any

from kubelab import errors, kinds, timeutil
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_WRITERS = 64

# client-go's defaults (tools/record/events_cache.go).
SPAM_BURST = 25
SPAM_QPS = 1 / 300                # one token every 5 minutes
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
CACHE_SIZE = 4096                 # keys remembered (an LRU, as client-go's)
COMBINED = "(combined from similar events): "


def event_name(obj: Any, component: str, reason: str, message: str) -> str:
    """`<object name>.<digest>`: the same event from the same component always lands on one object."""
    md = obj.metadata
    kind = kinds.info_of(obj).kind
    digest = hashlib.sha1(f"{kind}/{md.uid}/{reason}/{message}/{component}".encode()).hexdigest()[:10]
    # An object's name may use all 253 characters a name may have: the Event's must still fit.
    return f"{md.name[:253 - len(digest) - 1]}.{digest}"


class _Lru(collections.OrderedDict):  # type: ignore[type-arg]
    """A bounded map that forgets the least recently used key."""

    def touch(self, key: Any, default: Any) -> Any:
        value = self.pop(key, None)
        if value is None:
            value = default()
        self[key] = value
        if len(self) > CACHE_SIZE:
            self.popitem(last=False)
        return value


class EventCorrelator:
    """Aggregation and the spam filter of client-go's EventCorrelator, on events built by the recorder."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._buckets = _Lru()       # spam key -> [tokens, last refill]
        self._similar = _Lru()       # aggregate key -> [first seen, set of messages]

    def correlate(self, ev: Any) -> Any | None:
        """The event to write (`ev`, or the aggregate it joins), or None when the spam filter drops it."""
        src, obj = ev.source, ev.involved_object
        target = (src.component, src.host, obj.kind, obj.namespace, obj.name, obj.uid, obj.api_version)
        now = self.clock()
        similar = self._similar.touch((*target, ev.type, ev.reason), lambda: [now, set()])
        if now - similar[0] > AGGREGATE_INTERVAL:
            similar[0], similar[1] = now, set()
        similar[1].add(ev.message)
        if len(similar[1]) >= AGGREGATE_MAX_EVENTS:
            ev = self._aggregate(ev)
        bucket = self._buckets.touch(target, lambda: [float(SPAM_BURST), now])
        bucket[0] = min(float(SPAM_BURST), bucket[0] + (now - bucket[1]) * SPAM_QPS)
        bucket[1] = now
        if bucket[0] < 1:
            return None
        bucket[0] -= 1
        return ev

    @staticmethod
    def _aggregate(ev: Any) -> Any:
        """One Event for every similar one: named by what they share (not the message), so each is counted on
        it; its message is the latest, marked as combined."""
        out = type(ev)()
        out.CopyFrom(ev)
        out.message = COMBINED + ev.message
        digest = hashlib.sha1(f"{ev.involved_object.kind}/{ev.involved_object.uid}/{ev.reason}/{ev.type}/"
                              f"{ev.source.component}/combined".encode()).hexdigest()[:10]
        out.metadata.name = f"{ev.involved_object.name[:253 - len(digest) - 1]}.{digest}"
        return out


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = "", max_in_flight: int = 0,
                 enabled: bool = True) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.enabled = enabled
        # Fire-and-forget events wait in one queue drained by at most this many writers: a task per
        # event cost more than the write itself when a scheduler or hollow runner emits thousands.
        self.max_in_flight = max_in_flight or DEFAULT_WRITERS
        self._pending: collections.deque[Any] = collections.deque()
        self._writers = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.correlator = EventCorrelator()
        # event name → [the name it was written under, its count]: repeats are patched without a read
        self._written = _Lru()
        # one write at a time per event name, so a repeat never races its own create
        self._locks: dict[str, list[Any]] = {}

    def event(self, obj: Any, type_: str, reason: str, message: str, field_path: str = "",
              host: str | None = None) -> None:
        """Record without waiting (queued, written in order of arrival, logged on failure)."""
        if not self.enabled:
            return
        # Built now, not when written: the timestamps and the object's resourceVersion are this moment's.
        ev = self.correlator.correlate(self._new_event(obj, type_, reason, message, field_path,
                                                       self.host if host is None else host))
        if ev is None:
            return
        self._pending.append(ev)
        if self._writers < self.max_in_flight:
            self._writers += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self._write(self._pending.popleft())
        finally:
            self._writers -= 1

    async def record(self, obj: Any, type_: str, reason: str, message: str, field_path: str = "",
                     host: str | None = None) -> None:
        """Record and wait. `field_path` names the part of the object (`spec.containers{web}`);
        `host` overrides the recorder's (one process hosting many hollow nodes)."""
        ev = self.correlator.correlate(self._new_event(obj, type_, reason, message, field_path,
                                                       self.host if host is None else host))
        if ev is not None:
            await self._write(ev)

    def _new_event(self, obj: Any, type_: str, reason: str, message: str, field_path: str, host: str) -> Any:
        info, md = kinds.info_of(obj), obj.metadata
        wall = time.time()
        now = timeutil.fmt(wall)
        ev = pb.Event(api_version="v1", kind="Event", reason=reason, message=message, type=type_,
                      first_timestamp=now, last_timestamp=now, count=1,
                      # to the microsecond: orders the events of one second as they happened
                      event_time=timeutil.fmt_micro(wall),
                      reporting_component=self.component, reporting_instance=host)
        ev.metadata.name = event_name(obj, self.component, reason, message)
        ev.metadata.namespace = md.namespace or "default"
        ev.involved_object.CopyFrom(pb.ObjectReference(
            kind=info.kind, namespace=md.namespace, name=md.name, uid=md.uid, api_version=info.api_version,
            resource_version=md.resource_version, field_path=field_path))
        ev.source.component, ev.source.host = self.component, host
        return ev

    async def _write(self, ev: Any) -> None:
        key, namespace = ev.metadata.name, ev.metadata.namespace
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1       # writers holding or waiting for it: the lock goes only when the last is done
        try:
            async with entry[0]:
                await self._write_locked(key, ev)
        except errors.ApiError as e:
            log.warning("could not record event %s on %s/%s: %s", ev.reason, namespace, ev.involved_object.name, e)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[key]

    async def _write_locked(self, key: str, ev: Any) -> None:
        seen = self._written.get(key)
        if seen is not None:
            name, count = seen
            try:    # a repeat: counted on the event it landed on, as client-go's recorder patches it
                await self.client.patch("Event", name, {
                    "count": count + 1, "lastTimestamp": ev.last_timestamp, "message": ev.message,
                    # to the microsecond: orders this repeat among the events of the same second
                    "series": {"count": count + 1, "lastObservedTime": ev.event_time}},
                    ev.metadata.namespace, patch_type="merge")
                self._written.touch(key, lambda: seen)[1] = count + 1
                return
            except errors.NotFound:     # deleted (or expired) since: written anew
                self._written.pop(key, None)
        try:
            await self.client.create(ev)
        except errors.AlreadyExists:
            # left by an earlier run of this component: its count is unknown without reading it, so this
            # one is an event of its own (client-go names every new event uniquely for the same reason)
            prefix, _, _ = key.rpartition(".")
            salt = hashlib.sha1(f"{key}/{time.time_ns()}".encode()).hexdigest()[:10]
            ev.metadata.name = f"{prefix}.{salt}"
            await self.client.create(ev)
        self._written.touch(key, lambda: [ev.metadata.name, 1])[:] = [ev.metadata.name, 1]

    async def flush(self) -> None:
        """Wait until every queued event is written."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
