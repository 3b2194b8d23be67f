"""Pipelined writes (kubelab.pipeline, the apiserver's Writes stream) over real gRPC, against a stand-in store.

What a caller sees must not depend on the transport: the object written,
or the same error (class and message) the unary call gives. Writes asked
together travel in few messages; a broken stream fails what it carried as
Unavailable and the next write opens a new one; a bad token is refused,
not retried.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any, AsyncIterator

import pytest

from apiserver.grpc_transport import method_handlers, new_grpc_server
from apiserver.server import ApiService, Config
from kubelab import errors
from kubelab.client import Client, new_object
from lab.local import free_port

TOKEN = "t0ken"


class Store:
    """Create, update and bind over a dict, each after a short random pause (so answers come out of order).
    `hold` makes writes wait until it is set; a pod named `boom` is a bug in the store."""

    def __init__(self) -> None:
        self.objs: dict[tuple[str, str, str], Any] = {}
        self.revision = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.active = self.peak = 0

    async def _pause(self) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(random.random() * 0.005)
            await self.hold.wait()
        finally:
            self.active -= 1

    def _stored(self, obj: Any) -> Any:
        self.revision += 1
        out = type(obj)()
        out.CopyFrom(obj)
        out.metadata.resource_version = str(self.revision)
        self.objs[(obj.kind, obj.metadata.namespace, obj.metadata.name)] = out
        return out

    async def create(self, obj: Any, dry_run: bool = False) -> Any:
        await self._pause()
        if obj.metadata.name == "boom":
            raise RuntimeError("a bug in the store")
        if (obj.kind, obj.metadata.namespace, obj.metadata.name) in self.objs:
            raise errors.AlreadyExists(f'pods "{obj.metadata.name}" already exists')
        return self._stored(obj)

    async def get(self, kind: str, namespace: str, name: str) -> Any:
        if kind == "ServiceAccount":          # every namespace has its ServiceAccounts (the pod admission's read)
            return new_object(kind, name, namespace)
        raise errors.NotFound(f'{kind.lower()}s "{name}" not found')

    async def update(self, obj: Any, subresource: str = "", dry_run: bool = False) -> Any:
        await self._pause()
        cur = self.objs.get((obj.kind, obj.metadata.namespace, obj.metadata.name))
        if cur is None:
            raise errors.NotFound(f'pods "{obj.metadata.name}" not found')
        if obj.metadata.resource_version != cur.metadata.resource_version:
            raise errors.Conflict(f'Operation cannot be fulfilled on pods "{obj.metadata.name}": the object has '
                                  f'been modified; please apply your changes to the latest version and try again')
        return self._stored(obj)

    async def bind(self, namespace: str, name: str, node: str, uid: str) -> Any:
        await self._pause()
        cur = self.objs.get(("Pod", namespace, name))
        if cur is None:
            raise errors.NotFound(f'pods "{name}" not found')
        if cur.spec.node_name:
            raise errors.Conflict(f'pod {name} is already assigned to node "{cur.spec.node_name}"')
        pod = type(cur)()
        pod.CopyFrom(cur)
        pod.spec.node_name = node
        return self._stored(pod)


class Service(ApiService):
    """The apiserver's service, counting the requests in each message of a Writes stream."""
    batches: list[int]

    async def Writes(self, request_iterator: Any, context: Any) -> Any:
        async def counted() -> Any:
            async for batch in request_iterator:
                self.batches.append(len(batch.requests))
                yield batch
        async for out in super().Writes(counted(), context):
            yield out


@contextlib.asynccontextmanager
async def api(store: Store, port: int = 0) -> AsyncIterator[tuple[Service, Any, int]]:
    svc = Service(store, None, Config())  # type: ignore[arg-type]   # Writes needs no watch cache
    svc.batches = []
    server = new_grpc_server(TOKEN)
    server.add_generic_rpc_handlers((method_handlers(svc),))
    port = server.add_insecure_port(f"127.0.0.1:{port or free_port()}")
    await server.start()
    try:
        yield svc, server, port
    finally:
        await server.stop(0)


def pod(name: str) -> Any:
    p = new_object("Pod", name, "default")
    p.spec.containers.add(name="c", image="kubelab/busybox")
    return p


async def outcome(call: Any) -> tuple[str, str]:
    """What a caller sees: ("ok", name@node) or (error class, message)."""
    try:
        obj = await call
    except errors.ApiError as e:
        return type(e).__name__, e.message
    return "ok", f"{obj.metadata.name}@{obj.spec.node_name}"


async def test_each_write_gets_its_own_answer_and_they_travel_together() -> None:
    async with api(Store()) as (svc, _, port), Client(f"127.0.0.1:{port}", TOKEN, pipeline=True) as c:
        names = [f"p{i}" for i in range(300)]
        created = await asyncio.gather(*(c.create(pod(n)) for n in names))
        assert [p.metadata.name for p in created] == names
        assert len({p.metadata.resource_version for p in created}) == 300
        again = await asyncio.gather(*(outcome(c.create(pod(n))) for n in names[:5]))
        assert again == [("AlreadyExists", f'pods "{n}" already exists') for n in names[:5]]
        assert sum(svc.batches) == 305
        assert len(svc.batches) < 100, svc.batches      # asked together, sent together


async def test_answers_and_errors_are_the_unary_calls() -> None:
    async def story(c: Client, prefix: str) -> list[tuple[str, str]]:
        first = await c.create(pod(f"{prefix}a"))
        stale = type(first)()
        stale.CopyFrom(first)
        await c.update(first)
        return [
            await outcome(c.create(pod(f"{prefix}a"))),
            await outcome(c.update(stale)),
            await outcome(c.update(pod(f"{prefix}missing"))),
            await outcome(c.bind("default", f"{prefix}a", "node-1")),
            await outcome(c.bind("default", f"{prefix}a", "node-2")),
            await outcome(c.bind("default", f"{prefix}nope", "node-1")),
        ]
    async with api(Store()) as (_, _, port):
        async with Client(f"127.0.0.1:{port}", TOKEN) as unary, \
                Client(f"127.0.0.1:{port}", TOKEN, pipeline=True) as pipelined:
            by_call = await story(unary, "u-")
            by_stream = await story(pipelined, "s-")
    assert [(k, m.replace("u-", "")) for k, m in by_call] == [(k, m.replace("s-", "")) for k, m in by_stream]
    assert [k for k, _ in by_stream] == ["AlreadyExists", "Conflict", "NotFound", "ok", "Conflict", "NotFound"]


async def test_a_stream_has_a_bounded_number_of_writes_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    import apiserver.grpc_transport
    monkeypatch.setattr(apiserver.grpc_transport, "MAX_WRITES_IN_FLIGHT", 5)
    store = Store()
    async with api(store) as (_, _, port), Client(f"127.0.0.1:{port}", TOKEN, pipeline=True) as c:
        store.hold.clear()
        writes = asyncio.gather(*(c.create(pod(f"p{i}")) for i in range(40)))
        await asyncio.sleep(0.3)
        assert store.active == 5
        store.hold.set()
        assert len(await writes) == 40
        assert store.peak == 5


async def test_a_failing_write_does_not_end_the_stream() -> None:
    async with api(Store()) as (_, _, port), Client(f"127.0.0.1:{port}", TOKEN, pipeline=True) as c:
        with pytest.raises(errors.ApiError) as failed:
            await c.create(pod("boom"))
        assert "a bug in the store" in failed.value.message
        assert (await c.create(pod("after"))).metadata.name == "after"


async def test_a_broken_stream_fails_its_writes_and_the_next_write_opens_another() -> None:
    store, port = Store(), free_port()
    async with Client(f"127.0.0.1:{port}", TOKEN, retries=0, pipeline=True) as c:
        async with api(store, port) as (_, server, _):
            await c.create(pod("before"))
            store.hold.clear()
            in_flight = asyncio.create_task(c.create(pod("in-flight")))
            await asyncio.sleep(0.2)
            await server.stop(0)
            with pytest.raises(errors.Unavailable):
                await asyncio.wait_for(in_flight, 10)
        store.hold.set()
        async with api(store, port):
            assert (await c.create(pod("after"))).metadata.name == "after"


async def test_a_wrong_token_is_refused_at_once() -> None:
    async with api(Store()) as (_, _, port), Client(f"127.0.0.1:{port}", "wrong", pipeline=True) as c:
        with pytest.raises(errors.Unauthenticated):
            await asyncio.wait_for(c.update(pod("x")), 10)     # idempotent, yet not retried


async def test_a_write_past_its_deadline_is_a_timeout() -> None:
    store = Store()
    async with api(store) as (_, _, port), Client(f"127.0.0.1:{port}", TOKEN, pipeline=True) as c:
        assert c.pipeline is not None
        store.hold.clear()
        with pytest.raises(errors.Timeout):
            await c.pipeline.write("create", _create_request(pod("slow")), timeout=0.2)
        store.hold.set()
        assert (await c.create(pod("fast"))).metadata.name == "fast"


def _create_request(obj: Any) -> Any:
    from kubelab import kinds
    from kubelab.v1 import api_pb2
    return api_pb2.CreateRequest(object=kinds.wrap(obj))


async def test_a_refused_stream_is_always_reported_as_the_refusal() -> None:
    """Had the client written its batch while the apiserver was refusing the stream, grpc.aio would sometimes
    report "Internal error from Core" (Unavailable here) instead of Unauthorized: it waits for the stream's
    acceptance first, so every one of many fresh streams hears the refusal."""
    async with api(Store()) as (_, _, port):
        for n in range(150):
            async with Client(f"127.0.0.1:{port}", "wrong", pipeline=True) as c:
                with pytest.raises(errors.Unauthenticated):
                    await asyncio.wait_for(c.create(pod(f"p{n}")), 10)
