"""The HTTPS server of the Kubernetes API: TLS, the filter chain, routing.

Filters run in kube-apiserver's order (its DefaultBuildHandlerChain, outermost first):

    panic recovery   an unexpected exception is a 500 InternalError Status, logged; the server goes on
    size limit       a body over MAX_BODY_BYTES (3 MiB, kube-apiserver's) is 413 before it is read
    authentication   the apiserver's gate (the gRPC API's: bearer tokens, impersonation), else 401
                     Unauthorized; a non-resource request without credentials is system:anonymous
    authorization    the same gate's RBAC decision on the request's Attributes (verb, group, resource,
                     subresource, namespace, name), else 403 Forbidden; RBAC objects written also get its
                     escalation check (create, update, patch handlers). Non-resource paths (/healthz,
                     /version, discovery, /openapi, /metrics) are authorized by their path against the
                     `nonResourceURLs` rules: system:public-info-viewer (anyone), system:discovery (any
                     authenticated user), system:monitoring (Group system:monitoring)
    handler          discovery, or the verb module for the resource the URL names

The installers (kube-apiserver's word) add what other modules serve: `install_openapi` the /openapi/v2 and
/openapi/v3 documents of apiserver.http.openapi, `install_streaming` the subresources of
apiserver.http.streaming (log, exec, attach, portforward, and the pod and service proxy), each skipped when
its module is absent. A subresource nobody serves is 404 NotFound: never the parent object.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from kubelab import errors, kinds, timeutil

from apiserver import storage as st
from apiserver.audit import RequestInfo as AuditRequest
from apiserver.authz.rbac import Attributes

from . import authn, authz, create, delete, discovery, get, list as list_verb, negotiate, patch, subresources, update, \
    versions, watch
from .common import Backend, respond
from .request import RequestInfo, parse_path
from .status import CODES, MethodNotAllowed, error_response, not_found_path

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
BACKEND = web.AppKey("backend", Backend)
STREAMING = web.AppKey("streaming", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _storage_error(e: st.StorageError) -> errors.ApiError:
    from apiserver.checks import storage_error
    return storage_error(e)


@web.middleware
async def recovery(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost filter: errors become Statuses; an unexpected one is a logged 500, never a dropped server."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error_response(errors.RequestEntityTooLarge("Request entity too large: limit is 3145728"))
    except web.HTTPMethodNotAllowed:
        return error_response(_method_not_allowed())
    except web.HTTPException:
        raise
    except errors.ApiError as e:
        return error_response(e, *request.get("about", (None, "")))
    except st.StorageError as e:
        return error_response(_storage_error(e), *request.get("about", (None, "")))
    except Exception as e:  # noqa: BLE001 - kube-apiserver's WithPanicRecovery
        log.exception("%s %s failed", request.method, request.path)
        return error_response(errors.ApiError(f"Internal error occurred: {e!r}"))


@web.middleware
async def size_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge("Request entity too large: limit is 3145728")
    return await handler(request)


def is_resource_path(path: str) -> bool:
    """kube-apiserver's RequestInfoFactory: /api/V/... and /apis/G/V/... with at least a resource are resource
    requests; anything shorter (/api, /api/v1, /apis/apps/v1) or elsewhere (/healthz, /openapi/v2, /metrics)
    is a non-resource request, authorized by its path."""
    parts = [p for p in path.split("/") if p]
    return (len(parts) >= 3 and parts[0] == "api") or (len(parts) >= 4 and parts[0] == "apis")


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who the request is from, by the apiserver's gate (the gRPC API's authenticator: bearer tokens,
    impersonation headers); Unauthorized, in Kubernetes' one word (kubectl prints `You must be logged in to
    the server (Unauthorized)`). A non-resource request is also authorized here, by the `nonResourceURLs`
    rules that apply (one without credentials as system:anonymous): Forbidden as `forbidden: User "x" cannot
    get path "/metrics"`."""
    gate = request.app[BACKEND].svc.gate
    if is_resource_path(request.path):
        request["user"] = gate.user_of(request.headers.items())
    else:
        request["user"] = gate.admit_path(request.headers.items(), request.method.lower(), request.path)
    return await handler(request)


@web.middleware
async def audit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request the gate authorized is one audit record (apiserver.audit decides its level), with the
    status it was answered with: the same log as the gRPC API's. Reads are left out by the default policy."""
    log = request.app[BACKEND].svc.audit
    if not log.enabled and not log.subscribers:
        return await handler(request)
    received = timeutil.now_micro()
    try:
        resp = await handler(request)
    except errors.ApiError as e:
        _audit(request, log, received, CODES.get(e.reason, 500), message=e.message)
        raise
    except st.StorageError as e:
        err = _storage_error(e)
        _audit(request, log, received, CODES.get(err.reason, 500), message=err.message)
        raise
    _audit(request, log, received, resp.status)
    return resp


def _audit(request: web.Request, log: Any, received: str, code: int, message: str = "") -> None:
    attrs = request.get("attrs")
    user = request.get("user")
    if attrs is None or user is None:
        return                          # not a resource request the gate authorized (discovery, health)
    # A create's URL names no object: the object written does (common.respond leaves its metadata here).
    written = (request.get("written") or {}) if code < 300 else {}
    name, rv = attrs.name or written.get("name", ""), written.get("resourceVersion", "")
    about = request.get("about")
    version = about[0].version if about and about[0] is not None else \
        next((k.version for k in kinds.KINDS if (k.plural, k.group) == (attrs.resource, attrs.api_group)), "v1")
    info = AuditRequest(verb=attrs.verb, user=user.name, groups=tuple(user.groups), extra=user.extra,
                        user_agent=request.headers.get("User-Agent", ""), source_ip=request.remote or "",
                        resource=attrs.resource, api_group=attrs.api_group, api_version=version,
                        namespace=attrs.namespace, name=name, subresource=attrs.subresource,
                        request_uri=request.path_qs)
    record = log.begin(info)
    if record is not None:
        record.received = received
        log.finish(record, code, resource_version=rv, message=message)


# The verb a subresource request is authorized as, by method (kube-apiserver's RequestInfo; exec, attach and
# portforward are `create` whatever the method, as kube-apiserver ≥ 1.35 authorizes WebSocket upgrades).
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete", "OPTIONS": "options"}
_CREATE_SUBRESOURCES = ("exec", "attach", "portforward")


def check_names(req: RequestInfo) -> None:
    """A name or namespace no object can have (`..`, `.`, a `/` or `%` in it, over 253 characters) is 400
    `Name parameter invalid`, as kube-apiserver's key functions refuse it, once the request is authorized.
    (An encoded slash is a slash by then: `a%2Fb` names `a` and its subresource `b`, as in Kubernetes.)"""
    from apiserver.checks import check_path
    check_path(req.namespace, req.name)


def authorize(request: web.Request, req: RequestInfo, verb: str) -> None:
    """The gate's authorization of what the request does (Forbidden before the registry runs); the
    Attributes are kept for the handlers that also need the escalation check (RBAC objects written)."""
    attrs = Attributes(verb, req.group, req.resource, req.subresource, req.namespace, req.name)
    request["attrs"] = attrs
    request.app[BACKEND].svc.gate.admit(request.headers.items(), attrs)
    request["deprecated"] = versions.warning(req.info)     # a deprecated version's Warning, once authorized


async def deprecation_warning(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to an authorized request of a deprecated version (policy/v1beta1) carries Kubernetes'
    `Warning: 299 - "... is deprecated in v1.21+, ..."` header, before the handler's own warnings, as
    kube-apiserver adds it before the handler runs (errors and watches too)."""
    text = request.get("deprecated")
    if text:
        others = response.headers.getall("Warning", [])
        response.headers.popall("Warning", None)
        for w in ['299 - "' + text + '"', *others]:
            response.headers.add("Warning", w)


# ---------------------------------------------------------------- kubelab's own: the trace
async def trace(request: web.Request) -> web.StreamResponse:
    """GET /apis/kubelab.io/v1/namespaces/NS/traces/KIND/NAME[?since=CURSOR]: `kubelab trace`'s document,
    authorized as a `get` of the object it follows (the same index and answer as the gRPC Trace call)."""
    from apiserver.trace import trace_document
    svc = request.app[BACKEND].svc
    ns, kind, name = (request.match_info[k] for k in ("namespace", "kind", "name"))
    try:
        info = kinds.BY_KIND.get(kind) or kinds.lookup(kind)
    except kinds.UnknownKind as e:
        raise errors.NotFound(str(e)) from None
    authorize(request, RequestInfo(info.group, info.version, info.plural, ns if info.namespaced else "", name,
                                   info=info), "get")
    since = request.query.get("since", "0")
    if not since.isdigit():
        raise errors.BadRequest(f'invalid value for since: "{since}": must be a cursor from an earlier trace')
    return respond(request, trace_document(svc.trace_index, svc._cached, kind, ns, name, int(since)))


# ---------------------------------------------------------------- non-resource paths
async def health(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    ready = all(c.ready.is_set() for c in backend.cache.caches.values())
    name = request.path.strip("/").split("/")[0]
    if name == "readyz" and not ready:
        return web.Response(status=500, text="[-]informer-sync failed: the watch cache is not ready\n"
                                             "readyz check failed")
    if "verbose" in request.query:
        checks = ["ping", "etcd", "informer-sync"] if name == "readyz" else ["ping", "etcd"]
        return web.Response(text="".join(f"[+]{c} ok\n" for c in checks) + f"{name} check passed\n")
    return web.Response(text="ok")


async def metrics(request: web.Request) -> web.StreamResponse:
    """The apiserver's Prometheus metrics (the same registry the gRPC API counts in)."""
    return web.Response(text=request.app[BACKEND].svc.metrics.render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def version(request: web.Request) -> web.StreamResponse:
    return respond(request, discovery.version_info())


async def root(request: web.Request) -> web.StreamResponse:
    return respond(request, discovery.root_paths())


def _discovery(request: web.Request, doc: dict[str, Any] | None, legacy: bool | None = None) -> web.StreamResponse:
    if legacy is not None:
        rep = negotiate.negotiate(request.headers.get("Accept", ""),
                                  (negotiate.JSON, negotiate.YAML, negotiate.DISCOVERY))
        if rep == negotiate.DISCOVERY:
            resp = respond(request, discovery.aggregated(legacy), rep=negotiate.JSON)
            resp.headers["Content-Type"] = negotiate.DISCOVERY_TYPE
            return resp
    if doc is None:
        raise not_found_path()
    return respond(request, doc)


async def api_root(request: web.Request) -> web.StreamResponse:
    return _discovery(request, discovery.api_versions(request.app[BACKEND].server_address), legacy=True)


async def apis_root(request: web.Request) -> web.StreamResponse:
    return _discovery(request, discovery.api_group_list(), legacy=False)


async def api_group(request: web.Request) -> web.StreamResponse:
    return _discovery(request, discovery.api_group(request.match_info["group"]))


async def resource_list(request: web.Request) -> web.StreamResponse:
    group = request.match_info.get("group", "")
    return _discovery(request, discovery.api_resource_list(group, request.match_info["version"]))


# ---------------------------------------------------------------- resources
def _method_not_allowed() -> errors.ApiError:
    return MethodNotAllowed("the server does not allow this method on the requested resource")


async def _subresource(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    info = req.kind_info
    streaming = request.app[STREAMING].get((info.plural, req.subresource))
    if streaming is not None:
        methods, handler = streaming
        if methods is not None and request.method not in methods:
            raise _method_not_allowed()
        return await handler(request, req)
    served = subresources.HANDLERS.get(req.subresource)
    if served is None or (served[0] is not None and info.kind not in served[0]) or req.rest:
        raise not_found_path()
    if request.method not in served[1]:
        raise _method_not_allowed()
    return await served[2](backend, request, req)


async def resource(request: web.Request) -> web.StreamResponse:
    """Any /api/v1/... or /apis/G/V/... path naming a resource: the verb module its method and shape choose."""
    backend = request.app[BACKEND]
    if request.path == authz.PATH:
        return await authz.self_subject_access_review(backend.svc.gate, request)
    if request.path == authn.PATH:      # authorized as the gRPC WhoAmI is
        authorize(request, RequestInfo(authn.GROUP, authn.VERSION, authn.RESOURCE["name"]), "create")
        return await authn.self_subject_review(request)
    req = parse_path(request.path)
    request["about"] = (req.info, req.name)
    method = request.method
    if req.watch_path or (method == "GET" and request.query.get("watch", "").lower() in ("true", "1")):
        if method != "GET" or req.subresource:
            raise _method_not_allowed() if method != "GET" else not_found_path()
        authorize(request, req, "watch")
        if req.name:        # /watch/.../NAME: a watch of that one object
            existing = request.query.get("fieldSelector", "")
            query = request.rel_url.query.copy()
            query["fieldSelector"] = ",".join(filter(None, [existing, f"metadata.name={req.name}"]))
            request = request.clone(rel_url=request.rel_url.with_query(query))
            req.name = ""
        return await watch.watch(backend, request, req)
    if req.subresource:
        verb = "create" if req.subresource in _CREATE_SUBRESOURCES else _METHOD_VERBS.get(method, method.lower())
        authorize(request, req, verb)
        check_names(req)
        return await _subresource(backend, request, req)
    if not req.name:
        verbs = {"GET": ("list", list_verb.list_), "POST": ("create", create.create),
                 "DELETE": ("deletecollection", delete.delete_collection)}
    else:
        verbs = {"GET": ("get", get.get), "PUT": ("update", update.update), "PATCH": ("patch", patch.patch),
                 "DELETE": ("delete", delete.delete)}
    verb, handler = verbs.get(method, ("", None))
    if handler is None:
        raise _method_not_allowed()
    authorize(request, req, verb)
    check_names(req)
    # Counted in the same apiserver_request_total/duration as the gRPC calls (one metrics registry).
    started, code = time.perf_counter(), "OK"
    try:
        return await handler(backend, request, req)
    except errors.ApiError as e:
        code = e.reason
        raise
    finally:
        backend.svc.metrics.observe(verb, req.kind_info.plural, code, started)


async def not_found(request: web.Request) -> web.StreamResponse:
    raise not_found_path()


def _proxy_tail(request: web.Request, req: RequestInfo) -> str:
    """What follows `.../NAME/proxy` in the decoded path (an encoded slash is a slash, as in the Go URL.Path
    kube-apiserver's RequestInfo splits), for streaming.proxy_path to join under the pod's root."""
    parts = request.path.split("/")[1:]
    prefix = (2 if req.group == "" else 3) + (2 if req.namespace else 0) + 3
    return "/".join(parts[prefix:])


def install_streaming(backend: Backend) -> dict[tuple[str, str], tuple[tuple[str, ...] | None, Any]]:
    """The streaming subresources of apiserver.http.streaming (when it is there), by (resource, subresource):
    the methods each takes (None: any) and its handler. They reach kubelets through the same ApiService."""
    try:
        from . import streaming
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.streaming":
            raise
        return {}
    from apiserver.kubelet_streams import kubelet_error
    deps = streaming.Deps(kubelet=backend.svc._kubelet, kubelet_error=kubelet_error, get=backend.store.get,
                          error_response=error_response)
    get_post = ("GET", "POST")

    def proxy(resource: str) -> Any:
        return lambda request, req: streaming.proxy(deps, request, req.namespace, resource, req.name,
                                                    _proxy_tail(request, req))
    return {
        ("pods", "log"): (("GET",), lambda request, req: streaming.pod_log(deps, request, req.namespace, req.name)),
        ("pods", "exec"): (get_post, lambda request, req: streaming.pod_exec(deps, request, req.namespace,
                                                                              req.name)),
        ("pods", "attach"): (get_post, lambda request, req: streaming.pod_exec(deps, request, req.namespace,
                                                                                req.name, attach=True)),
        ("pods", "portforward"): (get_post, lambda request, req: streaming.pod_portforward(
            deps, request, req.namespace, req.name)),
        ("pods", "proxy"): (None, proxy("pods")),
        ("services", "proxy"): (None, proxy("services")),
    }


def install_openapi(app: web.Application) -> None:
    """/openapi/v2 (JSON, or gnostic protobuf when asked) and /openapi/v3 from apiserver.http.openapi, when it
    is there."""
    try:
        from . import openapi
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.openapi":
            raise
        return
    version = discovery.version_info()["gitVersion"]

    async def v2(request: web.Request) -> web.StreamResponse:
        if "protobuf" in request.headers.get("Accept", ""):
            from . import openapi_pb
            resp = web.Response(body=openapi.v2_protobuf(version))
            resp.headers["Content-Type"] = openapi_pb.RESPONSE_MEDIA_TYPE
            return resp
        return web.Response(body=openapi.v2_json(version), content_type="application/json")

    async def v3_index(request: web.Request) -> web.StreamResponse:
        return web.Response(body=openapi.v3_index(version), content_type="application/json")

    async def v3(request: web.Request) -> web.StreamResponse:
        body = openapi.v3_document(request.match_info["name"], version)
        if body is None:
            raise not_found_path()
        return web.Response(body=body, content_type="application/json")

    app.router.add_route("*", "/openapi/v2", _get_only(v2))
    app.router.add_route("*", "/openapi/v3", _get_only(v3_index))
    app.router.add_route("*", "/openapi/v3/{name:.+}", _get_only(v3))


def _get_only(handler: Handler) -> Handler:
    """A read-only path: any other method is 405 MethodNotAllowed as a Status (aiohttp's own is plain text)."""
    async def only_get(request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise _method_not_allowed()
        return await handler(request)
    return only_get


def make_app(backend: Backend) -> web.Application:
    app = web.Application(middlewares=[recovery, size_limit, authentication, audit], client_max_size=MAX_BODY_BYTES)
    app[BACKEND] = backend
    app[STREAMING] = install_streaming(backend)
    app[watch.DEADLINES] = set()
    app.on_shutdown.append(watch.end_watches)
    app.on_response_prepare.append(deprecation_warning)
    install_openapi(app)
    r = app.router
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_route("*", path, _get_only(health))
        r.add_route("*", path + "/{check:.*}", _get_only(health))
    r.add_route("*", "/version", _get_only(version))
    r.add_route("*", "/metrics", _get_only(metrics))
    r.add_route("*", "/", _get_only(root))
    r.add_route("*", "/api", _get_only(api_root))
    r.add_route("*", "/apis", _get_only(apis_root))
    r.add_route("*", "/api/{version}", _get_only(resource_list))
    r.add_route("*", "/apis/{group}", _get_only(api_group))
    r.add_route("*", "/apis/{group}/{version}", _get_only(resource_list))
    r.add_route("*", "/apis/kubelab.io/v1/namespaces/{namespace}/traces/{kind}/{name}", _get_only(trace))
    r.add_route("*", "/api/{version}/{rest:.+}", resource)
    r.add_route("*", "/apis/{group}/{version}/{rest:.+}", resource)
    r.add_route("*", "/{rest:.*}", not_found)
    return app


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])      # aiohttp speaks HTTP/1.1; clients fall back from h2
    return ctx


# kube-apiserver's http.Server (secure_serving.go): a request's headers must be in within ReadHeaderTimeout
# (32 s, "just shy of requestTimeoutUpperBound"), else the connection is closed without an answer (Go's server
# does not reply to a read that timed out); a keep-alive connection idle for IdleTimeout (90 s) is closed.
# A request being served (a watch, a stream) is never cut by either.
READ_HEADER_TIMEOUT = 32.0
IDLE_TIMEOUT = 90.0
OPEN_FILES = 65536       # what the apiserver asks of RLIMIT_NOFILE: each watch or stream holds a socket


class _Connection(web.RequestHandler):
    """aiohttp's connection handler with a request-header deadline beside its idle timeout (aiohttp has one
    timer: the keep-alive close, which fires only while no request is being served). Once the first bytes of
    a request come, that timer is brought forward to READ_HEADER_TIMEOUT; once the request is parsed, aiohttp
    stops it (a handler runs), and restarts it at the idle timeout when the answer is out."""

    def __init__(self, *args: Any, header_timeout: float = READ_HEADER_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._header_deadline()      # a connection that never sends a whole request is closed in time too

    def data_received(self, data: bytes) -> None:
        waiting = self._waiter is not None and not self._waiter.done() and not self._messages
        super().data_received(data)
        if waiting and not self._messages:       # a request has begun and its headers are not all in yet
            self._header_deadline()

    def _header_deadline(self) -> None:
        if not hasattr(self, "_next_keepalive_close_time"):
            return      # an aiohttp older than its keep-alive close time (3.14 has it): its idle timeout only
        deadline = self._loop.time() + self._header_timeout
        if deadline < self._next_keepalive_close_time or self._keepalive_handle is None:
            self._next_keepalive_close_time = deadline
            if self._keepalive_handle is not None:
                self._keepalive_handle.cancel()
            self._keepalive_handle = self._loop.call_at(deadline, self._process_keepalive)


def raise_open_files_limit(wanted: int = OPEN_FILES) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (never past the hard limit): 1,000 idle watches must not
    stop the apiserver accepting others for want of descriptors. The soft limit in force after."""
    import resource as rlimit
    soft, hard = rlimit.getrlimit(rlimit.RLIMIT_NOFILE)
    target = wanted if hard == rlimit.RLIM_INFINITY else min(wanted, hard)
    if soft != rlimit.RLIM_INFINITY and soft < target:
        try:
            rlimit.setrlimit(rlimit.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, target, e)
    return soft


class HttpServer:
    """The HTTPS listener; `start` returns the bound port (0 picks a free one)."""

    def __init__(self, backend: Backend, host: str, port: int, cert_file: str, key_file: str,
                 reuse_port: bool = False, header_timeout: float = READ_HEADER_TIMEOUT,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.app = make_app(backend)
        self.host, self.port = host, port
        self.ssl = tls_context(cert_file, key_file) if cert_file else None
        self.reuse_port = reuse_port
        self.header_timeout, self.idle_timeout = header_timeout, idle_timeout
        self.runner: web.AppRunner | None = None
        self.server: Any = None

    async def start(self) -> int:
        raise_open_files_limit()
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        manager, loop = self.runner.server, asyncio.get_running_loop()
        assert manager is not None

        def connection() -> _Connection:     # as aiohttp's Server makes its handlers, with our deadline
            return _Connection(manager, loop=loop, access_log=None, keepalive_timeout=self.idle_timeout,
                               header_timeout=self.header_timeout)
        self.server = await loop.create_server(connection, self.host, self.port, ssl=self.ssl,
                                               reuse_port=self.reuse_port or None, backlog=1024)
        sockets = self.server.sockets or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.runner is not None:
            await self.runner.cleanup()
