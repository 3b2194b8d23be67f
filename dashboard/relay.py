"""The relay: the API's watch streams, kept as current state and fanned out to the pages as Server-Sent Events.

Between kubeapi.py (below) and server.py (which serves /api/stream). One `watch_kind` loop per kind lists the
objects, then watches from the list's resourceVersion, as an informer does: a watch that ends (timeout, a
restarted apiserver) is opened again from the last resourceVersion seen; 410 Expired lists again. When the API
cannot be reached, the loop says so to every page (a `status` frame: ok false, the error, the next retry) and
retries with capped exponential back-off; once it lists again, the page gets the whole kind afresh.

The Hub holds the current objects of every kind, so a page that connects (or reconnects) first gets a
`snapshot` of each kind and then the `change` frames. A page that cannot keep up (its queue is full) is
dropped; its EventSource reconnects and starts from a snapshot, which is cheaper than an unbounded queue.

The pure parts (back_off, parse_event, sse_frame, slim, key_of, the Hub's bookkeeping) are unit tested
without a network.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from kubelab.backoff import doubling

from .kubeapi import ApiError, KubeApi, collection_path

log = logging.getLogger(__name__)

# What the page shows. Events are bounded: the page shows a stream, not the whole history.
KINDS: tuple[str, ...] = ("Node", "Pod", "Deployment", "ReplicaSet", "Service", "Endpoints", "Event")
MAX_EVENTS = 500
QUEUE_LIMIT = 20000
WATCH_TIMEOUT = 300          # seconds: the API ends a watch then, and the loop opens the next one


def back_off(attempt: int, base: float = 0.5, cap: float = 10.0, jitter: Callable[[], float] = random.random
             ) -> float:
    """Seconds before retry `attempt` (0-based): base·2^attempt capped, with up to 20 % jitter so that the
    kinds' loops do not knock on a recovering apiserver at the same instant."""
    return round(doubling(attempt + 1, base, cap) * (1 + 0.2 * jitter()), 3)


def key_of(obj: dict[str, Any]) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or ""
    return f"{ns}/{md.get('name', '')}" if ns else str(md.get("name", ""))


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what the page never shows (managedFields, the last-applied copy of itself): a
    1,000-pod snapshot stays small. The YAML view reads the whole object from the API."""
    md = obj.get("metadata")
    if not isinstance(md, dict) or not ("managedFields" in md or "annotations" in md):
        return obj
    md = {k: v for k, v in md.items() if k != "managedFields"}
    ann = md.get("annotations")
    if isinstance(ann, dict) and "kubectl.kubernetes.io/last-applied-configuration" in ann:
        md["annotations"] = {k: v for k, v in ann.items()
                             if k != "kubectl.kubernetes.io/last-applied-configuration"}
    return {**obj, "metadata": md}


class WatchExpired(Exception):
    """The watch's resourceVersion is gone (410): list again."""


def parse_event(line: bytes) -> tuple[str, dict[str, Any]]:
    """One line of a watch response → (type, object). An ERROR event raises: WatchExpired for 410, else
    ApiError with its Status. Anything that is not an event is a ValueError."""
    doc = json.loads(line)
    if not isinstance(doc, dict) or not isinstance(doc.get("object"), dict) or \
            doc.get("type") not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
        raise ValueError(f"not a watch event: {line[:200]!r}")
    if doc["type"] == "ERROR":
        status = doc["object"]
        if status.get("code") == 410:
            raise WatchExpired(status.get("message", ""))
        raise ApiError(status)
    return doc["type"], doc["object"]


def sse_frame(event: str, data: Any) -> bytes:
    """One Server-Sent Event. JSON never holds a raw newline (json.dumps escapes it), so one data line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@dataclass
class KindState:
    objects: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    ok: bool = False
    message: str = "connecting"
    retry_in: float = 0.0
    synced: bool = False


class Hub:
    """The current objects of each kind and the pages listening. Single event loop: no locks."""

    def __init__(self, server: str = "") -> None:
        self.server = server
        self.kinds: dict[str, KindState] = {k: KindState() for k in KINDS}
        self.subscribers: set[asyncio.Queue[bytes | None]] = set()

    # ------------------------------------------------------------------ frames
    def status_data(self, kind: str) -> dict[str, Any]:
        st = self.kinds[kind]
        return {"kind": kind, "ok": st.ok, "message": st.message, "retryIn": st.retry_in, "server": self.server}

    def initial_frames(self) -> list[bytes]:
        """What a page gets first: each kind's status and, where listed, its objects."""
        frames = []
        for kind, st in self.kinds.items():
            frames.append(sse_frame("status", self.status_data(kind)))
            if st.synced:
                frames.append(sse_frame("snapshot", {"kind": kind, "items": list(st.objects.values())}))
        return frames

    # ------------------------------------------------------------------ pages
    def subscribe(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_LIMIT)
        for f in self.initial_frames():
            q.put_nowait(f)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[bytes | None]) -> None:
        self.subscribers.discard(q)

    def _broadcast(self, frame: bytes) -> None:
        for q in list(self.subscribers):
            try:
                q.put_nowait(frame)
            except asyncio.QueueFull:
                # Too slow: end its stream (None), it reconnects and starts from a snapshot.
                self.subscribers.discard(q)
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(None)

    # ------------------------------------------------------------------ from the API
    def replace(self, kind: str, items: list[dict[str, Any]]) -> None:
        st = self.kinds[kind]
        if kind == "Event":
            items = sorted(items, key=event_time)[-MAX_EVENTS:]
        st.objects = OrderedDict((key_of(o), slim(o)) for o in items)
        st.synced = True
        self._broadcast(sse_frame("snapshot", {"kind": kind, "items": list(st.objects.values())}))

    def apply(self, kind: str, type_: str, obj: dict[str, Any]) -> None:
        st = self.kinds[kind]
        key, obj = key_of(obj), slim(obj)
        if type_ == "DELETED":
            st.objects.pop(key, None)
        else:
            st.objects[key] = obj
            st.objects.move_to_end(key)
            while kind == "Event" and len(st.objects) > MAX_EVENTS:
                st.objects.popitem(last=False)
        self._broadcast(sse_frame("change", {"kind": kind, "type": type_, "object": obj}))

    def set_status(self, kind: str, ok: bool, message: str = "", retry_in: float = 0.0) -> None:
        st = self.kinds[kind]
        if (st.ok, st.message, st.retry_in) == (ok, message, retry_in):
            return
        st.ok, st.message, st.retry_in = ok, message, retry_in
        self._broadcast(sse_frame("status", self.status_data(kind)))


def event_time(ev: dict[str, Any]) -> str:
    """An Event's latest time (RFC 3339 strings of one format sort as times)."""
    series = ev.get("series") or {}
    return str(series.get("lastObservedTime") or ev.get("lastTimestamp") or ev.get("eventTime")
               or (ev.get("metadata") or {}).get("creationTimestamp") or "")


async def watch_kind(api: KubeApi, hub: Hub, kind: str, sleep: Callable[[float], Any] = asyncio.sleep) -> None:
    """List and watch `kind` into the hub until cancelled; every failure is said to the pages and retried."""
    path = collection_path(kind)
    attempt = 0
    while True:
        try:
            listed = await api.request("GET", path)
            rv = str((listed.get("metadata") or {}).get("resourceVersion") or "")
            hub.replace(kind, [dict(o, kind=kind) for o in listed.get("items") or []])
            hub.set_status(kind, True, "")
            attempt = quick = 0
            while True:      # watches from the last resourceVersion seen, until one fails
                started = time.monotonic()
                seen = await _watch_once(api, hub, kind, path, rv)
                # A watch that ends at once with nothing in it (a proxy cutting streams) must not spin.
                quick = quick + 1 if seen == rv and time.monotonic() - started < 1.0 else 0
                rv = seen
                if quick:
                    await sleep(back_off(quick - 1))
        except asyncio.CancelledError:
            raise
        except WatchExpired:
            log.info("%s: watch expired, listing again", kind)
            continue
        except ApiError as e:
            message = e.line() if e.code else str(e)
        except Exception as e:     # a bad line, a broken stream: say it, retry; never end the loop
            log.exception("%s: relay failed", kind)
            message = f"{type(e).__name__}: {e}"
        delay = back_off(attempt)
        attempt += 1
        hub.set_status(kind, False, message, delay)
        await sleep(delay)


async def _watch_once(api: KubeApi, hub: Hub, kind: str, path: str, rv: str) -> str:
    query = f"?watch=true&allowWatchBookmarks=true&timeoutSeconds={WATCH_TIMEOUT}&resourceVersion={rv}"
    async for line in api.watch_lines(path + query):
        type_, obj = parse_event(line)
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if type_ != "BOOKMARK":
            hub.apply(kind, type_, obj)
    return rv
