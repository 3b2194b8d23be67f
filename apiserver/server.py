"""The API server process: the API's calls (ApiService: CRUD, pipelined writes, eviction, watch, tokens,
trace), and the process's life cycle. Its gRPC transport is apiserver.grpc_transport, the streaming verbs
apiserver.kubelet_streams, the objects it writes at start apiserver.builtin.

`Server(config)` is the process's kubelab.serving.Service: start (connect to
etcd → make sure the default namespaces exist → fill the watch caches →
accept calls) → run until SIGTERM → stop (stop accepting, let calls finish
for a grace period, then cancel).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import platform
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kubelab import errors, kinds, timeutil
from kubelab.errors import net_reason
from kubelab.backoff import doubling
from kubelab.hostport import split_host_port
from kubelab.pipeline import STREAM_ACCEPTED
from kubelab.serving import Fatal, MetricsServer, forever
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import objects_pb2 as pb

from . import builtin
from . import storage as st
from .audit import AuditConfig, AuditLog
from .audit_grpc import audit_begin, audit_finish, user_agent
from .auth import Authenticator, UserInfo
from .authz import Authorizer
from .authz.gate import Gate
from .authz.grpc_attributes import review_attributes
from .authz import node as node_authz
from .builtin import advertise_address
from .checks import abort, api_error, check_path
from .grpc_transport import (FIXED_RESOURCE, call_metadata, method_handlers, new_grpc_server, resource_of,
                             serve_writes, translate)
from .kubelet_streams import KubeletStreams
from . import serviceaccount as sa_tokens
from .metrics import ApiMetrics
from .store import Store, kind_prefix, object_key
from .trace import TraceIndex, trace_response
from .watchcache import WatchCache

log = logging.getLogger(__name__)


@dataclass
class Config:
    listen: str = "127.0.0.1:6443"
    etcd_servers: list[str] = field(default_factory=lambda: ["127.0.0.1:2379"])
    etcd_tls: st.EtcdTLS | None = None       # client-certificate TLS to etcd (None: plain, for tests)
    token: str = ""
    tokens: dict[str, UserInfo] = field(default_factory=dict)   # --token-auth-file's users by token
    authorization_mode: str = "Node,RBAC"                        # or AlwaysAllow
    kubelet_token: str = ""
    service_cidr: str = "10.96.0.0/16"
    node_port_range: tuple[int, int] = (30000, 32767)
    bookmark_interval: float = 5.0
    event_ttl: int = 3600
    shutdown_grace: float = 5.0
    workers: int = 1                # --workers: processes sharing the ports (SO_REUSEPORT only then)
    metrics_address: str = ""       # HTTP /metrics and /healthz ("" = off)
    advertise_address: str = ""     # the address in the `kubernetes` Endpoints ("" = derived from listen)
    secure_port: int | None = None  # the Kubernetes HTTP API's port (None = not served; 0 = any free port)
    bind_address: str = ""          # its host ("" = the --listen host)
    tls_cert_file: str = ""         # its serving certificate and key (PEM)
    tls_private_key_file: str = ""
    audit: AuditConfig = field(default_factory=AuditConfig)   # --audit-log-path etc. (off by default)
    # ServiceAccount tokens: --service-account-signing-key-file's PEM (b"": a key made at start, which tokens
    # do not survive), --service-account-key-file's public keys, --service-account-issuer, --api-audiences.
    service_account_signing_key: bytes = field(default=b"", repr=False)
    service_account_keys: tuple[bytes, ...] = ()
    service_account_issuer: str = sa_tokens.DEFAULT_ISSUER
    api_audiences: tuple[str, ...] = ()


def _manager(req: Any) -> dict[str, Any]:
    """The Store's field-manager arguments of a write request: none when it names no manager (most gRPC
    writes: components), so those writes cost nothing more and keep the entries they find."""
    if not req.field_manager:
        return {}
    out: dict[str, Any] = {"field_manager": req.field_manager}
    if getattr(req, "force", False):
        out["force"] = True
    return out


def _kind_of(name: str) -> kinds.KindInfo:
    info = kinds.BY_KIND.get(name)
    if info is None:
        try:
            info = kinds.lookup(name)
        except kinds.UnknownKind as e:
            raise errors.NotFound(str(e)) from None
    return info


class ApiService(KubeletStreams):
    def __init__(self, store: Store, cache: WatchCache, config: Config, metrics: ApiMetrics | None = None,
                 audit: AuditLog | None = None, trace_index: TraceIndex | None = None) -> None:
        self.store = store
        self.trace_index = trace_index or TraceIndex()
        self.cache = cache
        self.config = config
        self.metrics = metrics or ApiMetrics()
        self._kubelet_channels: dict[str, grpc.aio.Channel] = {}
        # Every call passes the gate (authentication → impersonation → authorization) before the registry runs.
        self.audit = audit or AuditLog(config.audit)
        if not config.service_account_signing_key:
            config.service_account_signing_key = sa_tokens.new_signing_key()
        self.tokens = sa_tokens.TokenAuthority(config.service_account_signing_key, self._cached,
                                               config.service_account_issuer, tuple(config.api_audiences),
                                               tuple(config.service_account_keys))
        self.gate = Gate(Authenticator(config.token, config.tokens, self.tokens.authenticate),
                         None if config.authorization_mode == "AlwaysAllow"
                         else Authorizer(lambda kind: self.cache.caches[kind].objects.values(), self._cached,
                                         node_authorizer="Node" in config.authorization_mode.split(",")))

    def _cached(self, kind: str, namespace: str, name: str) -> Any:
        return self.cache.current(kind, object_key(kinds.BY_KIND[kind], namespace, name))

    @translate
    async def WhoAmI(self, req: api.WhoAmIRequest, context: Any) -> api.UserInfo:
        user = self.gate.user_of(call_metadata(context))
        return api.UserInfo(username=user.name, uid=user.uid, groups=list(user.groups),
                            extra=[api.UserExtra(key=k, values=list(v)) for k, v in user.extra])

    @translate
    async def SelfSubjectAccessReview(self, req: api.AccessReviewRequest, context: Any) -> api.AccessReviewStatus:
        allowed, reason = self.gate.review(self.gate.user_of(call_metadata(context)), review_attributes(req))
        return api.AccessReviewStatus(allowed=allowed, reason=reason)

    # ---------------------------------------------------------------- CRUD
    # Each write is one function of its request, which the unary call and the Writes stream both serve.
    async def _create(self, req: api.CreateRequest) -> pb.Object:
        obj = self._unwrap(req.object)
        check_path(obj.metadata.namespace, "")     # the name is the registry's to judge (Invalid, in its words)
        if isinstance(obj, pb.Pod):
            await self._admit_pod(obj)
        created = await self.store.create(obj, dry_run=req.dry_run, **_manager(req))
        if isinstance(created, pb.Namespace) and not req.dry_run:
            await self._ensure_default_service_account(created.metadata.name)
        return kinds.wrap(created)

    async def _service_account(self, namespace: str, name: str) -> Any:
        """A ServiceAccount from the watch cache, else from etcd (one made a moment ago), else None."""
        found = self._cached("ServiceAccount", namespace, name) if self.cache is not None else None
        if found is not None:
            return found
        try:
            return await self.store.get("ServiceAccount", namespace, name)
        except errors.NotFound:
            return None

    async def _admit_pod(self, pod: pb.Pod) -> None:
        """The ServiceAccount admission (apiserver/serviceaccount.py): a missing ServiceAccount is Forbidden, as
        in Kubernetes; otherwise the pod gets its serviceAccountName and, unless automounting is off, the
        projected token volume."""
        ns = pod.metadata.namespace or "default"
        name = pod.spec.service_account_name or pod.spec.service_account or sa_tokens.DEFAULT_SERVICE_ACCOUNT
        sa = await self._service_account(ns, name)
        if sa is None:
            if not await self._namespace_open(ns):
                return                     # the store refuses it in NamespaceLifecycle's words (runs first there)
            raise sa_tokens.missing_service_account(pod.metadata.name, ns, name, not pod.metadata.name)
        sa_tokens.admit_pod(pod, sa)

    async def _namespace_open(self, namespace: str) -> bool:
        ns = self._cached("Namespace", "", namespace) if self.cache is not None else None
        if ns is None:
            try:
                ns = await self.store.get("Namespace", "", namespace)
            except errors.NotFound:
                return False
        return not ns.metadata.deletion_timestamp

    async def _ensure_default_service_account(self, namespace: str) -> None:
        """A namespace's `default` ServiceAccount, written with the namespace. (In Kubernetes only the
        controller manager's serviceaccount controller makes it, a moment later; kubelab's apiserver makes it
        at once so a control plane without a controller manager still admits pods. The controller still
        makes it again when it is deleted.)"""
        sa = pb.ServiceAccount(api_version="v1", kind="ServiceAccount")
        sa.metadata.name, sa.metadata.namespace = sa_tokens.DEFAULT_SERVICE_ACCOUNT, namespace
        try:
            await self.store.create(sa)
        except (errors.AlreadyExists, errors.Forbidden, errors.NotFound):
            pass                           # there already; or the namespace is going away

    # ---------------------------------------------------------------- TokenRequest
    async def _create_token(self, ask: sa_tokens.TokenAsk, dry_run: bool = False, user: UserInfo | None = None
                            ) -> tuple[str, int, tuple[str, ...], int]:
        """A bound token for a ServiceAccount (serviceaccounts/token): (token, expiry in Unix seconds,
        audiences, expirationSeconds). The token is returned to the caller only, never logged."""
        check_path(ask.namespace, ask.name)
        sa_tokens.validate_ask(ask)
        sa = await self.store.get("ServiceAccount", ask.namespace, ask.name)
        pod = node = None
        if ask.bound_kind == "Pod":
            check_path(ask.namespace, ask.bound_name)
            pod = await self.store.get("Pod", ask.namespace, ask.bound_name)
            if pod.spec.node_name:
                node = self._cached("Node", "", pod.spec.node_name)
        if user is not None and self.gate.authz is not None and self.config.authorization_mode != "RBAC":
            why = node_authz.restrict_token(user, ask.bound_kind, None if pod is None else pod.spec.node_name)
            if why:                        # NodeRestriction: a kubelet's tokens are for its own pods only
                raise errors.Forbidden(f'serviceaccounts "{ask.name}" is forbidden: {why}')
        bound = sa_tokens.bind_ask(ask, sa, pod, node)
        audiences = ask.audiences or tuple(self.tokens.audiences)
        seconds = ask.expiration_seconds if ask.expiration_seconds is not None else sa_tokens.DEFAULT_EXPIRATION
        token, expires = self.tokens.issue(bound, audiences, seconds)
        return ("" if dry_run else token), expires, audiences, seconds

    @translate
    async def CreateToken(self, req: api.TokenRequest, context: Any) -> api.TokenResponse:
        ask = sa_tokens.token_ask_of(req)
        token, expires, audiences, seconds = await self._create_token(ask, req.dry_run,
                                                                      self.gate.user_of(call_metadata(context)))
        out = api.TokenResponse(token=token, expiration_timestamp=timeutil.fmt(expires),
                                audiences=list(audiences), expiration_seconds=seconds)
        if req.HasField("bound_object_ref"):
            out.bound_object_ref.CopyFrom(req.bound_object_ref)
        return out

    async def _update(self, req: api.UpdateRequest) -> pb.Object:
        obj = self._unwrap(req.object)
        check_path(obj.metadata.namespace, obj.metadata.name)
        return kinds.wrap(await self.store.update(obj, subresource=req.subresource, dry_run=req.dry_run,
                                                  **_manager(req)))

    async def _patch(self, req: api.PatchRequest) -> pb.Object:
        info = _kind_of(req.kind)
        check_path(req.namespace, req.name)
        return kinds.wrap(await self.store.patch(info.kind, req.namespace, req.name, req.patch_type or "strategic",
                                                 req.patch, req.subresource, req.dry_run, **_manager(req)))

    async def _delete(self, req: api.DeleteRequest) -> pb.Object:
        info = _kind_of(req.kind)
        check_path(req.namespace, req.name)
        grace = req.grace_period_seconds if req.HasField("grace_period_seconds") else None
        return kinds.wrap(await self.store.delete(info.kind, req.namespace, req.name, grace, req.propagation_policy,
                                                  req.precondition_uid, req.precondition_resource_version,
                                                  req.dry_run))

    async def _bind(self, req: api.BindRequest) -> pb.Object:
        check_path(req.namespace, req.name)
        return kinds.wrap(await self.store.bind(req.namespace, req.name, req.node_name, req.uid))

    @translate
    async def Create(self, req: api.CreateRequest, context: Any) -> pb.Object:
        return await self._create(req)

    @translate
    async def Get(self, req: api.GetRequest, context: Any) -> pb.Object:
        info = _kind_of(req.kind)
        check_path(req.namespace, req.name)
        return kinds.wrap(await self.store.get(info.kind, req.namespace, req.name))

    @translate
    async def List(self, req: api.ListRequest, context: Any) -> api.ListResponse:
        info = _kind_of(req.kind)
        check_path(req.namespace, "")
        if req.limit < 0:
            raise errors.BadRequest("limit must be greater than or equal to 0")
        items, rev, token = await self.store.list(info.kind, req.namespace, req.label_selector, req.field_selector,
                                                  req.limit, req.continue_token)
        return api.ListResponse(items=[kinds.wrap(o) for o in items], resource_version=str(rev),
                                continue_token=token)

    @translate
    async def Update(self, req: api.UpdateRequest, context: Any) -> pb.Object:
        return await self._update(req)

    @translate
    async def Patch(self, req: api.PatchRequest, context: Any) -> pb.Object:
        return await self._patch(req)

    @translate
    async def Delete(self, req: api.DeleteRequest, context: Any) -> pb.Object:
        return await self._delete(req)

    @translate
    async def Bind(self, req: api.BindRequest, context: Any) -> pb.Object:
        return await self._bind(req)

    # ---------------------------------------------------------------- pipelined writes
    async def _write(self, item: api.WriteRequest, user: UserInfo | None = None,
                     context: Any = None) -> api.WriteResult:
        """One request of a Writes stream, done as its unary call would be: its answer, or its error."""
        op = item.WhichOneof("op")
        record = None
        started = time.perf_counter()
        code = "OK"
        req = getattr(item, op) if op else None
        try:
            if req is None:
                raise errors.BadRequest("the write request names no operation")
            if user is not None:
                self.gate.admit_as(user, op, req)
            record = audit_begin(self.audit, op, req, user, context)
            result = await getattr(self, f"_{op}")(req)
            audit_finish(self.audit, record, result)
            return api.WriteResult(id=item.id, object=result)
        except (errors.ApiError, st.StorageError) as e:
            err = api_error(e)
            code = err.reason
            audit_finish(self.audit, record, err)
            return api.WriteResult(id=item.id, code=err.code.value[0], reason=err.reason, message=err.message)
        except Exception as e:  # noqa: BLE001 - a unary call would end UNKNOWN; one write must not end the stream
            log.exception("%s failed", op)
            code = "InternalError"
            return api.WriteResult(id=item.id, code=grpc.StatusCode.UNKNOWN.value[0], message=f"Unexpected {e!r}")
        finally:
            resource = FIXED_RESOURCE.get(op or "")
            self.metrics.observe(op or "writes", resource if resource is not None else resource_of(req), code,
                                 started)

    async def Writes(self, request_iterator: Any, context: Any) -> AsyncIterator[api.WriteResults]:
        try:
            user = self.gate.user_of(call_metadata(context))
        except errors.ApiError as e:
            await abort(context, e)
        # The client sends its first batch only after this (kubelab.pipeline): written while the stream was
        # being refused, grpc.aio would report "Internal error from Core" in place of the refusal.
        await context.send_initial_metadata((STREAM_ACCEPTED,))
        async for out in serve_writes(request_iterator, functools.partial(self._write, user=user, context=context)):
            yield out

    @translate
    async def Evict(self, req: api.EvictRequest, context: Any) -> pb.Object:
        return await self._evict(req)

    async def _evict(self, req: api.EvictRequest) -> pb.Object:
        check_path(req.namespace, req.name)
        grace = req.grace_period_seconds if req.HasField("grace_period_seconds") else None
        pdbs = self.cache.caches["PodDisruptionBudget"]

        def list_pdbs(ns: str) -> list[Any]:
            return [o for o in pdbs.objects.values() if o.metadata.namespace == ns]
        return kinds.wrap(await self.store.evict(req.namespace, req.name, grace, list_pdbs))

    @translate
    async def Version(self, req: api.VersionRequest, context: Any) -> api.VersionInfo:
        # The version /version serves over HTTPS: `kubelab version` and kubectl's name the same server alike.
        from .http.discovery import version_info
        v = version_info()
        return api.VersionInfo(major=v["major"], minor=v["minor"], git_version=v["gitVersion"],
                               platform=v["platform"],
                               python_version=platform.python_version(),
                               etcd_version=await self.store.storage.version())

    def _unwrap(self, env: pb.Object) -> Any:
        try:
            return kinds.unwrap(env)
        except ValueError:
            raise errors.BadRequest("the request carries no object") from None

    # ---------------------------------------------------------------- watch
    async def Watch(self, req: api.WatchRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            self.gate.admit_call("watch", req, call_metadata(context))
            info = _kind_of(req.kind)
            check_path(req.namespace, "")
            match = self.store.matcher(req.label_selector, req.field_selector, info.kind)
            rv: int | None = None
            if req.resource_version not in ("", "0"):
                try:
                    rv = int(req.resource_version)
                except ValueError:
                    rv = -1
                if rv < 0:
                    raise errors.BadRequest(f'invalid resourceVersion "{req.resource_version}"')
            namespace = req.namespace if info.namespaced else ""
            async for item in self.cache.caches[info.kind].watch(namespace, match, rv, req.allow_bookmarks):
                yield item
        except errors.ApiError as e:
            await abort(context, e)
        except st.Compacted as e:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE,
                                f"too old resource version: {req.resource_version} ({e.compact_revision})",
                                trailing_metadata=((errors.REASON_KEY, "Gone"),))
        except Exception as e:  # noqa: BLE001 - the stream ends; the client re-watches
            if isinstance(e, asyncio.CancelledError):
                raise
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"watch closed: {e}",
                                trailing_metadata=((errors.REASON_KEY, "ServiceUnavailable"),))

    async def Trace(self, req: api.TraceRequest, context: Any) -> api.TraceResponse:
        """`kubelab trace`: authorized as a `get` of the object (not audited: a read)."""
        started, code = time.perf_counter(), "OK"
        try:
            self.gate.admit_call("get", req, call_metadata(context))
            return trace_response(self.trace_index, self._cached, req.kind, req.namespace, req.name, req.since)
        except errors.ApiError as e:
            code = e.reason
            await context.abort(e.code, e.message, trailing_metadata=((errors.REASON_KEY, e.reason),))
            raise AssertionError("unreachable") from None
        finally:
            self.metrics.observe("trace", resource_of(req), code, started)

    async def ReportProxy(self, req: api.ProxyReport, context: Any) -> api.ProxyReportAck:
        """A node's proxy began sending to endpoints: into the trace index only (nothing stored, not audited)."""
        started, code = time.perf_counter(), "OK"
        try:
            md = call_metadata(context)
            user = self.gate.admit_call("reportproxy", req, md)
            if not req.node_name:
                raise errors.BadRequest("a proxy report names its node (node_name)")
            return api.ProxyReportAck(indexed=self.trace_index.add_proxy_report(user.name, user_agent(md), req))
        except errors.ApiError as e:
            code = e.reason
            await context.abort(e.code, e.message, trailing_metadata=((errors.REASON_KEY, e.reason),))
            raise AssertionError("unreachable") from None
        finally:
            self.metrics.observe("reportproxy", "proxyreports", code, started)


async def create_server(config: Config) -> tuple["Server", int]:
    """Start a server (port 0 picks a free one); returns it and its port. Tests use this."""
    server = Server(config)
    port = await server.start()
    return server, port


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.storage = st.EtcdStorage(config.etcd_servers, tls=config.etcd_tls)
        self.store = Store(self.storage, config.service_cidr, config.node_port_range, config.event_ttl)
        prefixes = {k.kind: kind_prefix(k) for k in kinds.KINDS}
        decoders = {k.kind: Store.decoder(k) for k in kinds.KINDS}
        self.cache = WatchCache(self.storage, prefixes, decoders, config.bookmark_interval)
        self.store.object_cache = self.cache.current
        self.health = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
        self.metrics = ApiMetrics()
        self.audit = AuditLog(config.audit)
        self.trace_index = TraceIndex()
        self.metrics.watch_caches(lambda: self.cache.caches)
        self.storage.observe = self.metrics.observe_etcd
        self.metrics_server = MetricsServer(config.metrics_address, self.metrics.render,
                                            reuse_port=config.workers > 1) \
            if config.metrics_address else None
        self.grpc: grpc.aio.Server | None = None
        self.port = 0
        self.http: Any = None            # apiserver.http.app.HttpServer when --secure-port is given
        self.http_port = 0

    async def _wait_for_etcd(self) -> None:
        for attempt in range(1, 101):
            try:
                await self.storage.current_revision()
                return
            except st.StorageError as e:
                log.info("waiting for etcd at %s: %s", self.config.etcd_servers, e)
                await asyncio.sleep(doubling(attempt, 0.1, 2.0))
        raise Fatal(f"etcd at {', '.join(self.config.etcd_servers)} is unreachable")

    def _advertised(self) -> str:
        return advertise_address(self.config.listen, self.config.advertise_address)

    async def start(self) -> int:
        await self.storage.start()
        await self._wait_for_etcd()
        await self.store.start()
        await builtin.ensure_namespaces(self.store)
        await builtin.ensure_rbac(self.store)
        # The Endpoints lead to the HTTP API when it is served (as kube-apiserver's), else to the gRPC port.
        port = self.config.secure_port or (split_host_port(self.config.listen, min_port=0)[1] or 6443)
        await builtin.ensure_kubernetes_service(self.store, self.config.service_cidr, port, self._advertised())
        self.cache.start()
        await self.cache.wait_ready()
        self.trace_index.attach(self.audit, self.cache)
        service = ApiService(self.store, self.cache, self.config, self.metrics, self.audit, self.trace_index)
        self.grpc = new_grpc_server(self.config.token, self.config.tokens, service.gate.authn,
                                    share_port=self.config.workers > 1)
        self.grpc.add_generic_rpc_handlers((method_handlers(service),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        try:
            self.port = self.grpc.add_insecure_port(self.config.listen)
        except RuntimeError as e:       # grpc's "Failed to bind to address ...": in use, or not this host's
            raise Fatal(f"failed to listen on {self.config.listen}: {str(e).split(';')[0]}") from None
        await self.grpc.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self._start_http(service)
        if self.metrics_server is not None:
            await self.metrics_server.start()
        log.info("apiserver serving on port %d (etcd %s)", self.port, ",".join(self.config.etcd_servers))
        return self.port

    async def _start_http(self, service: ApiService) -> None:
        """The Kubernetes HTTP API (apiserver.http) on --secure-port, from the same ApiService as gRPC."""
        if self.config.secure_port is None:
            return
        from .http.app import HttpServer
        from .http.common import Backend
        host = self.config.bind_address or split_host_port(self.config.listen, min_port=0)[0]
        backend = Backend(service, f"{self._advertised()}:{self.config.secure_port}")
        self.http = HttpServer(backend, host, self.config.secure_port,
                               self.config.tls_cert_file, self.config.tls_private_key_file,
                               reuse_port=self.config.workers > 1)
        try:
            self.http_port = await self.http.start()
        except OSError as e:
            raise Fatal(f"failed to listen on {host}:{self.config.secure_port}: {net_reason(e)}") from None
        if not self.config.secure_port:      # a port picked now: the Endpoints learn it now
            await builtin.reconcile_kubernetes_endpoints(self.store, self._advertised(), self.http_port)
        log.info("apiserver serving the Kubernetes HTTP API on port %d", self.http_port)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.stop()
        if self.grpc is not None:
            await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
            await self.grpc.stop(self.config.shutdown_grace)
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        await self.cache.stop()
        await self.storage.close()
        self.audit.close()                  # what is still queued reaches the log

    async def run(self) -> None:
        await forever()
