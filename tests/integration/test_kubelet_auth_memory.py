"""The kubelet's streaming server refuses a caller without the apiserver's token before reading its message
(as the apiserver does): ten unauthenticated 100 MiB calls leave the kubelet's memory where it was."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from kubelab.client import channel_options
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc

pytestmark = pytest.mark.integration

SERVER = """
import asyncio, types
from kubelet.streaming import create_server
async def main():
    pods = types.SimpleNamespace(runtime=None, informer=None)       # nothing is ever asked of them here
    server, port, _ = await create_server(pods, "127.0.0.1:0", "the-apiservers-token")
    print(port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


async def test_unauthenticated_calls_are_refused_before_their_message_is_read() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        idle = rss_mib(proc.pid)
        body = b"x" * (100 << 20)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=channel_options()) as ch:
            stub = api_grpc.KubeletStub(ch)
            for token in ("", "wrong") * 5:
                md = (("authorization", f"Bearer {token}"),) if token else ()
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await stub.Proxy(api.ProxyRequest(namespace="default", name="web", body=body), metadata=md,
                                     timeout=60)
                assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "kubelet accepts the apiserver only" in (e.value.details() or "")
        grown = rss_mib(proc.pid) - idle
        assert grown < 50, f"the kubelet grew by {grown:.0f} MiB reading messages it refused"
    finally:
        proc.kill()
        proc.wait()
