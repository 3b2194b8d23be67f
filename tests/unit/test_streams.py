"""kubelab.streams against a real gRPC server on loopback: errors come out as kubelab.errors, in one place,
so the CLI's streaming verbs (kubectl/logs.py, exec_.py, attach.py, portforward.py, proxy.py) never see gRPC;
and the CLI lists only the verbs it has."""
from __future__ import annotations

import ast
import contextlib
from pathlib import Path
from typing import Any, AsyncIterator

import grpc
import pytest
from click.testing import CliRunner

from kubelab import errors, streams
from kubelab.client import Client
from kubelab.v1 import api_pb2 as api

ROOT = Path(__file__).resolve().parents[2]


async def _logs(request: api.LogsRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[api.LogChunk]:
    if request.name == "gone":
        await context.abort(grpc.StatusCode.NOT_FOUND, 'pods "gone" not found',
                            trailing_metadata=((errors.REASON_KEY, "NotFound"),))
    yield api.LogChunk(data=b"line 1\n")
    yield api.LogChunk(data=b"line 2\n")


async def _proxy(request: api.ProxyRequest, context: grpc.aio.ServicerContext) -> api.ProxyResponse:
    if request.name == "down":
        await context.abort(grpc.StatusCode.UNAVAILABLE, "connection refused",
                            trailing_metadata=((errors.REASON_KEY, "ServiceUnavailable"),))
    return api.ProxyResponse(status=200, body=request.path.encode())


@contextlib.asynccontextmanager
async def api_server() -> AsyncIterator[Client]:
    server = grpc.aio.server()
    ser = lambda m: m.SerializeToString()  # noqa: E731
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kubelab.v1.Api", {
        "Logs": grpc.unary_stream_rpc_method_handler(_logs, api.LogsRequest.FromString, ser),
        "Proxy": grpc.unary_unary_rpc_method_handler(_proxy, api.ProxyRequest.FromString, ser)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with Client(f"127.0.0.1:{port}", retries=0) as client:
            yield client
    finally:
        await server.stop(None)


async def test_logs_stream_chunks_and_translate_errors() -> None:
    async with api_server() as client:
        assert [c async for c in streams.logs(client, api.LogsRequest(name="web"))] == [b"line 1\n", b"line 2\n"]
        with pytest.raises(errors.NotFound) as e:
            [c async for c in streams.logs(client, api.LogsRequest(name="gone"))]
        assert e.value.message == 'pods "gone" not found'


async def test_proxy_answers_and_translates_errors() -> None:
    async with api_server() as client:
        resp = await streams.proxy(client, api.ProxyRequest(name="web", path="/healthz"))
        assert (resp.status, resp.body) == (200, b"/healthz")
        with pytest.raises(errors.ApiError) as e:
            await streams.proxy(client, api.ProxyRequest(name="down", path="/"))
        assert (e.value.reason, e.value.message) == ("ServiceUnavailable", "connection refused")


def test_the_cli_never_touches_grpc() -> None:
    """Errors change form in kubelab (client, streams) only: no CLI module imports grpc or calls a stub."""
    offenders = []
    for path in sorted((ROOT / "kubectl").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "grpc" or n.startswith("grpc.") for n in names):
                offenders.append(f"{path.name}:{node.lineno} imports grpc")
            if isinstance(node, ast.Attribute) and node.attr == "stub":
                offenders.append(f"{path.name}:{node.lineno} uses a stub")
    assert offenders == []


def test_the_command_list_has_the_streaming_verbs_and_no_undefined_ones() -> None:
    from kubectl.main import cli
    result = CliRunner().invoke(cli, ["--help"])
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert {"logs", "exec", "attach", "port-forward", "proxy"} <= listed
    assert not {"cp", "top"} & listed


@pytest.mark.parametrize("verb", ["cp", "top"])
def test_verbs_never_built_are_unknown_commands(verb: str, capfd: Any) -> None:
    from kubectl.main import main
    with pytest.raises(SystemExit) as e:
        main([verb, "x"])
    assert e.value.code == 1
    assert f'unknown command "{verb}" for "kubelab"' in capfd.readouterr().err
