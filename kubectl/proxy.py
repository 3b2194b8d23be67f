"""`kubelab proxy`: a local HTTP server that turns URLs into API calls.

    proxy [--port 8001]   /version, /healthz, discovery (/, /api, /apis, /api/v1, /apis/G/V: kubectl/discovery.py),
                          objects as JSON, /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH (and the older
                          /api/v1/proxy/namespaces/NS/pods/NAME/PATH), relayed by kubelab.streams.proxy
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import click

from kubectl.context import CLIError, global_options, out, run
from kubectl.podref import resolve_pod, target_port


_POD_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/(pods|services)/([^/]+)/proxy(/.*)?$")
# The form Kubernetes served before 1.10, which older tutorials (seeds 002 and 004) still type.
_LEGACY_PROXY = re.compile(r"^/api/v1/proxy/namespaces/([^/]+)/(pods|services)/([^/]+)(/.*)?$")
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


def _json_body(doc: Any) -> bytes:
    return json.dumps(doc, indent=2).encode() + b"\n"


def _status_body(code: int, reason: str, message: str) -> bytes:
    return _json_body({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code})


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").strip().split()
    if len(parts) < 2:
        return None
    method, target = parts[0], parts[1]
    headers: dict[str, str] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip()] = v.strip()
    body = b""
    length = next((v for k, v in headers.items() if k.lower() == "content-length"), "")
    if length.isdigit():
        body = await reader.readexactly(int(length))
    return method, target, headers, body


class _ProxyServer:
    """`kubelab proxy`: a local HTTP server that turns URLs into API calls."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix.rstrip("/")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await _read_request(reader)
                if req is None:
                    break
                method, target, headers, body = req
                status, resp_headers, resp_body = await self.route(method, target, headers, body)
                keep = headers.get("Connection", headers.get("connection", "")).lower() != "close"
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
                resp_headers = {k: v for k, v in resp_headers.items()
                                if k.lower() not in ("content-length", "transfer-encoding", "connection")}
                resp_headers["Content-Length"] = str(len(resp_body))
                resp_headers["Connection"] = "keep-alive" if keep else "close"
                head += [f"{k}: {v}" for k, v in resp_headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp_body)
                await writer.drain()
                if not keep:
                    break
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, target: str, headers: dict[str, str],
                    body: bytes) -> tuple[int, dict[str, str], bytes]:
        from google.protobuf import json_format

        from kubectl import discovery
        from kubelab import errors
        path, _, query = target.partition("?")
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):] or "/"
        json_headers = {"Content-Type": "application/json"}
        try:
            if path in ("/version", "/version/"):
                v = await self.client.version()
                return 200, json_headers, _json_body(json_format.MessageToDict(v))
            if path in ("/healthz", "/healthz/"):
                await self.client.version()      # healthy means the apiserver answers, as kube-apiserver's own
                return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"ok"
            doc = discovery.document(path, self.client.server) if method == "GET" else None
            if doc is not None:
                return 200, json_headers, _json_body(doc)
            m = _POD_PROXY.match(path) or _LEGACY_PROXY.match(path)
            if m:
                return await self.proxy(m.group(1), m.group(2), m.group(3), (m.group(4) or "/"), query, method,
                                        headers, body)
            if method == "GET":
                return await self.get_object(path, query)
            return 405, json_headers, _status_body(405, "MethodNotAllowed", f"{method} is not supported here")
        except errors.ApiError as e:
            code = {"NotFound": 404, "BadRequest": 400, "ServiceUnavailable": 503, "Unauthorized": 401,
                    "Forbidden": 403, "Invalid": 422}.get(e.reason, 500)
            return code, json_headers, _status_body(code, e.reason, e.message)

    async def proxy(self, namespace: str, resource: str, name_port: str, path: str, query: str, method: str,
                    headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        from kubelab import streams
        from kubelab.v1 import api_pb2 as api
        parts = name_port.split(":")
        if len(parts) == 3:          # scheme:name:port
            parts = parts[1:]
        name, port = parts[0], parts[1] if len(parts) > 1 else ""
        if resource == "services":
            pod, svc = await resolve_pod(self.client, namespace, f"service/{name}")
            if not port and svc.spec.ports:
                port = str(svc.spec.ports[0].port)
            port = str(target_port(pod, svc, port)) if port else ""
            name = pod.metadata.name
        req = api.ProxyRequest(namespace=namespace, name=name, port=port, method=method,
                               path=path + (f"?{query}" if query else ""), body=body)
        for k, v in headers.items():
            if k.lower() not in ("host", "connection", "content-length", "authorization"):
                req.headers[k] = v
        resp = await streams.proxy(self.client, req)
        return resp.status, dict(resp.headers), resp.body

    async def get_object(self, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        """GET /api/v1/[namespaces/NS/]RESOURCE[/NAME] and /apis/GROUP/VERSION/...: objects as JSON."""
        from kubelab import kinds, manifests
        segs = [s for s in path.split("/") if s]
        if segs[:1] == ["api"] and len(segs) >= 2:
            group, version, rest = "", segs[1], segs[2:]
        elif segs[:1] == ["apis"] and len(segs) >= 3:
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            return 404, {"Content-Type": "application/json"}, _status_body(404, "NotFound", f"path {path} not found")
        namespace = None
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            namespace, rest = rest[1], rest[2:]
        if not rest:
            return 404, {"Content-Type": "application/json"}, _status_body(404, "NotFound", f"path {path} not found")
        try:
            info = kinds.lookup(rest[0])
        except kinds.UnknownKind:
            info = None
        if info is None or (info.group, info.version) != (group, version):    # kinds live in one group version
            return 404, {"Content-Type": "application/json"}, _status_body(
                404, "NotFound", f"the server could not find the requested resource {rest[0]}")
        if len(rest) >= 2:
            obj = await self.client.get(info.kind, rest[1], namespace if info.namespaced else None)
            doc: dict[str, Any] = manifests.to_dict(obj)
        else:
            selector = ""
            for kv in query.split("&"):
                k, _, v = kv.partition("=")
                if k == "labelSelector":
                    from urllib.parse import unquote
                    selector = unquote(v)
            items, rv = await self.client.list(info.kind, namespace if info.namespaced else "",
                                               label_selector=selector)
            doc = {"kind": f"{info.kind}List", "apiVersion": info.api_version,
                   "metadata": {"resourceVersion": rv}, "items": [manifests.to_dict(o) for o in items]}
        return 200, {"Content-Type": "application/json"}, _json_body(doc)


@click.command("proxy")
@click.option("-p", "--port", type=int, default=8001, show_default=True, help="The port to serve on (0: random).")
@click.option("--address", default="127.0.0.1", show_default=True, help="The IP address to serve on.")
@click.option("--api-prefix", default="/", show_default=True, help="Prefix to serve the proxied API under.")
@global_options
def proxy(port: int, address: str, api_prefix: str) -> None:
    """Run an HTTP proxy to the API: /version, /healthz, discovery, objects as JSON, and pod/service proxy URLs.

    \b
      kubelab proxy &
      curl http://localhost:8001/version
      curl http://localhost:8001/apis/apps/v1
      curl http://localhost:8001/api/v1/namespaces/default/pods/$POD_NAME/proxy/
    """
    async def body(client: Any) -> None:
        srv = _ProxyServer(client, api_prefix)
        from kubelab.errors import net_reason
        try:
            server = await asyncio.start_server(srv.handle, address, port)
        except OSError as e:
            raise CLIError(f"listen tcp {address}:{port}: bind: {net_reason(e)}") from None
        bound = server.sockets[0].getsockname()[1]
        out(f"Starting to serve on {address}:{bound}")
        sys.stdout.flush()
        await server.serve_forever()

    try:
        run(body)
    except KeyboardInterrupt:
        pass
