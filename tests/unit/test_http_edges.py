"""Edges of the HTTP API, as pure decisions: list options validated in kube-apiserver's words, the path a pod
or service proxy asks the pod for (`..` and encoded slashes never reach past the pod), which paths are
non-resource requests, and RBAC for non-resource URLs (/healthz, /version, /api, /openapi/v2, /metrics) by
the bootstrap ClusterRoles system:public-info-viewer, system:discovery and system:monitoring."""
from __future__ import annotations

from typing import Any

import pytest
from multidict import MultiDict

from apiserver.auth import Authenticator, UserInfo
from apiserver.authz import Authorizer, bootstrap
from apiserver.authz.gate import ANONYMOUS, Gate
from apiserver.http.app import is_resource_path
from apiserver.http.list import check_resource_version
from apiserver.http.streaming import proxy_path
from kubelab import errors


# ---------------------------------------------------------------- list options
@pytest.mark.parametrize("query,message", [
    ({"resourceVersionMatch": "Exact"}, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
     "resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ({"resourceVersionMatch": "NotOlderThan"}, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
     "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ({"resourceVersionMatch": "Exact", "resourceVersion": "0"}, 'ListOptions.meta.k8s.io "" is invalid: '
     'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'),
    ({"resourceVersionMatch": "Exact", "resourceVersion": "5", "continue": "abc"}, 'ListOptions.meta.k8s.io "" is '
     "invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"),
    ({"resourceVersionMatch": "Sometime"}, 'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
     "resourceVersionMatch is forbidden unless resourceVersion is provided, resourceVersionMatch: Unsupported "
     'value: "Sometime": supported values: "Exact", "NotOlderThan", ""]'),
])
def test_list_options_are_refused_as_kube_apiserver_words_them(query: dict[str, str], message: str) -> None:
    with pytest.raises(errors.Invalid) as e:
        check_resource_version(MultiDict(query))
    assert e.value.message == message
    assert {c.path for c in e.value.causes} == {"resourceVersionMatch"}    # type: ignore[attr-defined]


@pytest.mark.parametrize("query", [{}, {"resourceVersion": "0"}, {"resourceVersion": "12"},
                                   {"resourceVersion": "12", "resourceVersionMatch": "Exact"},
                                   {"resourceVersion": "0", "resourceVersionMatch": "NotOlderThan"}])
def test_list_options_kube_apiserver_takes_pass(query: dict[str, str]) -> None:
    check_resource_version(MultiDict(query))


def test_an_exact_list_compacted_away_is_expired_with_kubernetes_words() -> None:
    assert (errors.Expired("x").reason, errors.from_status(11, "Expired", "x").reason) == ("Expired", "Expired")
    from apiserver.http.list import EXPIRED
    from apiserver.http.status import CODES
    assert (EXPIRED, CODES["Expired"]) == ("The resourceVersion for the provided list is too old.", 410)


# ---------------------------------------------------------------- proxy paths
@pytest.mark.parametrize("tail,path", [
    ("", "/"),
    ("hello", "/hello"),
    ("dir/", "/dir/"),
    ("a/../b", "/b"),                        # what `a%2F..%2Fb` decodes to
    ("a/../../secret", "/secret"),           # never above the pod's root
    ("../../../api/v1/secrets", "/api/v1/secrets"),   # a path on the pod, not on the apiserver
    ("./x/./y", "/x/y"),
    ("a b", "/a%20b"),                       # written back encoded: a well-formed request line
    ("x?not-a-query", "/x%3Fnot-a-query"),
])
def test_a_proxy_path_is_cleaned_under_the_pods_root_as_path_join_does(tail: str, path: str) -> None:
    assert proxy_path(tail) == path


# ---------------------------------------------------------------- non-resource requests
@pytest.mark.parametrize("path,resource", [
    ("/", False), ("/healthz", False), ("/healthz/etcd", False), ("/version", False), ("/metrics", False),
    ("/api", False), ("/api/v1", False), ("/apis", False), ("/apis/apps", False), ("/apis/apps/v1", False),
    ("/openapi/v2", False), ("/api/v1/pods", True), ("/api/v1/namespaces/default/pods/x", True),
    ("/apis/apps/v1/deployments", True),
])
def test_which_paths_are_resource_requests(path: str, resource: bool) -> None:
    assert is_resource_path(path) is resource


def _gate() -> Gate:
    objs: dict[str, list[Any]] = {"ClusterRole": bootstrap.cluster_roles(),
                                  "ClusterRoleBinding": bootstrap.cluster_role_bindings(),
                                  "RoleBinding": [], "Role": []}

    def get(kind: str, ns: str, name: str) -> Any:
        return next((o for o in objs.get(kind, []) if (o.metadata.namespace, o.metadata.name) == (ns, name)), None)
    users = {"bob": UserInfo("bob", "1"), "prom": UserInfo("prometheus", "2", ("system:monitoring",))}
    return Gate(Authenticator("admin-token", users), Authorizer(lambda kind: objs[kind], get))


NONE: list[tuple[str, str]] = []
BOB = [("Authorization", "Bearer bob")]
PROM = [("Authorization", "Bearer prom")]
ADMIN = [("Authorization", "Bearer admin-token")]

ALLOWED = [
    (NONE, "get", "/healthz"), (NONE, "get", "/livez"), (NONE, "get", "/readyz"), (NONE, "get", "/version"),
    (BOB, "get", "/api"), (BOB, "get", "/api/v1"), (BOB, "get", "/apis/apps/v1"), (BOB, "get", "/openapi/v2"),
    (BOB, "get", "/healthz"), (PROM, "get", "/metrics"), (PROM, "get", "/healthz/etcd"),
    (PROM, "get", "/readyz/informer-sync"), (ADMIN, "get", "/metrics"), (ADMIN, "get", "/"),
    (ADMIN, "post", "/anything"),
]
REFUSED = [
    (NONE, "get", "/metrics", "system:anonymous"), (NONE, "get", "/api", "system:anonymous"),
    (NONE, "get", "/openapi/v2", "system:anonymous"), (NONE, "get", "/healthz/etcd", "system:anonymous"),
    (BOB, "get", "/metrics", "bob"), (BOB, "get", "/", "bob"), (BOB, "post", "/api", "bob"),
    (BOB, "get", "/healthz/etcd", "bob"), (PROM, "get", "/", "prometheus"),
]


@pytest.mark.parametrize("headers,verb,path", ALLOWED)
def test_non_resource_urls_allowed_by_the_bootstrap_roles(headers: list[tuple[str, str]], verb: str,
                                                          path: str) -> None:
    _gate().admit_path(headers, verb, path)


@pytest.mark.parametrize("headers,verb,path,who", REFUSED)
def test_non_resource_urls_refused_in_kubernetes_words(headers: list[tuple[str, str]], verb: str, path: str,
                                                       who: str) -> None:
    with pytest.raises(errors.Forbidden) as e:
        _gate().admit_path(headers, verb, path)
    assert e.value.message == f'forbidden: User "{who}" cannot {verb} path "{path}"'


def test_no_credentials_is_anonymous_but_bad_credentials_are_unauthorized() -> None:
    for headers in (NONE, [("Authorization", "Bearer ")], [("Authorization", "Basic Ym9iOng=")]):
        assert _gate().admit_path(headers, "get", "/healthz") == ANONYMOUS
    with pytest.raises(errors.Unauthenticated):
        _gate().admit_path([("Authorization", "Bearer wrong")], "get", "/healthz")


def test_impersonating_a_monitoring_group_is_allowed_metrics() -> None:
    as_prom = [*ADMIN, ("Impersonate-User", "someone"), ("Impersonate-Group", "system:monitoring")]
    assert _gate().admit_path(as_prom, "get", "/metrics").name == "someone"
    with pytest.raises(errors.Forbidden, match='forbidden: User "someone" cannot get path "/metrics"'):
        _gate().admit_path([*ADMIN, ("Impersonate-User", "someone")], "get", "/metrics")


# ---------------------------------------------------------------- slow clients
def _backend() -> Any:
    """Just what the server needs to start and answer /healthz (no store: nothing else is asked)."""
    from types import SimpleNamespace

    from apiserver.http.common import Backend
    gate = Gate(Authenticator("admin-token", {}), None)
    svc = SimpleNamespace(gate=gate, cache=SimpleNamespace(caches={}), _kubelet=None,
                          store=SimpleNamespace(get=None), audit=SimpleNamespace(enabled=False, subscribers=()))
    return Backend(svc)


async def test_a_client_sending_its_headers_byte_by_byte_is_cut_off_and_holds_nobody() -> None:
    """As kube-apiserver's ReadHeaderTimeout: headers not all in by the deadline close the connection, with no
    answer (Go's server does not reply to a read that timed out); meanwhile others are answered."""
    import asyncio

    from apiserver.http.app import HttpServer
    server = HttpServer(_backend(), "127.0.0.1", 0, "", "", header_timeout=1.0, idle_timeout=30.0)
    port = await server.start()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"s" * 200 + b"\r\n\r\n"

    async def slow_loris() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        got = b""
        try:
            for byte in request:                       # 200 s of headers at this pace: never all in
                writer.write(bytes([byte]))
                try:
                    got = await asyncio.wait_for(reader.read(1024), 1.0)
                except asyncio.TimeoutError:
                    continue
                return got                             # b"": closed by the server
            return b"<all headers sent>"
        finally:
            writer.close()

    async def healthz() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        return answer
    try:
        lorises = [asyncio.create_task(slow_loris()) for _ in range(20)]
        await asyncio.sleep(0.3)
        answer = await asyncio.wait_for(healthz(), 10)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
        assert await asyncio.wait_for(asyncio.gather(*lorises), 60) == [b""] * 20
    finally:
        await server.stop()


def test_the_apiserver_raises_its_open_files_limit() -> None:
    import resource

    from apiserver.http.app import raise_open_files_limit
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_open_files_limit(min(4096, hard)) == min(4096, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == min(4096, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
