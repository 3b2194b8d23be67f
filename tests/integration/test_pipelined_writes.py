"""Pipelined writes and batched watch messages against the real apiserver and etcd.

A component's writes on the Writes stream are each a request of their own:
validated (bad input refused with the unary call's words, nothing stored),
one etcd revision each, watched once each and in order. A watcher that is
behind gets its backlog in few gRPC messages. An apiserver restart breaks
the stream; the client's next write opens a new one.
"""
from __future__ import annotations

import asyncio
from typing import Any

from kubelab import errors
from lab import local as launcher
from kubelab.client import Client, new_object
from kubelab.v1 import api_pb2 as api

from .conftest import etcd_revision

NS = "pipelined"


def pod(name: str, image: str = "kubelab/busybox") -> Any:
    p = new_object("Pod", name, NS)
    p.spec.containers.add(name="c", image=image)
    return p


async def outcome(call: Any) -> tuple[str, str]:
    try:
        obj = await call
    except errors.ApiError as e:
        return type(e).__name__, e.message
    return "ok", obj.metadata.name


async def _namespace(c: Client) -> None:
    try:
        await c.create(new_object("Namespace", NS))
    except errors.AlreadyExists:
        pass


async def test_bad_input_gets_the_unary_calls_answer_and_changes_nothing(local_cluster: dict[str, Any]) -> None:
    async with Client(local_cluster["server"], local_cluster["token"]) as unary, \
            Client(local_cluster["server"], local_cluster["token"], pipeline=True) as pipelined:
        await _namespace(unary)
        await unary.create(pod("exists"))
        bad_port = pod("bad-port")
        bad_port.spec.containers[0].ports.add(container_port=70000)
        stale = await unary.get("Pod", "exists", NS)
        newer = await unary.get("Pod", "exists", NS)
        newer.metadata.labels["v"] = "2"
        await unary.update(newer)                      # `stale` is now one version behind
        cases = [
            lambda c: c.create(pod("Bad_Name")),
            lambda c: c.create(bad_port),
            lambda c: c.create(pod("exists")),
            lambda c: c.update(stale),
            lambda c: c.bind(NS, "missing", "node-1"),
            lambda c: c.delete("Pod", "missing", NS),
            lambda c: c.patch("Pod", "exists", {"spec": {"nodeName": 7}}, NS, patch_type="merge"),
        ]
        by_call = [await outcome(case(unary)) for case in cases]
        before = await etcd_revision(local_cluster)
        by_stream = [await outcome(case(pipelined)) for case in cases]
        assert await etcd_revision(local_cluster) == before
        assert by_stream == by_call
        assert [k for k, _ in by_stream] == ["Invalid", "Invalid", "AlreadyExists", "Conflict", "NotFound",
                                             "NotFound", "Invalid"]
        assert "spec.containers[0].ports[0].containerPort" in by_stream[1][1]


async def test_a_burst_of_writes_each_gets_its_revision_and_one_event(local_cluster: dict[str, Any]) -> None:
    async with Client(local_cluster["server"], local_cluster["token"], pipeline=True) as c:
        await _namespace(c)
        _, start = await c.list("Pod", NS)
        created = await asyncio.gather(*(c.create(pod(f"burst-{i:04d}")) for i in range(1000)))
        bound = await asyncio.gather(*(c.bind(NS, p.metadata.name, f"node-{i % 7}") for i, p in enumerate(created)))
        revisions = [int(p.metadata.resource_version) for p in created + bound]
        assert len(set(revisions)) == 2000
        assert {p.spec.node_name for p in bound} == {f"node-{i}" for i in range(7)}

        # Once the apiserver's watch cache holds them all (one watcher has seen them), a watcher 2,000 events
        # behind gets every event once, in revision order, in few messages.
        seen = 0
        async for _ in c.watch("Pod", NS, resource_version=start):
            seen += 1
            if seen == 2000:
                break
        call = c.stub.Watch(api.WatchRequest(kind="Pod", namespace=NS, resource_version=start),
                            metadata=c.metadata)
        messages, events = 0, []
        while len(events) < 2000:
            msg = await asyncio.wait_for(call.read(), 30)
            messages += 1
            events += [(e.type, int(e.object.pod.metadata.resource_version)) for e in msg.events]
        call.cancel()
        assert [rv for _, rv in events] == sorted(revisions)
        assert [t for t, _ in events].count("ADDED") == 1000 and [t for t, _ in events].count("MODIFIED") == 1000
        assert messages < 100, messages


async def test_the_next_write_after_an_apiserver_restart_opens_a_new_stream(local_cluster: dict[str, Any]) -> None:
    async with Client(local_cluster["server"], local_cluster["token"], pipeline=True) as c:
        await _namespace(c)
        await c.create(pod("before-restart"))
        launcher.restart_component("apiserver", local_cluster["state_path"])
        await launcher._wait_api(local_cluster["server"], local_cluster["token"])
        after = await c.create(pod("after-restart"))
        assert after.metadata.resource_version
        names = {p.metadata.name for p in (await c.list("Pod", NS))[0]}
        assert {"before-restart", "after-restart"} <= names
