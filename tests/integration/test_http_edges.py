"""Edges of the HTTP API against `cluster up --local` (real etcd, the real apiserver), with clients nobody here
wrote where one is involved (kubectl 1.37): RBAC of non-resource URLs, lists at an exact resourceVersion,
`..` and encoded slashes in names, the audit record of a write answered in YAML, and a server that slow or
idle clients do not hold."""
from __future__ import annotations

import asyncio
import json
import resource
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from lab import local as launcher
from tests import realclients

from .conftest import etcd_storage, kubeconfig_in, need_etcd
from .test_http_api import http, pod_manifest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_etcd()
    tmp = tmp_path_factory.mktemp("httpedges")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with kubeconfig_in(tmp):
        # Started with Debian's default soft limit on open files (1024), as a user's shell would have it: the
        # apiserver raises its own (1,000 idle watches need more).
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))
        try:
            info = asyncio.run(launcher.up_local(state_dir=tmp / "state", components=()))
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        info["home"] = tmp
        try:
            yield info
        finally:
            launcher.down_local(tmp / "state")


@pytest.fixture(scope="module")
def kubectl_bin() -> Path:
    return realclients.kubectl_137()


def kubectl(bin_: Path, api: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(api["home"]), "KUBECONFIG": api["kubeconfig"]}
    return subprocess.run([str(bin_), *args], capture_output=True, text=True, env=env, timeout=60)


def anonymous(api: dict[str, Any], path: str) -> tuple[int, Any]:
    """A GET with no credentials at all."""
    import urllib.error
    import urllib.request
    ctx = ssl.create_default_context(cafile=api["ca_file"])
    try:
        with urllib.request.urlopen(api["https"] + path, context=ctx, timeout=30) as r:
            code, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode()


# ---------------------------------------------------------------- RBAC of non-resource URLs
def test_metrics_need_the_monitoring_role_in_kubectls_words(kubectl_bin: Path, api: dict[str, Any]) -> None:
    r = kubectl(kubectl_bin, api, "get", "--raw", "/metrics", "--as", "bob")
    assert r.returncode == 1
    assert 'Error from server (Forbidden): forbidden: User "bob" cannot get path "/metrics"' in r.stderr, r.stderr
    r = kubectl(kubectl_bin, api, "get", "--raw", "/metrics", "--as", "bob", "--as-group", "system:monitoring")
    assert r.returncode == 0 and "apiserver_request_total" in r.stdout, r.stderr
    r = kubectl(kubectl_bin, api, "get", "--raw", "/metrics")       # the admin (system:masters)
    assert r.returncode == 0 and "apiserver_request_total" in r.stdout, r.stderr


def test_discovery_is_any_authenticated_users_and_the_root_is_not(kubectl_bin: Path, api: dict[str, Any]) -> None:
    for path in ("/api", "/apis/apps/v1", "/version", "/healthz"):
        r = kubectl(kubectl_bin, api, "get", "--raw", path, "--as", "bob")
        assert r.returncode == 0, (path, r.stderr)
    r = kubectl(kubectl_bin, api, "get", "--raw", "/", "--as", "bob")
    assert r.returncode == 1 and 'forbidden: User "bob" cannot get path "/"' in r.stderr, r.stderr
    r = kubectl(kubectl_bin, api, "auth", "can-i", "get", "/metrics", "--as", "bob")
    assert (r.returncode, r.stdout.strip()) == (1, "no")


def test_without_credentials_only_public_info(api: dict[str, Any]) -> None:
    assert anonymous(api, "/healthz") == (200, "ok")
    code, doc = anonymous(api, "/version")
    assert code == 200 and doc["major"] == "1"
    for path in ("/metrics", "/api", "/openapi/v2"):
        code, doc = anonymous(api, path)
        assert code == 403 and doc["reason"] == "Forbidden", (path, doc)
        assert doc["message"] == f'forbidden: User "system:anonymous" cannot get path "{path}"'
    code, doc = anonymous(api, "/api/v1/namespaces/default/pods")     # resources: credentials, as before
    assert code == 401


# ---------------------------------------------------------------- lists at an exact resourceVersion
def test_exact_list_reads_history_and_a_compacted_one_is_expired(api: dict[str, Any]) -> None:
    path = "/api/v1/namespaces/default/pods"
    code, created, _ = http(api, "POST", path, json.dumps(pod_manifest("exact-a", app="exact")).encode())
    assert code == 201, created
    old_rv = created["metadata"]["resourceVersion"]
    patch = json.dumps({"metadata": {"labels": {"app": "exact", "v": "2"}}}).encode()
    code, _, _ = http(api, "PATCH", f"{path}/exact-a", patch, content_type="application/merge-patch+json")
    assert code == 200
    code, doc, _ = http(api, "GET", f"{path}?labelSelector=app%3Dexact&resourceVersion={old_rv}"
                                    "&resourceVersionMatch=Exact")
    assert code == 200, doc
    assert doc["metadata"]["resourceVersion"] == old_rv
    assert [i["metadata"]["labels"] for i in doc["items"]] == [{"app": "exact"}]     # as it was then
    code, doc, _ = http(api, "GET", f"{path}?labelSelector=app%3Dexact")
    assert [i["metadata"]["labels"] for i in doc["items"]] == [{"app": "exact", "v": "2"}]
    code, doc, _ = http(api, "GET", f"{path}?resourceVersion={int(doc['metadata']['resourceVersion']) + 1000}"
                                    "&resourceVersionMatch=Exact")
    assert (code, doc["reason"]) == (504, "Timeout") and doc["message"].startswith("Too large resource version: ")
    code, doc, _ = http(api, "GET", f"{path}?labelSelector=a%3D%3D%3Db&resourceVersion={old_rv}"
                                    "&resourceVersionMatch=Exact")
    assert (code, doc["reason"]) == (400, "BadRequest") and "resource version" not in doc["message"], doc

    async def compact() -> None:
        s = etcd_storage(api)
        await s.start()
        try:
            await s.compact(await s.current_revision())
        finally:
            await s.close()
    asyncio.run(compact())
    code, doc, _ = http(api, "GET", f"{path}?resourceVersion={old_rv}&resourceVersionMatch=Exact")
    assert code == 410, doc
    assert (doc["reason"], doc["message"]) == ("Expired", "The resourceVersion for the provided list is too old.")


def test_resource_version_match_without_a_resource_version_is_invalid(api: dict[str, Any]) -> None:
    code, doc, _ = http(api, "GET", "/api/v1/namespaces/default/pods?resourceVersionMatch=Exact")
    assert code == 422 and doc["reason"] == "Invalid", doc
    assert doc["message"] == ('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                              "resourceVersionMatch is forbidden unless resourceVersion is provided")


# ---------------------------------------------------------------- names with `..` and encoded slashes
@pytest.mark.parametrize("name,code,message", [
    ("..", 400, "Name parameter invalid: \"..\": may not be '..'"),
    ("%2E%2E", 400, "Name parameter invalid: \"..\": may not be '..'"),
    ("a%2Fb", 404, "the server could not find the requested resource"),       # a/b: an unknown subresource
    ("x%2F..%2Fy", 404, "the server could not find the requested resource"),
])
def test_names_that_climb_or_split_are_refused_as_kube_apiserver_does(api: dict[str, Any], name: str, code: int,
                                                                      message: str) -> None:
    for method in ("GET", "DELETE"):
        got, doc, _ = http(api, method, f"/api/v1/namespaces/default/pods/{name}")
        assert (got, doc["message"]) == (code, message), (method, doc)


# ---------------------------------------------------------------- the audit record of a write
def test_a_create_answered_in_yaml_is_audited_with_its_name_and_resource_version(api: dict[str, Any]) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "audited-yaml"}}).encode()
    code, answer, _ = http(api, "POST", "/api/v1/namespaces", body, accept="application/yaml")
    assert code == 201
    rv = yaml.safe_load(answer)["metadata"]["resourceVersion"]
    log = Path(api["state_dir"]) / "logs" / "audit.log"
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        found = [e for e in events if e.get("requestURI") == "/api/v1/namespaces" and e.get("verb") == "create"
                 and e.get("responseStatus", {}).get("code") == 201 and e.get("userAgent", "").startswith("Python")]
        time.sleep(0.2)
    assert found, "no audit record of the create"
    assert (found[0]["objectRef"]["name"], found[0]["objectRef"]["resourceVersion"]) == ("audited-yaml", rv)


# ---------------------------------------------------------------- idle connections
async def _watches_then_a_get(api: dict[str, Any], count: int) -> tuple[int, int]:
    """`count` HTTP watches held open (their answers started, nothing read after), then one GET from another
    client: (watches that were answered 200, the GET's status)."""
    import aiohttp

    from apiserver.http.app import raise_open_files_limit
    raise_open_files_limit(count * 2 + 256)          # this test's own sockets
    ctx = ssl.create_default_context(cafile=api["ca_file"])
    headers = {"Authorization": f"Bearer {api['token']}"}
    url = api["https"] + "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=600"
    watchers = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ssl=ctx), headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=None, sock_connect=120))
    opened: list[Any] = []
    try:
        for start in range(0, count, 100):        # in batches: 1,000 TLS handshakes at once would be a test of them
            batch = await asyncio.gather(*[watchers.get(url) for _ in range(start, min(count, start + 100))])
            opened += batch
        watching = sum(r.status == 200 for r in opened)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx), headers=headers) as other:
            async with other.get(api["https"] + "/api/v1/namespaces/default/pods",
                                 timeout=aiohttp.ClientTimeout(total=60)) as r:     # a generous bound
                status = r.status
                await r.read()
        return watching, status
    finally:
        for r in opened:
            r.close()
        await watchers.close()


def test_a_thousand_idle_watches_do_not_stop_the_apiserver_answering_others(api: dict[str, Any]) -> None:
    """Over a thousand (1,100: more than the soft limit of open files the apiserver was started with allows,
    which it raises itself), then a GET from another client is answered."""
    assert asyncio.run(_watches_then_a_get(api, 1100)) == (1100, 200)
