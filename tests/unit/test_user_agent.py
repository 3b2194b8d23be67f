"""Every process names itself in its requests (kubelab.client.set_user_agent), as Kubernetes' components do:
the user agent a real gRPC server sees is the component's."""
from __future__ import annotations

from typing import Any

import grpc

from kubelab import client
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc


class Recorder(api_grpc.ApiServicer):
    def __init__(self) -> None:
        self.agents: list[str] = []

    async def Version(self, req: api.VersionRequest, context: Any) -> api.VersionInfo:
        self.agents.append(dict(context.invocation_metadata()).get("user-agent", ""))
        return api.VersionInfo()


async def test_a_component_is_named_in_the_user_agent_the_server_sees() -> None:
    server = grpc.aio.server()
    rec = Recorder()
    api_grpc.add_ApiServicer_to_server(rec, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    old = client.user_agent()
    try:
        client.set_user_agent("kube-scheduler")
        async with client.Client(f"127.0.0.1:{port}", retries=0) as c:
            await c.stub.Version(api.VersionRequest())
    finally:
        client._user_agent[0] = old
        await server.stop(None)
    assert rec.agents[0].startswith("kube-scheduler/v")
    assert "(linux/amd64) kubelab" in rec.agents[0]


def test_each_component_sets_its_own() -> None:
    """The mains name themselves as Kubernetes' do (a new component that forgets fails here)."""
    want = {"scheduler/main.py": "kube-scheduler", "controller_manager/main.py": "kube-controller-manager",
            "kubelet/main.py": "kubelet", "proxy/main.py": "kube-proxy", "dns/main.py": "kubelab-dns",
            "apiserver/main.py": "kube-apiserver", "kubectl/main.py": "kubelab"}
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    for path, agent in want.items():
        assert f'set_user_agent("{agent}")' in (root / path).read_text(), path
