"""A no-op API server: the ceiling for any API server built on Python's gRPC, as kubelab's is.

It serves the API service on the very transport kubelab-apiserver uses
(`apiserver.grpc_transport.new_grpc_server`: message limits, keepalive, the
bearer-token check) and the same wire types, but does no work: Create and
Update echo the object back, Bind answers the pod's name and node, and the
Writes stream (pipelined writes) answers each of its requests so. No validation, no
etcd, no watch cache. The benchmarks run it beside the real apiserver and raw
etcd in one run, so their figures show how much of an API call's cost is the
RPC itself, which no change to the apiserver's own code can remove.

    python -m bench.noop_apiserver PORT TOKEN
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc

from apiserver.grpc_transport import new_grpc_server, serve_writes, unary_handler
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import objects_pb2 as pb


async def echo_object(req: Any, context: Any) -> pb.Object:
    return req.object


async def bound_pod(req: Any, context: Any) -> pb.Object:
    pod = pb.Pod(api_version="v1", kind="Pod")
    pod.metadata.namespace, pod.metadata.name, pod.spec.node_name = req.namespace, req.name, req.node_name
    return pb.Object(pod=pod)


async def pipelined(item: api.WriteRequest) -> api.WriteResult:
    op = item.WhichOneof("op")
    req = getattr(item, op)
    return api.WriteResult(id=item.id, object=await (bound_pod if op == "bind" else echo_object)(req, None))


async def writes(request_iterator: Any, context: Any) -> Any:
    async for out in serve_writes(request_iterator, pipelined):
        yield out


async def serve(port: int, token: str) -> None:
    server = new_grpc_server(token)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("kubelab.v1.Api", {
        "Create": unary_handler(echo_object, api.CreateRequest),
        "Update": unary_handler(echo_object, api.UpdateRequest),
        "Bind": unary_handler(bound_pod, api.BindRequest),
        "Writes": grpc.stream_stream_rpc_method_handler(writes, request_deserializer=api.WriteBatch.FromString,
                                                        response_serializer=lambda m: m.SerializeToString()),
    }),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
