"""What a hostile client sends the apiserver, on a real apiserver process and etcd (issue 12, items 1 and 9):
refused before it is read, in Kubernetes' words, with nothing written and one log line at most."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from apiserver.auth import MAX_REQUEST_BYTES
from kubelab import errors
from kubelab.client import Client
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import objects_pb2 as pb

from .conftest import etcd_revision, open_client

MiB = 1024 * 1024
BIG = [("grpc.max_send_message_length", 512 * MiB), ("grpc.max_receive_message_length", 512 * MiB)]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def pod(name: str, annotation_bytes: int = 0) -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name = name
    p.spec.containers.add(name="c", image="i")
    if annotation_bytes:
        p.metadata.annotations["a"] = "x" * annotation_bytes
    return p


def create_bytes(obj: pb.Pod) -> bytes:
    return api.CreateRequest(object=pb.Object(pod=obj)).SerializeToString()


async def raw_call(cluster: dict[str, Any], method: str, body: bytes, token: str | None) -> grpc.aio.AioRpcError:
    """One call with bytes of our choosing (not necessarily a valid message); the error it ended with."""
    async with grpc.aio.insecure_channel(cluster["server"], options=BIG) as ch:
        md = (("authorization", f"Bearer {token}"),) if token is not None else ()
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await ch.unary_unary(f"/kubelab.v1.Api/{method}")(body, metadata=md, timeout=60)
    return e.value


async def test_unauthenticated_requests_are_refused_before_they_are_read(local_cluster: dict[str, Any]) -> None:
    """Ten 200 MiB Creates without a valid token: refused, and the apiserver never holds them (before: its RSS
    rose by 400 MiB a request and stayed there)."""
    pid = local_cluster["pids"]["apiserver"]
    body = create_bytes(pod("huge", 200 * MiB))
    idle = rss_mib(pid)
    for token in [None, "wrong"] * 5:
        err = await raw_call(local_cluster, "Create", body, token)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED and errors.reason_of(err) == "Unauthorized"
    await asyncio.sleep(0.5)
    assert rss_mib(pid) - idle < 50, f"apiserver RSS went from {idle:.0f} to {rss_mib(pid):.0f} MiB"


@pytest.mark.parametrize("size", [4 * MiB, 200 * MiB], ids=["4MiB", "200MiB"])
async def test_a_request_over_3_mib_is_request_entity_too_large(local_cluster: dict[str, Any], size: int) -> None:
    pid = local_cluster["pids"]["apiserver"]
    rev = await etcd_revision(local_cluster)
    idle = rss_mib(pid)
    async with open_client(local_cluster) as c:
        with pytest.raises(errors.RequestEntityTooLarge) as e:
            await c.create(pod("too-big", size))
        assert e.value.message == f"Request entity too large: limit is {MAX_REQUEST_BYTES}"
        assert (await c.get("Namespace", "default")).metadata.name == "default"   # the channel still works
    assert await etcd_revision(local_cluster) == rev
    assert rss_mib(pid) - idle < 50


async def test_pipelined_writes_past_the_limit(local_cluster: dict[str, Any]) -> None:
    """A stream of writes adding up to more than 3 MiB goes in several batches, and one write over the limit
    gets its own 413 without breaking the writes around it."""
    async with Client(local_cluster["server"], local_cluster["token"], pipeline=True) as c:
        small = [c.create(pod(f"batched-{i}", 30 * 1024)) for i in range(150)]       # 4.5 MiB in all
        results = await asyncio.gather(c.create(pod("too-big-piped", 4 * MiB)), *small, return_exceptions=True)
        assert isinstance(results[0], errors.RequestEntityTooLarge), results[0]
        assert all(isinstance(r, pb.Pod) for r in results[1:]), [r for r in results[1:] if not isinstance(r, pb.Pod)]
        for i in range(150):
            await c.delete("Pod", f"batched-{i}", grace_period_seconds=0)


LONG_NAME = "a" * 10_000


async def test_a_long_name_is_invalid_in_kubernetes_words(local_cluster: dict[str, Any]) -> None:
    rev = await etcd_revision(local_cluster)
    async with open_client(local_cluster) as c:
        with pytest.raises(errors.Invalid) as e:
            await c.create(pod(LONG_NAME))
    assert 'metadata.name: Invalid value: "aaaa' in e.value.message
    assert "must be no more than 253 characters" in e.value.message
    assert await etcd_revision(local_cluster) == rev


@pytest.mark.parametrize("name", [LONG_NAME, "b" * (2 * MiB)], ids=["10k", "2MiB"])
@pytest.mark.parametrize("verb", ["get", "delete", "patch"])
async def test_a_name_no_object_can_have_is_a_bad_request(local_cluster: dict[str, Any], name: str,
                                                          verb: str) -> None:
    async with open_client(local_cluster) as c:
        call = {"get": lambda: c.get("Pod", name),
                "delete": lambda: c.delete("Pod", name),
                "patch": lambda: c.patch("Pod", name, {"metadata": {"labels": {"a": "b"}}})}[verb]
        with pytest.raises(errors.BadRequest) as e:
            await call()
    assert e.value.message.startswith('Name parameter invalid: "' + name[:100])
    assert e.value.message.endswith('...": must be no more than 253 characters')


async def test_a_long_selector_is_a_bad_request(local_cluster: dict[str, Any]) -> None:
    async with open_client(local_cluster) as c:
        with pytest.raises(errors.BadRequest) as e:
            await c.list("Pod", label_selector="app=" + "x" * 100_000)
    assert e.value.message.startswith("unable to parse requirement: invalid selector 'app=xxx")
    assert e.value.message.endswith("for key 'app': must be no more than 63 characters")


async def test_malformed_protobuf_is_a_bad_request_with_one_log_line(local_cluster: dict[str, Any]) -> None:
    log = Path(local_cluster["state_path"]) / "logs" / "apiserver.log"
    before = log.read_text(errors="replace")
    err = await raw_call(local_cluster, "Create", b"\xff\xff\xff\xff", local_cluster["token"])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and errors.reason_of(err) == "BadRequest"
    assert "could not be decoded as kubelab.v1.CreateRequest" in (err.details() or "")
    await asyncio.sleep(0.2)
    added = log.read_text(errors="replace")[len(before):]
    lines = added.strip().splitlines()
    assert len(lines) == 1 and "malformed kubelab.v1.CreateRequest request" in lines[0], added


async def test_a_nodes_pod_cidr_is_set_once(local_cluster: dict[str, Any]) -> None:
    """Issue 12 item 10: podCIDR could be changed once set; Kubernetes allows only "" to a range."""
    async with open_client(local_cluster) as c:
        node = pb.Node(api_version="v1", kind="Node")
        node.metadata.name = "cidr-node"
        await c.create(node)
        set_once = await c.patch("Node", "cidr-node", {"spec": {"podCIDR": "10.244.1.0/24",
                                                                "podCIDRs": ["10.244.1.0/24"]}})
        assert set_once.spec.pod_cidr == "10.244.1.0/24"
        rev = await etcd_revision(local_cluster)
        for change in ({"podCIDR": "10.244.2.0/24", "podCIDRs": ["10.244.2.0/24"]}, {"podCIDR": "10.244.2.0/24"},
                       {"podCIDRs": ["10.244.1.0/24", "fd00::/64"]}):
            with pytest.raises(errors.Invalid) as e:
                await c.patch("Node", "cidr-node", {"spec": change})
            assert e.value.message == ('Node "cidr-node" is invalid: spec.podCIDRs: Forbidden: node updates may not '
                                       'change podCIDR except from "" to valid')
        assert await etcd_revision(local_cluster) == rev
        same = await c.patch("Node", "cidr-node", {"spec": {"unschedulable": True}})   # other changes still go
        assert same.spec.pod_cidr == "10.244.1.0/24" and same.spec.unschedulable
        await c.delete("Node", "cidr-node")


@pytest.mark.parametrize("verb", ["list", "watch", "create", "update"])
async def test_a_namespace_no_object_can_have_is_a_bad_request(local_cluster: dict[str, Any], verb: str) -> None:
    """A 2 MiB namespace became an etcd key too large for etcd (InternalError), or a watch that waited forever."""
    namespace = "n" * (2 * MiB)
    async with open_client(local_cluster) as c:
        with pytest.raises(errors.BadRequest) as e:
            async with asyncio.timeout(30):
                if verb == "list":
                    await c.list("Pod", namespace=namespace)
                elif verb == "watch":
                    async for _ in c.watch("Pod", namespace=namespace):
                        break
                else:
                    p = pod("p")
                    p.metadata.namespace = namespace
                    await (c.create(p) if verb == "create" else c.update(p))
    assert e.value.message.startswith('Namespace parameter invalid: "nnnn')
    assert e.value.message.endswith('...": must be no more than 253 characters')


async def test_every_kind_of_call_is_refused_without_a_token(local_cluster: dict[str, Any]) -> None:
    """The refusal is a streaming handler whatever the method's shape: unary, server-streaming (Watch) and
    bidirectional (Writes) calls all hear Unauthorized."""
    async with Client(local_cluster["server"], "wrong") as c:
        with pytest.raises(errors.Unauthenticated):
            await c.list("Pod")
        with pytest.raises(errors.Unauthenticated):
            async for _ in c.watch("Pod"):
                break
    async with Client(local_cluster["server"], "wrong", pipeline=True) as c:
        with pytest.raises(errors.Unauthenticated):
            await c.create(pod("piped"))


async def test_a_malformed_message_in_a_stream_is_a_bad_request(local_cluster: dict[str, Any]) -> None:
    """The same for a pipelined Writes stream: the stream ends BadRequest, not UNKNOWN."""
    async with grpc.aio.insecure_channel(local_cluster["server"]) as ch:
        call = ch.stream_stream("/kubelab.v1.Api/Writes")(
            metadata=(("authorization", f"Bearer {local_cluster['token']}"),), timeout=30)
        await call.write(b"\xff\xff\xff\xff")
        await call.done_writing()
        with pytest.raises(grpc.aio.AioRpcError) as e:
            async for _ in call:
                pass
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and errors.reason_of(e.value) == "BadRequest"
    assert "could not be decoded as kubelab.v1.WriteBatch" in (e.value.details() or "")
