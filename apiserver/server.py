"""The API server process: gRPC handlers, auth, lifecycle.

`Server(config)` is the process's kubelab.serving.Service: start (connect to
etcd → make sure the default namespaces exist → fill the watch caches →
accept calls) → run until SIGTERM → stop (stop accepting, let calls finish
for a grace period, then cancel).
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import platform
import socket
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import kubelab
from kubelab import errors, kinds, nodes
from kubelab.client import STREAM_ACCEPTED, channel_options
from kubelab.serving import Fatal, MetricsServer, forever
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc
from kubelab.v1 import objects_pb2 as pb

from . import storage as st
from .audit import AuditConfig, AuditLog
from .audit_grpc import audit_begin, audit_finish, user_agent
from .auth import MAX_REQUEST_BYTES, AuthInterceptor, Authenticator, UserInfo
from .authz import Authorizer, bootstrap
from .authz.gate import Gate
from .authz.grpc_attributes import review_attributes
from .authz import node as node_authz
from . import serviceaccount as sa_tokens
from .metrics import ApiMetrics
from .store import Store, kind_prefix, object_key
from .trace import TraceIndex, trace_for, trace_proto
from .watchcache import WatchCache

log = logging.getLogger(__name__)

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


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


def advertise_address(listen: str, given: str = "") -> str:
    """Where other hosts reach this apiserver, as an IP (an Endpoints address is one): `given`, the listen
    host (a name: the address it resolves to), or (listening on 0.0.0.0) the host's address on its default
    route, as kube-apiserver picks its --advertise-address."""
    if given:
        ipaddress.ip_address(given)      # ValueError: kube-apiserver too takes an IP only
        return given
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host not in ("", "0.0.0.0", "::"):
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        try:
            return socket.gethostbyname(host)
        except OSError:
            pass                         # unresolvable here: fall back to the default route's address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))     # no packet is sent: this only asks for a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


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


def _resource_of(request: Any) -> str:
    """The resource a request is about, for metrics labels (`pods`, `deployments`, ...)."""
    name = getattr(request, "kind", "")
    if not name and hasattr(request, "object"):
        name = request.object.WhichOneof("kind") or ""
    info = kinds.BY_KIND.get(name) or kinds.BY_ONEOF.get(name)
    return info.plural if info is not None else (name or "")


def storage_error(e: st.StorageError) -> errors.ApiError:
    """What a client hears of storage trouble the store did not turn into an API error itself.

    Any StorageError must end here: one that reached grpc would be UNKNOWN with a traceback in the log.
    """
    if isinstance(e, st.Unavailable):
        return errors.Unavailable(f"storage unavailable: {e}")
    if isinstance(e, st.TooLarge):
        return errors.RequestEntityTooLarge(f"Request entity too large: {e}")
    log.warning("storage error: %s", e)
    return errors.ApiError(f"storage error: {e}")


def api_error(e: errors.ApiError | st.StorageError) -> errors.ApiError:
    return e if isinstance(e, errors.ApiError) else storage_error(e)


# The most of a message a status carries. gRPC sends it in a trailer, percent-encoded (a byte outside printable
# ASCII, or `%`, takes three), and a client drops a call whose metadata passes its limit (8 KiB soft, 16 KiB
# hard) as RESOURCE_EXHAUSTED "metadata size exceeds hard limit": a message echoing a 10,000-character name
# turned an Invalid into a TooManyRequests.
MAX_STATUS_MESSAGE = 6000


def _encoded_size(data: bytes) -> int:
    return len(data) + 2 * sum(1 for b in data if b < 0x20 or b > 0x7E or b == 0x25)


def fit_message(message: str) -> str:
    """`message`, cut to what a status can carry (whatever the registry made of a hostile value)."""
    data = message.encode()
    if _encoded_size(data) <= MAX_STATUS_MESSAGE:
        return message
    keep = MAX_STATUS_MESSAGE // 3        # at most three bytes on the wire per byte kept
    while keep < len(data) and _encoded_size(data[:keep * 2]) <= MAX_STATUS_MESSAGE:
        keep *= 2                         # mostly ASCII: more fits
    return data[:keep].decode(errors="ignore") + "..."


async def abort(context: grpc.aio.ServicerContext, err: errors.ApiError) -> None:
    """End a call with `err`: its code, its reason in the trailers, its message as far as it fits."""
    await context.abort(err.code, fit_message(err.message), trailing_metadata=((errors.REASON_KEY, err.reason),))


# kube-apiserver's registry refuses a name in a request's path that could not be a key
# (k8s.io/apiserver's NamespaceKeyFunc: "Name parameter invalid"); no object's name is longer than 253
# characters (a DNS subdomain), so a longer one is refused here too, before it becomes an etcd key
# (etcd refuses a request over 1.5 MiB as RESOURCE_EXHAUSTED).
MAX_NAME_LENGTH = 253


def path_segment_problems(name: str) -> list[str]:
    """k8s.io/apimachinery's IsValidPathSegmentName, and the length no stored name exceeds."""
    problems = []
    if name in (".", ".."):
        problems.append(f"may not be '{name}'")
    problems += [f"may not contain '{c}'" for c in "/%" if c in name]
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"must be no more than {MAX_NAME_LENGTH} characters")
    return problems


def check_path(namespace: str, name: str) -> None:
    """A request naming an object (get, patch, delete, bind, evict, the streams): BadRequest for a name or
    namespace no object can have."""
    for what, value in (("Namespace", namespace), ("Name", name)):
        if value and (problems := path_segment_problems(value)):
            shown = value if len(value) <= MAX_NAME_LENGTH else value[:MAX_NAME_LENGTH] + "..."
            raise errors.BadRequest(f'{what} parameter invalid: "{shown}": {"; ".join(problems)}')


# Verbs about a resource their request does not name, for metrics labels.
FIXED_RESOURCE = {"bind": "pods", "evict": "pods", "version": "", "proxy": "pods", "createtoken": "serviceaccounts"}


def translate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn ApiError (and storage trouble) into a gRPC status with the reason attached; count and time the call."""
    verb = fn.__name__.lower()
    fixed_resource = FIXED_RESOURCE.get(verb)

    @functools.wraps(fn)
    async def wrapper(self: "ApiService", request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        code = "OK"
        record = None
        try:
            user = self.gate.admit_call(verb, request, _metadata(context))
            record = audit_begin(self.audit, verb, request, user, context)
            result = await fn(self, request, context)
            audit_finish(self.audit, record, result)
            return result
        except (errors.ApiError, st.StorageError) as e:
            err = api_error(e)
            code = err.reason
            audit_finish(self.audit, record, err)
            await abort(context, err)
        finally:
            resource = fixed_resource if fixed_resource is not None else _resource_of(request)
            self.metrics.observe(verb, resource, code, started)
    return wrapper


def _metadata(context: Any) -> tuple[tuple[str, Any], ...]:
    # (unit tests' stand-in contexts carry none: as a call without credentials)
    return tuple(getattr(context, "invocation_metadata", lambda: ())() or ())


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


class ApiService:
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
        user = self.gate.user_of(_metadata(context))
        return api.UserInfo(username=user.name, uid=user.uid, groups=list(user.groups))

    @translate
    async def SelfSubjectAccessReview(self, req: api.AccessReviewRequest, context: Any) -> api.AccessReviewStatus:
        allowed, reason = self.gate.review(self.gate.user_of(_metadata(context)), review_attributes(req))
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
                                                                      self.gate.user_of(_metadata(context)))
        out = api.TokenResponse(token=token, expiration_timestamp=sa_tokens.rfc3339(expires),
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
            self.metrics.observe(op or "writes", resource if resource is not None else _resource_of(req), code,
                                 started)

    async def Writes(self, request_iterator: Any, context: Any) -> AsyncIterator[api.WriteResults]:
        try:
            user = self.gate.user_of(_metadata(context))
        except errors.ApiError as e:
            await abort(context, e)
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
            self.gate.admit_call("watch", req, _metadata(context))
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
            self.gate.admit_call("get", req, _metadata(context))
            return trace_proto(trace_for(self.trace_index, self._cached, req.kind, req.namespace, req.name,
                                         req.since))
        except errors.ApiError as e:
            code = e.reason
            await context.abort(e.code, e.message, trailing_metadata=((errors.REASON_KEY, e.reason),))
            raise AssertionError("unreachable") from None
        finally:
            self.metrics.observe("trace", _resource_of(req), code, started)

    async def ReportProxy(self, req: api.ProxyReport, context: Any) -> api.ProxyReportAck:
        """A node's proxy began sending to endpoints: into the trace index only (nothing stored, not audited)."""
        started, code = time.perf_counter(), "OK"
        try:
            md = _metadata(context)
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

    # ---------------------------------------------------------------- streaming to kubelets
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
            self.gate.admit_call("logs", req, _metadata(context))
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
            self.gate.admit_call(method, start, _metadata(context))
            kubelet = await self._kubelet(start.namespace, start.name, verb)

            async def upstream() -> AsyncIterator[Any]:
                yield first
                async for item in request_iterator:
                    yield item
            call = getattr(kubelet.stub, method)(upstream(), metadata=kubelet.metadata)
            # Accepted once the kubelet accepts (the container runs, the port answers): only then does the
            # client send more, so a refusal (exec in a missing container) is what it hears, not a write error.
            if STREAM_ACCEPTED in tuple(await call.initial_metadata() or ()):
                await context.send_initial_metadata((STREAM_ACCEPTED,))
            async for out in call:
                yield out
        except StopAsyncIteration:
            return
        except (errors.ApiError, grpc.aio.AioRpcError) as e:
            # Any error is the kubelet's failure (its clean end is the `end` message relayed above, answered
            # by the caller's own `end` and half-close, which `upstream` relays: api.proto's explicit close).
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


# Writes one stream may have in flight; past it the stream is read no further (HTTP/2 flow control holds the
# client back), as kube-apiserver's max-mutating-requests-inflight bounds what it takes on at once.
MAX_WRITES_IN_FLIGHT = 1000


WriteFn = Callable[[api.WriteRequest], Awaitable[api.WriteResult]]


async def serve_writes(request_iterator: Any, write: WriteFn) -> AsyncIterator[api.WriteResults]:
    """A Writes stream: its requests run at once, as concurrent unary calls would; each answer goes out with
    whatever others finished by the time the stream next writes (one message, not one per write). Ends when
    the client half-closes and every answer is out."""
    done: list[api.WriteResult] = []
    wake = asyncio.Event()
    running: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(MAX_WRITES_IN_FLIGHT)

    async def run(item: api.WriteRequest) -> None:
        done.append(await write(item))

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()
        wake.set()

    async def read() -> None:
        try:
            async for batch in request_iterator:
                for item in batch.requests:
                    await slots.acquire()
                    task = asyncio.create_task(run(item))
                    running.add(task)
                    task.add_done_callback(finished)
        finally:
            wake.set()       # a broken read (a malformed message) too: the loop below raises it

    reader = asyncio.create_task(read())
    try:
        while True:
            await wake.wait()
            wake.clear()
            if done:
                out = api.WriteResults(results=done)
                done.clear()
                yield out
            if reader.done() and not running and not done:
                reader.result()          # a broken read is raised; a half-close ends the stream
                return
    finally:
        reader.cancel()
        for task in running:
            task.cancel()


def new_grpc_server(token: str, tokens: dict[str, UserInfo] | None = None,
                    authenticator: Authenticator | None = None) -> grpc.aio.Server:
    """The API's gRPC server: message limits, keepalive and the bearer-token check (none without a token);
    `authenticator` (the ApiService's, which also knows ServiceAccount tokens) instead of one of `token`/`tokens`.

    bench/noop_apiserver.py serves on the same, so its figures are this transport's ceiling.
    """
    interceptors = [AuthInterceptor(authenticator or Authenticator(token, tokens))] if token or tokens else []
    options = [o for o in channel_options() if o[0] != "grpc.max_receive_message_length"]
    return grpc.aio.server(interceptors=interceptors, options=options + [
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES), ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.max_pings_without_data", 0), ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000)])


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


def _identity(data: bytes) -> bytes:
    return data


def request_decoder(request: Any) -> Callable[[bytes], Any]:
    """Parse a request's bytes as `request` (a message class), or BadRequest.

    The handlers parse their requests themselves rather than leave it to grpc.aio: a deserializer's exception
    ends the call UNKNOWN with Python's text, and logs a traceback per request.
    """
    def decode(data: bytes) -> Any:
        try:
            return request.FromString(data)
        except DecodeError as e:
            log.warning("malformed %s request: %s", request.DESCRIPTOR.full_name, e)   # one line, no traceback
            raise errors.BadRequest(f"the body of the request could not be decoded as "
                                    f"{request.DESCRIPTOR.full_name}: {e}") from None
    return decode


def unary_handler(fn: Any, request: Any) -> grpc.RpcMethodHandler:
    decode = request_decoder(request)

    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            req = decode(data)
        except errors.BadRequest as e:
            await abort(context, e)
        return await fn(req, context)
    return grpc.unary_unary_rpc_method_handler(handle, response_serializer=_serialize)


def unary_stream_handler(fn: Any, request: Any, serialize: Callable[[Any], bytes] = _serialize
                         ) -> grpc.RpcMethodHandler:
    decode = request_decoder(request)

    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            req = decode(data)
        except errors.BadRequest as e:
            await abort(context, e)
        async for out in fn(req, context):
            yield out
    return grpc.unary_stream_rpc_method_handler(handle, response_serializer=serialize)


def stream_stream_handler(fn: Any, request: Any) -> grpc.RpcMethodHandler:
    decode = request_decoder(request)

    async def handle(data: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def requests() -> AsyncIterator[Any]:
            async for item in data:
                yield decode(item)
        try:
            async for out in fn(requests(), context):
                yield out
        except errors.BadRequest as e:       # a malformed message further on in the stream
            await abort(context, e)
    return grpc.stream_stream_rpc_method_handler(handle, response_serializer=_serialize)


def _handlers(svc: ApiService) -> grpc.GenericRpcHandler:
    """Method handlers built by hand so Watch can send pre-serialised bytes."""
    uu = unary_handler
    table = {
        "Create": uu(svc.Create, api.CreateRequest),
        "Get": uu(svc.Get, api.GetRequest),
        "List": uu(svc.List, api.ListRequest),
        "Update": uu(svc.Update, api.UpdateRequest),
        "Patch": uu(svc.Patch, api.PatchRequest),
        "Delete": uu(svc.Delete, api.DeleteRequest),
        "Bind": uu(svc.Bind, api.BindRequest),
        "Evict": uu(svc.Evict, api.EvictRequest),
        "Version": uu(svc.Version, api.VersionRequest),
        "Proxy": uu(svc.Proxy, api.ProxyRequest),
        "WhoAmI": uu(svc.WhoAmI, api.WhoAmIRequest),
        "SelfSubjectAccessReview": uu(svc.SelfSubjectAccessReview, api.AccessReviewRequest),
        "Trace": uu(svc.Trace, api.TraceRequest),
        "CreateToken": uu(svc.CreateToken, api.TokenRequest),
        "ReportProxy": uu(svc.ReportProxy, api.ProxyReport),
        "Watch": unary_stream_handler(svc.Watch, api.WatchRequest, _identity),
        "Writes": stream_stream_handler(svc.Writes, api.WriteBatch),
        "Logs": unary_stream_handler(svc.Logs, api.LogsRequest),
        "Exec": stream_stream_handler(svc.Exec, api.ExecInput),
        "PortForward": stream_stream_handler(svc.PortForward, api.PortForwardInput),
    }
    return grpc.method_handlers_generic_handler("kubelab.v1.Api", table)


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
        self.metrics_server = MetricsServer(config.metrics_address, self.metrics.render, reuse_port=True) \
            if config.metrics_address else None
        self.grpc: grpc.aio.Server | None = None
        self.port = 0
        self.http: Any = None            # apiserver.http.app.HttpServer when --secure-port is given
        self.http_port = 0

    async def _wait_for_etcd(self) -> None:
        delay = 0.1
        for _ in range(100):
            try:
                await self.storage.current_revision()
                return
            except st.StorageError as e:
                log.info("waiting for etcd at %s: %s", self.config.etcd_servers, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise Fatal(f"etcd at {', '.join(self.config.etcd_servers)} is unreachable")

    async def _ensure_namespaces(self) -> None:
        for name in DEFAULT_NAMESPACES:
            ns = pb.Namespace(api_version="v1", kind="Namespace")
            ns.metadata.name = name
            try:
                await self.store.create(ns)
            except errors.AlreadyExists:
                pass
            sa = pb.ServiceAccount(api_version="v1", kind="ServiceAccount")
            sa.metadata.name, sa.metadata.namespace = "default", name
            try:
                await self.store.create(sa)
            except errors.AlreadyExists:
                pass

    async def _ensure_rbac(self) -> None:
        """The bootstrap ClusterRoles and ClusterRoleBindings (authz/bootstrap.py), created if missing."""
        for obj in [*bootstrap.cluster_roles(), *bootstrap.cluster_role_bindings()]:
            try:
                await self.store.create(obj)
            except errors.AlreadyExists:
                pass

    async def _ensure_kubernetes_service(self) -> None:
        """The `kubernetes` Service in default, on the range's first address, as in Kubernetes."""
        import ipaddress
        svc = pb.Service(api_version="v1", kind="Service")
        svc.metadata.name, svc.metadata.namespace = "kubernetes", "default"
        svc.metadata.labels.update({"component": "apiserver", "provider": "kubernetes"})
        svc.spec.cluster_ip = str(ipaddress.ip_network(self.config.service_cidr).network_address + 1)
        port = svc.spec.ports.add(name="https", port=443, protocol="TCP")
        # The Endpoints lead to the HTTP API when it is served (as kube-apiserver's), else to the gRPC port.
        port.target_port.number_value = self.config.secure_port or int(self.config.listen.rsplit(":", 1)[1] or 6443)
        try:
            await self.store.create(svc)
        except (errors.AlreadyExists, errors.Invalid):
            pass
        await self._reconcile_kubernetes_endpoints(int(port.target_port.number_value))

    async def _reconcile_kubernetes_endpoints(self, port: int) -> None:
        """The `kubernetes` Service has no selector: like kube-apiserver, the apiserver writes its Endpoints,
        its own advertised address and port, so the Service (10.96.0.1:443) leads somewhere."""
        ep = pb.Endpoints(api_version="v1", kind="Endpoints")
        ep.metadata.name, ep.metadata.namespace = "kubernetes", "default"
        subset = ep.subsets.add()
        subset.addresses.add(ip=advertise_address(self.config.listen, self.config.advertise_address))
        subset.ports.add(name="https", port=port, protocol="TCP")
        attempt = pb.Endpoints()
        attempt.CopyFrom(ep)                 # create fills in uid and timestamps, which an update may not carry
        try:
            await self.store.create(attempt)
        except errors.AlreadyExists:
            try:
                await self.store.update(ep)  # unconditional (no resourceVersion); writes nothing if unchanged
            except errors.Conflict:
                pass                         # another apiserver worker wrote it meanwhile: the same endpoints

    async def start(self) -> int:
        await self.storage.start()
        await self._wait_for_etcd()
        await self.store.start()
        await self._ensure_namespaces()
        await self._ensure_rbac()
        await self._ensure_kubernetes_service()
        self.cache.start()
        await self.cache.wait_ready()
        self.trace_index.attach(self.audit, self.cache)
        service = ApiService(self.store, self.cache, self.config, self.metrics, self.audit, self.trace_index)
        self.grpc = new_grpc_server(self.config.token, self.config.tokens, service.gate.authn)
        self.grpc.add_generic_rpc_handlers((_handlers(service),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        self.port = self.grpc.add_insecure_port(self.config.listen)
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
        host = self.config.bind_address or self.config.listen.rsplit(":", 1)[0].strip("[]")
        backend = Backend(service, f"{advertise_address(self.config.listen, self.config.advertise_address)}:"
                                   f"{self.config.secure_port}")
        self.http = HttpServer(backend, host, self.config.secure_port,
                               self.config.tls_cert_file, self.config.tls_private_key_file, reuse_port=True)
        self.http_port = await self.http.start()
        if not self.config.secure_port:      # a port picked now: the Endpoints learn it now
            await self._reconcile_kubernetes_endpoints(self.http_port)
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
