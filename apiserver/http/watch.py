"""WATCH: `?watch=true` (or the old /watch/ paths), served from the apiserver's WatchCache as the gRPC Watch is.

The response is chunked JSON, one event per line (`{"type":"ADDED","object":{...}}`), as kube-apiserver
streams it. BOOKMARK events (`allowWatchBookmarks=true`) carry only the kind and resourceVersion.
`timeoutSeconds` ends the stream (default 30 minutes, kube-apiserver's min-request-timeout). A
resourceVersion etcd has compacted is 410 Gone (a Status with reason Expired) when the watch starts, or an
ERROR event carrying that Status once it has. `sendInitialEvents=true` (watch-list, kubectl ≥ 1.35 tries it
first) sends the current objects as ADDED, then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`,
then the changes after them. With `as=Table`, each event's object is a Table of one row.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

from aiohttp import web

from kubelab import errors, kinds
from kubelab.v1 import api_pb2 as api

from apiserver import storage as st

from . import negotiate, table
from .common import Backend, int_param, namespace_of
from .request import RequestInfo
from .serialize import WIRE_CACHE, dumps
from .status import status

DEFAULT_TIMEOUT = 1800.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
# How long etcd's answer to a watch from an old resourceVersion is awaited before the response starts: a
# compacted one is refused within it as an HTTP 410, not an ERROR event.
FIRST_WAIT = 1.0
# The deadlines of the watches being served: at shutdown each is moved to now, so every watch ends as its
# timeoutSeconds would end it (a clean end of the stream; the client watches again elsewhere) and the
# server's graceful stop does not wait on streams that would run for up to half an hour.
DEADLINES = web.AppKey("watch_deadlines", set)


async def end_watches(app: web.Application) -> None:
    """on_shutdown: end every watch now."""
    now = asyncio.get_running_loop().time()
    for deadline in list(app.get(DEADLINES, ())):
        deadline.reschedule(now)


def _flag(query: Any, name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def parse_resource_version(value: str) -> int | None:
    if value in ("", "0"):
        return None
    if not value.isdigit():
        raise errors.BadRequest(f'invalid resourceVersion "{value}"')
    return int(value)


def bookmark(info: kinds.KindInfo, revision: str, initial_end: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"resourceVersion": revision}
    if initial_end:
        md["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"type": "BOOKMARK", "object": {"kind": info.kind, "apiVersion": info.api_version, "metadata": md}}


class _Encoder:
    """Events as the lines the client asked for: objects, or Tables of one row (columns with the first)."""

    def __init__(self, request: web.Request, info: kinds.KindInfo, rep: str) -> None:
        self.info = info
        self.table = rep == negotiate.TABLE
        self.include = table.include_object(request.query) if self.table else ""
        self.first = True

    def event(self, type_: str, obj: Any) -> bytes:
        if self.table:
            doc = table.table(self.info, [obj], obj.metadata.resource_version, "", self.include, self.first)
            self.first = False
            return dumps({"type": type_, "object": doc}) + b"\n"
        # Every watcher of a change (and every list of it) gets the object's bytes written once.
        return b'{"type":"' + type_.encode() + b'","object":' + WIRE_CACHE.encode(obj, self.info) + b"}\n"

    def raw(self, doc: dict[str, Any]) -> bytes:
        return dumps(doc) + b"\n"


async def _lines(backend: Backend, req: RequestInfo, enc: _Encoder, rv: int | None, bookmarks: bool,
                 initial: bool, match: Any) -> AsyncIterator[bytes]:
    info = req.kind_info
    cache = backend.cache.caches[info.kind]
    namespace = namespace_of(req)
    if initial:
        await cache.ready.wait()
        # Snapshot and watch start with no await between: the watch replays every event after `revision`.
        revision = cache.revision
        snapshot = [o for o in cache.objects.values()
                    if (not namespace or o.metadata.namespace == namespace) and match(o)]
        stream = cache.watch(namespace, match, revision, bookmarks)
        first = asyncio.ensure_future(stream.__anext__())
        for obj in snapshot:
            yield enc.event("ADDED", obj)
        yield enc.raw(bookmark(info, str(revision), initial_end=True))
    else:
        stream = cache.watch(namespace, match, rv, bookmarks)
        first = asyncio.ensure_future(stream.__anext__())
    try:
        message = await first
        while True:
            for ev in api.WatchEvents.FromString(message).events:
                if ev.type == "BOOKMARK":
                    yield enc.raw(bookmark(info, ev.resource_version))
                else:
                    yield enc.event(ev.type, kinds.unwrap(ev.object))
            message = await stream.__anext__()
    except StopAsyncIteration:
        return
    finally:
        if not first.done():
            first.cancel()
        with contextlib.suppress(Exception):
            await stream.aclose()


def _expired(rv: str, e: st.Compacted) -> errors.ApiError:
    err = errors.Gone(f"too old resource version: {rv} ({e.compact_revision})")
    err.reason = "Expired"       # kube-apiserver's reason for a compacted resourceVersion (code 410)
    return err


async def watch(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    q = request.query
    info = req.kind_info
    rep = negotiate.negotiate(request.headers.get("Accept", ""), (negotiate.JSON, negotiate.TABLE))
    rv_text = q.get("resourceVersion", "")
    rv = parse_resource_version(rv_text)
    bookmarks = _flag(q, "allowWatchBookmarks")
    initial = _flag(q, "sendInitialEvents")
    if "sendInitialEvents" in q:
        if q.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.Invalid('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                                 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan')
        if initial and not bookmarks:
            raise errors.Invalid('ListOptions.meta.k8s.io "" is invalid: allowWatchBookmarks: Required value: '
                                 'allowWatchBookmarks must be true when sendInitialEvents is true')
    timeout = int_param(q, "timeoutSeconds")
    match = backend.store.matcher(q.get("labelSelector", ""), q.get("fieldSelector", ""), info.kind)
    enc = _Encoder(request, info, rep)
    lines = _lines(backend, req, enc, rv, bookmarks, initial, match)
    # Start the stream before answering. A resourceVersion older than the watch cache's window is watched from
    # etcd, which may say it is compacted: that is awaited briefly, so it is an HTTP 410, not an ERROR event.
    pending = asyncio.ensure_future(lines.__anext__())
    first_line = b""
    too_old = rv is not None and rv < backend.cache.caches[info.kind].oldest
    try:
        done, _ = await asyncio.wait({pending}, timeout=FIRST_WAIT if too_old else 0)
        if done:
            first_line = pending.result()
    except StopAsyncIteration:
        first_line = b""
    except st.Compacted as e:
        raise _expired(rv_text, e) from None
    resp = web.StreamResponse()
    resp.content_type = negotiate.TABLE_TYPE if enc.table else "application/json"
    if enc.table:
        resp.headers["Content-Type"] = negotiate.TABLE_TYPE
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        async with asyncio.timeout(timeout if timeout and timeout > 0 else DEFAULT_TIMEOUT) as deadline:
            serving = request.app.get(DEADLINES, set())
            serving.add(deadline)
            try:
                if not pending.done():
                    with contextlib.suppress(StopAsyncIteration):
                        first_line = await pending
                if first_line:
                    await resp.write(first_line)
                async for line in lines:
                    await resp.write(line)
            finally:
                serving.discard(deadline)
    except TimeoutError:
        pass
    except st.Compacted as e:
        await resp.write(dumps({"type": "ERROR", "object": status(_expired(rv_text, e))}) + b"\n")
    except errors.ApiError as e:
        await resp.write(dumps({"type": "ERROR", "object": status(e)}) + b"\n")
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as e:  # noqa: BLE001 - the stream ends with what a client re-watches on
        await resp.write(dumps({"type": "ERROR", "object": status(errors.Unavailable(f"watch closed: {e}"))})
                         + b"\n")
    finally:
        if not pending.done():
            pending.cancel()
        await lines.aclose()
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp
