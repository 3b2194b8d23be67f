"""`kubectl proxy`'s pass-through: plain HTTP on localhost, every method forwarded to the Kubernetes HTTP API.

As `kubectl proxy` does: requests to http://127.0.0.1:8001/... go to the API server named by the kubeconfig's
current context (HTTPS, its CA, its bearer token or client certificate, as kubelab.config reads them), bodies and
answers streamed both ways (so `?watch=1` and `/log?follow=true` flow as they come), the API's status and headers
passed back unchanged. Its filters are kubectl proxy's: the Host header must be a loopback name (--accept-hosts),
exec and attach are refused (--reject-paths), and a path with `..` segments or encoded slashes is refused rather
than passed on, so no URL reaches another path on the server than the one it spells.

Not wired into the CLI here: `serve()` is what `kubelab proxy` calls.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
from aiohttp import web

from kubelab import config as kubeconfig

ACCEPT_HOSTS = (r"^localhost$", r"^127\.0\.0\.1$", r"^\[::1\]$")
REJECT_PATHS = (r"^/api/.*/pods/.*/exec", r"^/api/.*/pods/.*/attach")
# Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy sets itself.
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "authorization", "content-length"}


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


def refused(raw_path: str, host: str, accept_hosts: tuple[str, ...] = ACCEPT_HOSTS,
            reject_paths: tuple[str, ...] = REJECT_PATHS) -> web.Response | None:
    """The answer to a request the proxy's filters refuse, or None to pass it on."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not any(re.search(p, hostname) for p in accept_hosts):
        return _text(403, "Forbidden")
    path = raw_path.split("?", 1)[0]
    if re.search(r"%2f|%5c", path, re.IGNORECASE):
        return _text(400, "Bad Request: encoded slashes are not allowed in the path")
    if any(seg in ("..", ".") for seg in path.split("/")) or re.search(r"%2e%2e|%2e\.|\.%2e", path, re.IGNORECASE):
        return _text(400, "Bad Request: the path may not contain '.' or '..' segments")
    if any(re.search(p, path) for p in reject_paths):
        return _text(403, "Forbidden")
    return None


async def _stream(request: web.Request) -> Any:
    async for chunk in request.content.iter_any():
        yield chunk


# The pod/service proxy URL Kubernetes served before 1.10 (/api/v1/proxy/namespaces/NS/pods/NAME/PATH), which
# the tutorials this lab follows still type: the proxy sends it to the current form.
_LEGACY_PROXY = re.compile(r"^/api/v1/proxy/namespaces/([^/]+)/(pods|services)/([^/?]+)(/[^?]*)?(\?.*)?$")


def legacy_proxy_path(raw: str) -> str:
    m = _LEGACY_PROXY.match(raw)
    if m is None:
        return raw
    ns, resource, name, rest, query = m.groups()
    return f"/api/v1/namespaces/{ns}/{resource}/{name}/proxy{rest or '/'}{query or ''}"


class ApiProxy:
    """The proxy's state: where the API is, and one HTTP session to it."""

    def __init__(self, conn: kubeconfig.KubeConnection, api_prefix: str = "/") -> None:
        self.conn = conn
        self.prefix = "/" + api_prefix.strip("/") if api_prefix.strip("/") else ""
        self.session: aiohttp.ClientSession | None = None
        self._ssl = kubeconfig.ssl_context(conn)

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl),
                                             timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
                                             auto_decompress=False)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path
        if self.prefix:
            if not (raw == self.prefix or raw.startswith(self.prefix + "/") or raw.startswith(self.prefix + "?")):
                return _text(404, "404 page not found")
            raw = raw[len(self.prefix):] or "/"
        answer = refused(raw, request.host)
        if answer is not None:
            return answer
        raw = legacy_proxy_path(raw)
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if self.conn.token:
            headers["Authorization"] = f"Bearer {self.conn.token}"
        body: Any = None
        if request.body_exists:
            if request.content_length is not None:
                body = await request.read()       # a sized body goes as it came (Content-Length kept)
            else:
                body = _stream(request)           # a chunked one is streamed on
        try:
            upstream = await self.session.request(request.method, self.conn.server + raw, headers=headers, data=body,
                                                  allow_redirects=False)
        except (aiohttp.ClientError, OSError) as e:
            return _text(502, f"error trying to reach the API server: {e}")
        async with upstream:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP:
                    resp.headers.add(k, v)
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass              # the API ended the stream: so does the proxy
            await resp.write_eof()
            return resp


async def serve(address: str = "127.0.0.1", port: int = 8001, api_prefix: str = "/",
                conn: kubeconfig.KubeConnection | None = None) -> tuple[web.AppRunner, int]:
    """Start the proxy; returns its runner (cleanup() stops it) and the port it listens on (port 0: any)."""
    proxy = ApiProxy(conn or kubeconfig.kube_connection(), api_prefix)
    await proxy.start()
    app = web.Application(client_max_size=0)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)

    async def closing(_app: web.Application) -> None:
        await proxy.close()
    app.on_cleanup.append(closing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, address, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    return runner, int(sockets[0].getsockname()[1]) if sockets else port
