"""kubelab.client with several apiservers ("a:6443,b:6443", as the highly available lab's clients have): a call
that finds its apiserver gone goes to the next one, reads and writes alike, and the client stays there.

The apiservers here are real gRPC servers on loopback answering a few verbs (the real apiserver's failover
is in tests/e2e/test_ha.py); the "gone" one is a port nothing listens on, or a server stopped mid-way.
"""
from __future__ import annotations

from typing import Any, AsyncIterator

import grpc
import pytest

from kubelab import errors, kinds
from kubelab.client import Client, new_object, split_servers
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc
from lab.local import free_port


class _Api(api_grpc.ApiServicer):
    """Answers Version with its name, Create by echoing the object, Get of "missing" with NotFound."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.created: list[str] = []

    async def Version(self, request: Any, context: Any) -> api.VersionInfo:
        return api.VersionInfo(git_version=self.name)

    async def Create(self, request: Any, context: Any) -> Any:
        self.created.append(kinds.unwrap(request.object).metadata.name)
        return request.object

    async def List(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNAVAILABLE, "storage unavailable: etcd list: context deadline exceeded",
                            trailing_metadata=((errors.REASON_KEY, "ServiceUnavailable"),))

    async def Get(self, request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.NOT_FOUND, f'pods "{request.name}" not found',
                            trailing_metadata=((errors.REASON_KEY, "NotFound"),))


async def _serve(name: str) -> tuple[grpc.aio.Server, str, _Api]:
    server = grpc.aio.server()
    servicer = _Api(name)
    api_grpc.add_ApiServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}", servicer


def _closed_port() -> str:
    """An address nothing listens on."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
async def second() -> AsyncIterator[tuple[grpc.aio.Server, str, _Api]]:
    served = await _serve("second")
    yield served
    await served[0].stop(0)


def test_server_lists_split_on_commas() -> None:
    assert split_servers("apiserver:6443") == ["apiserver:6443"]
    assert split_servers("apiserver:6443, apiserver2:6443") == ["apiserver:6443", "apiserver2:6443"]


async def test_a_read_goes_to_the_next_apiserver_and_stays_there(second: Any) -> None:
    _, address, _ = second
    dead = _closed_port()
    async with Client(f"{dead},{address}", retries=0) as c:
        assert (await c.version()).git_version == "second"
        assert c.current_server == address
        assert (await c.version()).git_version == "second"


async def test_a_create_the_first_apiserver_never_saw_is_sent_to_the_next(second: Any) -> None:
    _, address, servicer = second
    async with Client(f"{_closed_port()},{address}", retries=3) as c:
        created = await c.create(new_object("Namespace", "cm"))
        assert created.metadata.name == "cm"
        assert servicer.created == ["cm"]          # once: the dead one had none of it


async def test_an_answer_from_the_apiserver_is_no_reason_to_leave_it(second: Any) -> None:
    _, address, _ = second
    async with Client(f"{address},{_closed_port()}", retries=3) as c:
        with pytest.raises(errors.NotFound):
            await c.get("Pod", "missing")
        assert c.current_server == address


async def test_when_the_apiserver_in_use_goes_the_client_follows_to_the_other(second: Any) -> None:
    first, first_address, _ = await _serve("first")
    _, address, _ = second
    async with Client(f"{first_address},{address}", retries=3) as c:
        assert (await c.version()).git_version == "first"
        await first.stop(0)
        assert (await c.version()).git_version == "second"


async def test_a_single_apiserver_unreachable_is_unavailable_after_the_retries() -> None:
    async with Client(_closed_port(), retries=1) as c:
        with pytest.raises(errors.Unavailable):
            await c.version()


async def test_an_apiserver_answering_503_is_kept(second: Any) -> None:
    """Its etcd has no quorum: the other apiserver shares that etcd, so the client stays and says so."""
    _, address, _ = second
    async with Client(f"{address},{_closed_port()}", retries=1) as c:
        with pytest.raises(errors.Unavailable) as e:
            await c.list("Pod")
        assert "storage unavailable" in e.value.message
        assert c.current_server == address
