"""The pod subresources that stream: `log`, `exec`, `attach`, `portforward`, and the pod and service `proxy`.

Sits in the apiserver's HTTP front end, after its filters (authentication, limits): each handler maps
one HTTP request onto the apiserver ↔ kubelet gRPC stream the CLI's calls already use (`Logs`, `Exec`,
`PortForward`, `Proxy` on the pod's kubelet), through the same `ApiService` helpers: no second
path to a kubelet and no second rule about which pod may be reached.

Transports, as kubectl and client-go speak them:
- `exec`/`attach`: WebSocket with `v5.channel.k8s.io` or `v4.channel.k8s.io` (kubectl >= 1.31: each
  binary message is a channel byte, 0 stdin, 1 stdout, 2 stderr, 3 error (a Status), 4 resize; v5's
  `255 <channel>` closes a channel), or `Upgrade: SPDY/3.1` with `v4.channel.k8s.io` (older kubectl:
  one SPDY stream per channel, named by its `streamtype` header).
- `portforward`: SPDY/3.1 `portforward.k8s.io` (a `data` and an `error` stream per connection, paired
  by `requestid`), directly or tunnelled in WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`,
  what kubectl >= 1.31 tries first).

The kubelet is asked first and the HTTP connection upgraded only once it has accepted the stream, so
a refusal (no such container, a pod on a hollow node) is an ordinary Status response that kubectl prints.
"""
from __future__ import annotations

import asyncio
import json
import logging
import posixpath
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import grpc
from aiohttp import WSMsgType, web

from apiserver.http import spdy
from kubelab import errors, streams
from kubelab.client import STREAM_ACCEPTED
from kubelab.v1 import api_pb2 as api

log = logging.getLogger(__name__)

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
WS_EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
SPDY_EXEC_PROTOCOLS = ("v4.channel.k8s.io",)
PORTFORWARD_PROTOCOL = "portforward.k8s.io"
WS_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
STREAM_CREATE_TIMEOUT = 30.0        # kubelet's wait for the client's streams


@dataclass(frozen=True)
class Deps:
    """What the streaming handlers need from the apiserver (its `ApiService` provides each)."""
    kubelet: Callable[[str, str, str], Awaitable[Any]]             # (namespace, pod, verb) -> the pod's kubelet
    kubelet_error: Callable[[grpc.aio.AioRpcError, Any, str], errors.ApiError]
    get: Callable[[str, str, str], Awaitable[Any]]                 # store.get(kind, namespace, name)
    error_response: Callable[[errors.ApiError], web.StreamResponse]


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def _int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {name}: "{value}"') from None


# ------------------------------------------------------------------------------------------- log

async def pod_log(deps: Deps, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
    """GET .../pods/{name}/log: the kubelet's log stream as chunked text."""
    req = api.LogsRequest(namespace=namespace, name=name, container=request.query.get("container", ""),
                          follow=_flag(request, "follow"), previous=_flag(request, "previous"),
                          timestamps=_flag(request, "timestamps"))
    for field, query in (("tail_lines", "tailLines"), ("since_seconds", "sinceSeconds"), ("limit_bytes", "limitBytes")):
        value = _int(request, query)
        if value is not None:
            if value < 0 or (query == "limitBytes" and value == 0):
                raise errors.Invalid(f'{query}: Invalid value: {value}: must be greater than 0' if query != "tailLines"
                                     else f"{query}: Invalid value: {value}: must be greater than or equal to 0")
            setattr(req, field, value)
    kubelet = await deps.kubelet(namespace, name, "logs")
    call = kubelet.stub.Logs(req, metadata=kubelet.metadata)
    chunks = call.__aiter__()
    try:
        first = await chunks.__anext__()        # the kubelet's refusal comes before any byte: a plain Status then
    except StopAsyncIteration:
        first = None
    except grpc.aio.AioRpcError as e:
        raise deps.kubelet_error(e, kubelet, name) from None
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    try:
        if first is not None:
            await resp.write(first.data)
            async for chunk in chunks:
                await resp.write(chunk.data)
    except grpc.aio.AioRpcError as e:
        # The kubelet's stream failed midway: the answer must not end as a whole one would. The connection is
        # closed before the last chunk, so the client reads an incomplete body (kubectl: `unexpected EOF`).
        log.info("log stream of pod %s/%s failed: %s", namespace, name, e.details())
        if request.transport is not None:
            request.transport.close()
        return resp
    except (ConnectionResetError, asyncio.CancelledError):
        call.cancel()
        raise
    await resp.write_eof()
    return resp


# ---------------------------------------------------------------------------------- exec, attach

class _Session:
    """One gRPC Exec or PortForward call on a kubelet, fed from a queue, accepted before any upgrade.

    It ends by api.proto's explicit close: `outputs` yields the kubelet's messages and, at its `end`, answers
    with our own `end` and the half-close (nothing queued after is written); a call that ends otherwise (an
    error, or OK without `end`) raises `errors.ApiError`, whatever grpc's text."""

    def __init__(self, deps: Deps, verb: str, method: str, end: Any) -> None:
        self.deps, self.verb, self.method = deps, verb, method
        self.end = end
        self.inputs: asyncio.Queue[Any] = asyncio.Queue()
        self.call: Any = None
        self.feeding: asyncio.Future[None] | None = None
        self.kubelet: Any = None
        self.name = ""

    async def open(self, namespace: str, name: str, first: Any) -> None:
        kubelet = self.kubelet = await self.deps.kubelet(namespace, name, self.verb)
        self.name = name

        async def queued() -> AsyncIterator[Any]:
            while (item := await self.inputs.get()) is not None:
                yield item
        # kubectl's input (a port-forward's first bytes) may be queued before the kubelet has decided: `feed`
        # holds it until the kubelet accepts, so a refusal is answered as itself (see kubelab.streams.feed).
        self.call = getattr(kubelet.stub, self.method)(metadata=kubelet.metadata)
        self.feeding = asyncio.ensure_future(streams.feed(self.call, first, queued()))
        try:
            md = tuple(await self.call.initial_metadata() or ())
            if STREAM_ACCEPTED not in md:
                out = await self.call.read()       # a refusal: reading raises it
                self.close()
                if out is not grpc.aio.EOF and out.error:
                    raise errors.Unavailable(out.error)
                raise errors.Unavailable(f"the kubelet of pod {name} neither accepted nor refused the {self.verb}")
        except grpc.aio.AioRpcError as e:
            self.finish()
            raise self.deps.kubelet_error(e, kubelet, name) from None

    async def outputs(self) -> AsyncIterator[Any]:
        """The kubelet's messages, up to its `end` (answered) and the call's OK status."""
        ended = False
        try:
            async for out in self.call:
                if out.end:
                    ended = True
                    self.close()
                yield out
        except grpc.aio.AioRpcError as e:
            raise self.deps.kubelet_error(e, self.kubelet, self.name) from None
        if not ended:
            raise errors.ApiError(streams.UNCLOSED)

    def send(self, item: Any) -> None:
        self.inputs.put_nowait(item)

    def close(self) -> None:
        """Our side of the close: `end`, then the half-close; nothing queued after is written."""
        self.inputs.put_nowait(self.end)
        self.finish()

    def finish(self) -> None:
        self.inputs.put_nowait(None)


def exit_status(exit_code: int | None, error: str) -> dict[str, Any]:
    """The Status an exec ends with on its error channel, as the kubelet writes it."""
    if error:
        return {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError", "code": 500}
    if exit_code:
        return {"metadata": {}, "status": "Failure",
                "message": f"command terminated with non-zero exit code: error executing command, exit code {exit_code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
    return {"metadata": {}, "status": "Success"}


def exec_start(request: web.Request, namespace: str, name: str, attach: bool) -> api.ExecStart:
    command = request.query.getall("command", [])
    if not attach and not command:
        raise errors.BadRequest("you must specify at least 1 command")
    stdin, stdout, stderr, tty = (_flag(request, n) for n in ("stdin", "stdout", "stderr", "tty"))
    if not (stdin or stdout or stderr):
        raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    return api.ExecStart(namespace=namespace, name=name, container=request.query.get("container", ""),
                         command=command, stdin=stdin, tty=tty, attach=attach)


async def _pump_exec_output(session: _Session, write: Callable[[int, bytes], Awaitable[None]]) -> dict[str, Any]:
    """Copy stdout/stderr until the kubelet ends; the Status for the error channel."""
    code: int | None = None
    error = ""
    try:
        async for out in session.outputs():
            if out.stdout:
                await write(STDOUT, out.stdout)
            if out.stderr:
                await write(STDERR, out.stderr)
            if out.HasField("exit_code"):
                code = out.exit_code
            if out.error:
                error = out.error
    except errors.ApiError as e:       # the stream failed: whatever came is not the whole of it
        code, error = None, e.message
    return exit_status(code, error)


def _resize(payload: bytes) -> list[api.TerminalSize]:
    """Resize messages: JSON objects `{"Width":80,"Height":24}`, possibly several in one frame."""
    out = []
    decoder, text, pos = json.JSONDecoder(), payload.decode(errors="replace"), 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(doc, dict):
            out.append(api.TerminalSize(width=int(doc.get("Width", 0)), height=int(doc.get("Height", 0))))
    return out


async def pod_exec(deps: Deps, request: web.Request, namespace: str, name: str, attach: bool = False) -> web.StreamResponse:
    """GET/POST .../pods/{name}/exec or /attach, over WebSocket or SPDY."""
    start = exec_start(request, namespace, name, attach)
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade not in ("websocket", "spdy/3.1"):
        raise errors.BadRequest("Upgrade request required")
    session = _Session(deps, "exec", "Exec", api.ExecInput(end=True))
    await session.open(namespace, name, api.ExecInput(start=start))
    if upgrade == "websocket":
        return await _exec_over_websocket(session, request, start)
    return await _exec_over_spdy(session, request, start)


async def _exec_over_websocket(session: _Session, request: web.Request, start: api.ExecStart) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=WS_EXEC_PROTOCOLS, autoping=True, max_msg_size=16 << 20)
    await ws.prepare(request)

    async def write(channel: int, data: bytes) -> None:
        await ws.send_bytes(bytes([channel]) + data)

    async def read() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and data:
                session.send(api.ExecInput(stdin=data))
            elif channel == RESIZE:
                for size in _resize(data):
                    session.send(api.ExecInput(resize=size))
            elif channel == CLOSE and data[:1] == bytes([STDIN]):
                session.send(api.ExecInput(stdin_close=True))
        session.send(api.ExecInput(stdin_close=True))     # the client went away: no more input
        session.finish()

    reader = asyncio.create_task(read())
    try:
        status = await _pump_exec_output(session, write)
        if not ws.closed:
            await write(ERROR, json.dumps(status).encode())
            await ws.close()
    finally:
        reader.cancel()
        session.finish()
    return ws


class _SpdyPeer:
    """An upgraded HTTP connection (or a WebSocket tunnel) carrying SPDY: frames in, bytes out."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        self.codec = spdy.Codec()
        self.frames: asyncio.Queue[spdy.Frame | None] = asyncio.Queue()
        self._send = send
        self._lock = asyncio.Lock()
        self.broken = False

    def feed(self, data: bytes) -> None:
        try:
            for frame in self.codec.feed(data):
                self.frames.put_nowait(frame)
        except spdy.ProtocolError as e:
            log.info("SPDY peer broke the protocol: %s", e)
            self.broken = True
            self.frames.put_nowait(None)

    def eof(self) -> None:
        self.frames.put_nowait(None)

    async def send(self, data: bytes) -> None:
        async with self._lock:           # header blocks share one zlib context: frames go out in order
            await self._send(data)

    async def reply(self, stream_id: int, fin: bool = False) -> None:
        async with self._lock:
            await self._send(self.codec.syn_reply(stream_id, {}, fin=fin))

    async def data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        for frame in spdy.split_data(stream_id, data):
            await self.send(frame)
        if fin:
            await self.send(spdy.data_frame(stream_id, b"", fin=True))


class _UpgradedParser:
    """Stands where aiohttp's payload parser would: bytes after the 101 go to the SPDY peer."""

    def __init__(self, peer: _SpdyPeer) -> None:
        self.peer = peer

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.peer.feed(data)
        return False, b""

    def feed_eof(self) -> None:
        self.peer.eof()


def _negotiate(request: web.Request, offered: tuple[str, ...]) -> str | None:
    asked = [p.strip() for h in request.headers.getall("X-Stream-Protocol-Version", []) for p in h.split(",")]
    return next((p for p in asked if p in offered), None)


async def _upgrade_to_spdy(request: web.Request, protocol: str) -> tuple[web.StreamResponse, _SpdyPeer]:
    """Answer 101 Switching Protocols and hand the connection's further bytes to a SPDY peer.

    aiohttp switches protocols only for WebSocket; for SPDY the connection is marked upgraded before the
    101 goes out (the client sends no frame before it reads the 101), so nothing after it is parsed as HTTP."""
    resp = web.StreamResponse(status=101, reason="Switching Protocols",
                              headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                       "X-Stream-Protocol-Version": protocol})
    peer = _SpdyPeer(resp.write)
    conn = request.protocol
    conn._parser.set_upgraded(True)            # type: ignore[union-attr]  # aiohttp: no public switch for non-WebSocket
    conn._upgraded = True                      # type: ignore[union-attr]
    conn.set_parser(_UpgradedParser(peer))     # type: ignore[union-attr,arg-type]
    await resp.prepare(request)
    return resp, peer


async def _exec_over_spdy(session: _Session, request: web.Request, start: api.ExecStart) -> web.StreamResponse:
    protocol = _negotiate(request, SPDY_EXEC_PROTOCOLS)
    if protocol is None:
        session.finish()
        raise errors.BadRequest(f"unable to upgrade: none of the protocols offered are supported ({', '.join(SPDY_EXEC_PROTOCOLS)})")
    resp, peer = await _upgrade_to_spdy(request, protocol)
    wanted = {"error"} | {n for n, on in (("stdin", start.stdin), ("stdout", _flag(request, "stdout")),
                                          ("stderr", _flag(request, "stderr") and not start.tty),
                                          ("resize", start.tty)) if on}
    streams: dict[str, int] = {}
    ready = asyncio.Event()
    done = asyncio.Event()

    async def read() -> None:
        by_id: dict[int, str] = {}
        while (frame := await peer.frames.get()) is not None:
            if frame.kind == spdy.SYN_STREAM:
                kind = frame.headers.get("streamtype", "")
                by_id[frame.stream_id] = kind
                streams[kind] = frame.stream_id
                await peer.reply(frame.stream_id)
                if wanted <= set(streams):
                    ready.set()
            elif frame.kind == 0:
                kind = by_id.get(frame.stream_id, "")
                if kind == "stdin":
                    if frame.data:
                        session.send(api.ExecInput(stdin=frame.data))
                    if frame.fin:
                        session.send(api.ExecInput(stdin_close=True))
                elif kind == "resize":
                    for size in _resize(frame.data):
                        session.send(api.ExecInput(resize=size))
            elif frame.kind == spdy.PING:
                await peer.send(spdy.ping(frame.ping_id))
            elif frame.kind == spdy.GOAWAY:
                break
        session.send(api.ExecInput(stdin_close=True))
        session.finish()
        done.set()

    reader = asyncio.create_task(read())
    try:
        try:
            await asyncio.wait_for(ready.wait(), STREAM_CREATE_TIMEOUT)
        except asyncio.TimeoutError:
            log.info("exec: the client opened %s of %s streams", sorted(streams), sorted(wanted))
            session.finish()
            return resp

        async def write(channel: int, data: bytes) -> None:
            sid = streams.get({STDOUT: "stdout", STDERR: "stderr"}[channel])
            if sid is not None:
                await peer.data(sid, data)
        status = await _pump_exec_output(session, write)
        await peer.data(streams["error"], json.dumps(status).encode(), fin=True)
        for kind in ("stdout", "stderr"):
            if kind in streams:
                await peer.data(streams[kind], b"", fin=True)
        await peer.send(spdy.goaway(max(streams.values(), default=0)))
    finally:
        reader.cancel()
        session.finish()
    if request.transport:
        request.transport.close()           # the session is over: so is the connection
    return resp


# ------------------------------------------------------------------------------------- portforward

async def pod_portforward(deps: Deps, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
    """GET/POST .../pods/{name}/portforward: SPDY directly, or SPDY tunnelled in WebSocket messages."""
    await deps.get("Pod", namespace, name)             # NotFound before any upgrade
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade == "websocket":
        ws = web.WebSocketResponse(protocols=(WS_TUNNEL_PROTOCOL,), autoping=True, max_msg_size=16 << 20)
        if ws.can_prepare(request).protocol != WS_TUNNEL_PROTOCOL:
            # Not our tunnel: an upgrade failure, on which kubectl falls back to SPDY.
            raise errors.BadRequest(f"unable to upgrade: the WebSocket subprotocol must be {WS_TUNNEL_PROTOCOL}")
        await ws.prepare(request)
        peer = _SpdyPeer(ws.send_bytes)

        async def pump_in() -> None:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    peer.feed(msg.data)
            peer.eof()
        feeder = asyncio.create_task(pump_in())
        try:
            await _serve_portforward(deps, peer, namespace, name)
        finally:
            feeder.cancel()
            await ws.close()
        return ws
    if upgrade != "spdy/3.1":
        raise errors.BadRequest("Upgrade request required")
    if _negotiate(request, (PORTFORWARD_PROTOCOL,)) is None:
        raise errors.BadRequest(f"unable to upgrade: the protocol must be {PORTFORWARD_PROTOCOL}")
    resp, peer = await _upgrade_to_spdy(request, PORTFORWARD_PROTOCOL)
    await _serve_portforward(deps, peer, namespace, name)
    if request.transport:
        request.transport.close()
    return resp


@dataclass
class _Forward:
    """One forwarded connection: its two SPDY streams and its gRPC PortForward call."""
    port: int
    error_id: int = 0
    data_id: int = 0
    session: _Session | None = None
    task: asyncio.Task[None] | None = None


async def _serve_portforward(deps: Deps, peer: _SpdyPeer, namespace: str, name: str) -> None:
    pairs: dict[str, _Forward] = {}
    by_stream: dict[int, tuple[str, str]] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def run(fw: _Forward, request_id: str) -> None:
        session = fw.session = _Session(deps, "port-forward", "PortForward", api.PortForwardInput(end=True))
        try:
            await session.open(namespace, name, api.PortForwardInput(
                start=api.PortForwardStart(namespace=namespace, name=name, port=fw.port)))
            async for out in session.outputs():
                if out.data:
                    await peer.data(fw.data_id, out.data)
                if out.error:
                    await peer.data(fw.error_id, out.error.encode())
        except errors.ApiError as e:
            await peer.data(fw.error_id, e.message.encode())
        finally:
            session.finish()
            for sid in (fw.data_id, fw.error_id):
                await peer.send(spdy.data_frame(sid, b"", fin=True))
            pairs.pop(request_id, None)

    while (frame := await peer.frames.get()) is not None:
        if frame.kind == spdy.SYN_STREAM:
            kind, request_id = frame.headers.get("streamtype", ""), frame.headers.get("requestid", "")
            try:
                port = int(frame.headers.get("port", ""))
                if not 0 < port < 65536 or kind not in ("data", "error"):
                    raise ValueError
            except ValueError:
                await peer.reply(frame.stream_id, fin=True)
                await peer.send(spdy.rst_stream(frame.stream_id, spdy.PROTOCOL_ERROR))
                continue
            await peer.reply(frame.stream_id)
            fw = pairs.setdefault(request_id, _Forward(port))
            setattr(fw, f"{kind}_id", frame.stream_id)
            by_stream[frame.stream_id] = (request_id, kind)
            if fw.data_id and fw.error_id and fw.task is None:
                fw.task = asyncio.create_task(run(fw, request_id))
                tasks.add(fw.task)
                fw.task.add_done_callback(tasks.discard)
        elif frame.kind == 0:
            request_id, kind = by_stream.get(frame.stream_id, ("", ""))
            fw = pairs.get(request_id)
            if fw is None or kind != "data" or fw.session is None:
                continue
            if frame.data:
                fw.session.send(api.PortForwardInput(data=frame.data))
            if frame.fin:
                fw.session.send(api.PortForwardInput(close_write=True))
        elif frame.kind == spdy.RST_STREAM:
            request_id, _ = by_stream.get(frame.stream_id, ("", ""))
            fw = pairs.get(request_id)
            if fw is not None and fw.session is not None:
                fw.session.finish()
        elif frame.kind == spdy.PING:
            await peer.send(spdy.ping(frame.ping_id))
        elif frame.kind == spdy.GOAWAY:
            break
    for fw in list(pairs.values()):
        if fw.session is not None:
            fw.session.finish()
    for t in list(tasks):
        t.cancel()


# ------------------------------------------------------------------------------------------ proxy

_PROXY_HOP_HEADERS = {"host", "connection", "content-length", "authorization", "upgrade", "keep-alive",
                      "transfer-encoding", "te", "proxy-authorization"}


def proxy_path(tail: str) -> str:
    """The path to ask the pod for, from what follows `.../proxy/` in the request's decoded path (an encoded
    slash is a slash there, as in Go's URL.Path that kube-apiserver splits): joined under the pod's root and
    cleaned as kube-apiserver's ProxyREST does (net.JoinPreservingTrailingSlash, i.e. Go's path.Join), so
    `..` never climbs above the pod's `/` and nothing reaches past the pod. Written back percent-encoded
    (Go's URL.EscapedPath) so the request line the kubelet sends is well formed."""
    cleaned = posixpath.normpath("/" + tail.lstrip("/"))
    if tail.endswith("/") and not cleaned.endswith("/"):
        cleaned += "/"
    return quote(cleaned, safe="/:@!$&'()*+,;=-._~")


def split_name_port(name_port: str) -> tuple[str, str]:
    """`name`, `name:port` or `scheme:name:port`, as the proxy subresource's name may be."""
    parts = name_port.split(":")
    if len(parts) == 3:
        parts = parts[1:]
    if len(parts) > 2 or not parts[0]:
        raise errors.BadRequest(f'invalid name "{name_port}": expected name, name:port or scheme:name:port')
    return parts[0], parts[1] if len(parts) == 2 else ""


async def _service_backend(deps: Deps, namespace: str, name: str, port: str) -> tuple[str, str]:
    """A ready pod behind the Service and the pod port `port` (a service port's name or number) reaches."""
    svc = await deps.get("Service", namespace, name)
    sp = None
    for p in svc.spec.ports:
        if not port or port in (p.name, str(p.port)):
            sp = p
            break
    if sp is None:
        raise errors.NotFound(f'no service port "{port}" found for service "{name}"')
    eps = await deps.get("Endpoints", namespace, name)
    for subset in eps.subsets:
        ep_port = next((p.port for p in subset.ports if p.name == sp.name), None)
        for addr in subset.addresses:
            if addr.target_ref.kind == "Pod" and ep_port:
                return addr.target_ref.name, str(ep_port)
    raise errors.Unavailable(f'no endpoints available for service "{name}"')


async def proxy(deps: Deps, request: web.Request, namespace: str, resource: str, name_port: str,
                tail: str) -> web.Response:
    """Any method on .../pods|services/{name[:port]}/proxy/{path}: the pod's answer, passed through."""
    name, port = split_name_port(name_port)
    path = proxy_path(tail)
    if resource == "services":
        name, port = await _service_backend(deps, namespace, name, port)
    body = await request.read()
    query = request.rel_url.raw_query_string
    req = api.ProxyRequest(namespace=namespace, name=name, port=port, method=request.method,
                           path=path + (f"?{query}" if query else ""), body=body)
    for k, v in request.headers.items():
        if k.lower() not in _PROXY_HOP_HEADERS:
            req.headers[k] = v
    kubelet = await deps.kubelet(namespace, name, "proxy")
    try:
        resp = await kubelet.stub.Proxy(req, metadata=kubelet.metadata, timeout=60)
    except grpc.aio.AioRpcError as e:
        raise deps.kubelet_error(e, kubelet, name) from None
    headers = {k: v for k, v in resp.headers.items() if k.lower() not in _PROXY_HOP_HEADERS}
    return web.Response(status=resp.status, headers=headers, body=resp.body)
