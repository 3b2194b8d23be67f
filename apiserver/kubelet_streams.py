"""The apiserver's side of the streaming verbs (logs, exec, port-forward, the pod proxy over gRPC): find the
pod's kubelet, relay the stream to it, and report a kubelet that cannot be reached in kube-apiserver's words.
`KubeletStreams` is part of apiserver.server.ApiService (it uses its store, gate and config).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import grpc

from kubelab import errors, nodes, streams
from kubelab.client import STREAM_ACCEPTED, channel_options
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc

from .checks import abort, check_path
from .grpc_transport import call_metadata, translate


@dataclass(frozen=True)
class _Kubelet:
    """A pod's kubelet, as the streaming handlers call it."""
    stub: api_grpc.KubeletStub
    metadata: tuple[tuple[str, str], ...]
    node: str
    address: str


# Per streaming verb: what a pod on a hollow node lacks (its containers are simulated).
_NOTHING_ON_HOLLOW_NODES = {
    "logs": "there are no logs to read",
    "exec": "there is no container to run a command in",
    "port-forward": "there is no port to forward to",
    "proxy": "there is no server to proxy to",
}


def kubelet_error(e: grpc.aio.AioRpcError, kubelet: _Kubelet | None, pod: str) -> errors.ApiError:
    """A failed call to a kubelet, as the API reports it.

    The kubelet's own refusals (no such container, a pod port nobody listens on) carry a reason and pass
    through unchanged. Anything without one means the kubelet was never reached: it is down, or something
    else answers on its port (then gRPC's text is e.g. `Received http2 header with status: 404`), which
    kube-apiserver reports as a ServiceUnavailable dialing error.
    """
    if errors.reason_of(e) or kubelet is None:
        return errors.from_rpc_error(e)
    return errors.Unavailable(f'error trying to reach the kubelet of node "{kubelet.node}" at {kubelet.address} '
                              f'for pod "{pod}": {e.details() or e.code().name}')


class KubeletStreams:
    """ApiService's streaming handlers: what they need of it is `store`, `gate` and `config`."""
    store: Any
    gate: Any
    config: Any
    _kubelet_channels: dict[str, grpc.aio.Channel]

    async def _kubelet(self, namespace: str, name: str, verb: str) -> _Kubelet:
        """The kubelet of a pod's node, or an error saying why `verb` cannot reach one."""
        check_path(namespace, name)
        pod = await self.store.get("Pod", namespace, name)
        if not pod.spec.node_name:
            raise errors.BadRequest(f'pod {name} does not have a host assigned')
        node = await self.store.get("Node", "", pod.spec.node_name)
        if nodes.is_simulated(node):     # it advertises a kubelet port, but nothing would answer there
            raise errors.BadRequest(f'pod "{name}" runs on hollow node "{node.metadata.name}": its containers are '
                                    f'simulated, {_NOTHING_ON_HOLLOW_NODES[verb]}')
        target = nodes.kubelet_address(node)
        if target is None:
            raise errors.BadRequest(f'node {node.metadata.name} has no kubelet endpoint')
        ch = self._kubelet_channels.get(target)
        if ch is None:
            ch = self._kubelet_channels[target] = grpc.aio.insecure_channel(target, options=channel_options())
        md = (("authorization", f"Bearer {self.config.kubelet_token}"),) if self.config.kubelet_token else ()
        return _Kubelet(api_grpc.KubeletStub(ch), md, node.metadata.name, target)

    async def _abort(self, context: Any, e: Exception, kubelet: _Kubelet | None, pod: str) -> None:
        if isinstance(e, grpc.aio.AioRpcError):
            e = kubelet_error(e, kubelet, pod)
        if isinstance(e, errors.ApiError):
            await abort(context, e)
        raise e

    async def Logs(self, req: api.LogsRequest, context: Any) -> AsyncIterator[api.LogChunk]:
        kubelet: _Kubelet | None = None
        try:
            self.gate.admit_call("logs", req, call_metadata(context))
            kubelet = await self._kubelet(req.namespace, req.name, "logs")
            async for chunk in kubelet.stub.Logs(req, metadata=kubelet.metadata):
                yield chunk
        except (errors.ApiError, grpc.aio.AioRpcError) as e:
            await self._abort(context, e, kubelet, req.name)

    async def _relay(self, request_iterator: Any, context: Any, method: str, verb: str,
                     start_of: Callable[[Any], Any]) -> AsyncIterator[Any]:
        kubelet: _Kubelet | None = None
        name = ""
        try:
            first = await request_iterator.__anext__()
            start = start_of(first)
            name = start.name
            self.gate.admit_call(method, start, call_metadata(context))
            kubelet = await self._kubelet(start.namespace, start.name, verb)

            # Written as the CLI writes its own (kubelab.streams.feed): the start at once, the caller's input
            # only once the kubelet has accepted the stream, so its refusal is what the caller hears, never
            # grpc's "Internal error from Core" for an input written under the refusal. The apiserver is
            # accepted once the kubelet is (the container runs, the port answers): only then does the client
            # send more.
            call = getattr(kubelet.stub, method)(metadata=kubelet.metadata)
            feeding = asyncio.ensure_future(streams.feed(call, first, request_iterator))
            try:
                if STREAM_ACCEPTED in tuple(await call.initial_metadata() or ()):
                    await context.send_initial_metadata((STREAM_ACCEPTED,))
                async for out in call:
                    yield out
            finally:
                feeding.cancel()     # a refused caller never half-closes: its input is no longer read
        except StopAsyncIteration:
            return
        except (errors.ApiError, grpc.aio.AioRpcError) as e:
            # Any error is the kubelet's failure (its clean end is the `end` message relayed above, answered
            # by the caller's own `end` and half-close, which `feeding` relays: api.proto's explicit close).
            await self._abort(context, e, kubelet, name)

    # grpc.aio needs the handler itself to be an async generator, not a function returning one.
    async def Exec(self, request_iterator: Any, context: Any) -> AsyncIterator[api.ExecOutput]:
        async for out in self._relay(request_iterator, context, "Exec", "exec", lambda m: m.start):
            yield out

    async def PortForward(self, request_iterator: Any, context: Any) -> AsyncIterator[api.PortForwardOutput]:
        async for out in self._relay(request_iterator, context, "PortForward", "port-forward", lambda m: m.start):
            yield out

    @translate
    async def Proxy(self, req: api.ProxyRequest, context: Any) -> api.ProxyResponse:
        kubelet = await self._kubelet(req.namespace, req.name, "proxy")
        try:
            return await kubelet.stub.Proxy(req, metadata=kubelet.metadata, timeout=60)
        except grpc.aio.AioRpcError as e:
            raise kubelet_error(e, kubelet, req.name) from None
