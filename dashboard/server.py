"""The dashboard's local web server (aiohttp, 127.0.0.1 only): the page, its live stream, YAML and actions.

Above relay.py, actions.py and kubeapi.py; `Server` is the process's Service, as `kubelab.serving` runs every
component's (main.py parses the flags and calls `serving.run`).

    GET  /                 static/index.html (and /static/*: the CSS and JavaScript modules)
    GET  /api/stream       Server-Sent Events: per kind a `status`, a `snapshot`, then `change` frames
    GET  /api/object       ?kind=&namespace=&name= : {"ok": true, "yaml": the object from the API as YAML}
    GET  /api/trace        ?kind=&namespace=&name= : {"ok": true, "trace": the API's Trace document}
                           (GET /apis/kubelab.io/v1/namespaces/NS/traces/KIND/NAME, `kubelab trace`'s)
    POST /api/action       JSON {"action": scale|delete|cordon|uncordon|undo, ...}: {"ok": true, "message"}
    both answer a refusal with {"ok": false, "code", "status": the API's Status, "message": kubectl's line}

This process holds the user's token, so it guards what reaches it the way `kubectl proxy` does and a little
more: a Host header other than the address it serves is refused (DNS rebinding: a web page re-pointing its
own name at 127.0.0.1), and a POST must be JSON with the X-Kubelab-Dashboard header, which another origin's
page cannot send without a CORS preflight this server never answers.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from kubelab import kinds
from kubelab.config import KubeConnection

from . import actions
from .kubeapi import ApiError, KubeApi, object_path
from .relay import KINDS, Hub, watch_kind

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ACTION_HEADER = "X-Kubelab-Dashboard"
HEARTBEAT = 15.0      # seconds: an SSE comment keeps idle connections (and proxies) from timing out

HUB: web.AppKey[Hub] = web.AppKey("hub", Hub)
API: web.AppKey[KubeApi] = web.AppKey("api", KubeApi)
PORT: web.AppKey[int] = web.AppKey("port", int)
TASKS: web.AppKey[list[asyncio.Task[None]]] = web.AppKey("tasks", list)


def allowed_host(host: str, port: int) -> bool:
    return host in (f"127.0.0.1:{port}", f"localhost:{port}")


def error_response(e: ApiError) -> web.Response:
    """The API's refusal, carried as a 200 answer of this server: the request to the dashboard worked, the
    API said no (its Status and code are in the body). A 4xx here would be the browser console's network
    error, which is the dashboard's own failure, not an answer the page expected and shows."""
    return web.json_response({"ok": False, "code": e.code or 502, "status": e.status,
                              "message": e.line() if e.code or e.local else str(e)})


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    port = request.app[PORT]
    if not allowed_host(request.headers.get("Host", ""), port):
        return web.Response(status=403, text="dashboard: unexpected Host header\n")
    if request.method not in ("GET", "HEAD"):
        origin = request.headers.get("Origin")
        if request.headers.get(ACTION_HEADER) != "1" or request.content_type != "application/json" or (
                origin is not None and not allowed_host(origin.removeprefix("http://"), port)):
            return web.Response(status=403, text="dashboard: cross-site request refused\n")
    resp = await handler(request)
    resp.headers.setdefault("Cache-Control", "no-store")
    # Nothing but this origin's own files may run on the page, whatever a label or message holds.
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    q = hub.subscribe()
    try:
        while True:
            try:
                frame = await asyncio.wait_for(q.get(), HEARTBEAT)
            except asyncio.TimeoutError:
                frame = b": keep-alive\n\n"
            if frame is None:      # dropped for being slow: the page reconnects and gets a snapshot
                break
            # Write what is queued in one go: a burst of 1,000 changes is one write, not 1,000.
            chunks = [frame]
            while not q.empty() and len(chunks) < 500:
                nxt = q.get_nowait()
                if nxt is None:
                    break
                chunks.append(nxt)
            await resp.write(b"".join(chunks))
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(q)
    return resp


async def get_object(request: web.Request) -> web.Response:
    q = request.query
    kind = q.get("kind", "")
    if kind not in kinds.BY_KIND:
        return error_response(actions.bad_request(f'unknown kind "{kind}"'))
    try:
        obj = await request.app[API].request("GET", object_path(kind, q.get("namespace", ""), q.get("name", "")))
    except ApiError as e:
        return error_response(e)
    (obj.get("metadata") or {}).pop("managedFields", None)
    return web.json_response({"ok": True, "yaml": yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)})


TRACED = ("Deployment", "Pod", "Service")


def trace_path(kind: str, namespace: str, name: str) -> str:
    from urllib.parse import quote
    return (f"/apis/kubelab.io/v1/namespaces/{quote(namespace, safe='')}/traces/{kinds.BY_KIND[kind].plural}/"
            f"{quote(name, safe='')}")


async def get_trace(request: web.Request) -> web.Response:
    """The selected object's trace (the page draws it as a swimlane); the API's refusal as it said it."""
    q = request.query
    kind = q.get("kind", "")
    if kind not in TRACED:
        what = kinds.BY_KIND[kind].plural if kind in kinds.BY_KIND else f'"{kind}"'
        return error_response(actions.bad_request(f"trace follows deployments, pods and services, not {what}"))
    try:
        doc = await request.app[API].request("GET", trace_path(kind, q.get("namespace", ""), q.get("name", "")))
    except ApiError as e:
        return error_response(e)
    return web.json_response({"ok": True, "trace": doc})


async def action(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return error_response(actions.bad_request("the request body is not JSON"))
    if not isinstance(body, dict):
        return error_response(actions.bad_request("the request body must be a JSON object"))
    try:
        message = await actions.perform(request.app[API], body)
    except ApiError as e:
        return error_response(e)
    return web.json_response({"ok": True, "message": message})


async def _start_relays(app: web.Application) -> None:
    app[TASKS] = [asyncio.create_task(watch_kind(app[API], app[HUB], k), name=f"relay-{k}") for k in KINDS]


async def _stop(app: web.Application) -> None:
    for t in app[TASKS]:
        t.cancel()
    for t in app[TASKS]:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await app[API].close()


def make_app(api: KubeApi, port: int) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[API], app[HUB] = api, Hub(api.creds.server)
    app[PORT] = port
    app.router.add_get("/", index)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/object", get_object)
    app.router.add_get("/api/trace", get_trace)
    app.router.add_post("/api/action", action)
    app.router.add_static("/static/", STATIC)
    app.on_startup.append(_start_relays)
    app.on_cleanup.append(_stop)
    return app


async def serve(api: KubeApi, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start the dashboard on 127.0.0.1:`port` (0: a free one); returns the runner and the port bound."""
    import socket
    if port == 0:
        with socket.socket() as s:     # the Host check needs the port before the app exists
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    # Open event streams never end by themselves: on shutdown they get a second, not aiohttp's default minute.
    runner = web.AppRunner(make_app(api, port), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()     # the relays and the API's session, started by setup: none may outlive this
        raise
    return runner, port


class StartError(Exception):
    """The page cannot be served (its port is taken): one `error: ...` line, exit status 1."""


@dataclass(frozen=True)
class Config:
    creds: KubeConnection   # the kubeconfig's, read by main.py
    port: int               # 0: a free one
    url_only: bool          # print the URL and open no browser


class Server:
    """The page's server as `kubelab.serving` runs a component's: start serves it and opens the browser, stop
    tells open pages and stops the relays; Ctrl-C or SIGTERM is graceful, a second signal exits at once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        import click

        from kubelab.errors import net_reason
        port = self.config.port
        try:
            self.runner, bound = await serve(KubeApi(self.config.creds), port)
        except OSError as e:
            raise StartError(f"listen tcp 127.0.0.1:{port}: bind: {net_reason(e)}") from None
        url = f"http://127.0.0.1:{bound}/"
        if self.config.url_only:
            click.echo(url)
        else:
            click.echo(f"Opening {url} in your default browser...")
            import webbrowser
            if not webbrowser.open(url):      # no browser here (a server, a container): the URL still works
                click.echo(f"no browser could be started: open {url} yourself", err=True)
        sys.stdout.flush()

    async def run(self) -> None:
        from kubelab.serving import forever
        await forever()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
