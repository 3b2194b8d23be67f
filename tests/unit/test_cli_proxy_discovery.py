"""`kubelab proxy`'s discovery URLs and /healthz, answered as kube-apiserver answers them.

The proxy's router (`_ProxyServer.route`) with a stand-in client: discovery
needs no API call, /healthz asks the apiserver for its version, and an
unknown group or version stays a 404 Status.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl import discovery
from kubectl.proxy import _ProxyServer
from kubelab import errors, kinds
from kubelab.v1 import api_pb2 as api


class Client:
    server = "127.0.0.1:6443"

    def __init__(self, up: bool = True) -> None:
        self.up = up

    async def version(self) -> api.VersionInfo:
        if not self.up:
            raise errors.Unavailable("connection refused")
        return api.VersionInfo(git_version="v0.1.0")


async def get(path: str, client: Any = None) -> tuple[int, dict[str, str], Any]:
    status, headers, body = await _ProxyServer(client or Client(), "/").route("GET", path, {}, b"")
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return status, headers, json.loads(body) if is_json else body


async def test_root_lists_the_served_paths_sorted() -> None:
    status, _, doc = await get("/")
    assert status == 200 and doc["paths"] == sorted(doc["paths"])
    assert {"/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/apis/policy", "/apis/policy/v1",
            "/healthz", "/version"} <= set(doc["paths"])


async def test_api_lists_the_core_versions() -> None:
    status, _, doc = await get("/api")
    assert status == 200 and (doc["kind"], doc["versions"]) == ("APIVersions", ["v1"])
    assert doc["serverAddressByClientCIDRs"] == [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]


async def test_apis_lists_every_group_with_its_preferred_version() -> None:
    status, _, doc = await get("/apis")
    assert status == 200 and doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    assert set(groups) == {i.group for i in kinds.KINDS if i.group}
    assert groups["apps"]["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    status, _, apps = await get("/apis/apps")
    assert status == 200 and apps["kind"] == "APIGroup" and apps["name"] == "apps"


@pytest.mark.parametrize("path,group_version,resources", [
    pytest.param("/api/v1", "v1", {"pods", "services", "nodes", "namespaces", "endpoints", "events",
                                          "serviceaccounts"}, id="core"),
    pytest.param("/apis/rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1",
                 {"roles", "clusterroles", "rolebindings", "clusterrolebindings"}, id="rbac"),
    pytest.param("/apis/apps/v1", "apps/v1", {"deployments", "replicasets"}, id="apps"),
    pytest.param("/apis/policy/v1/", "policy/v1", {"poddisruptionbudgets"}, id="policy-trailing-slash"),
])
async def test_a_group_version_lists_its_resources(path: str, group_version: str, resources: set[str]) -> None:
    status, _, doc = await get(path)
    assert status == 200 and (doc["kind"], doc["groupVersion"]) == ("APIResourceList", group_version)
    assert {r["name"] for r in doc["resources"]} == resources


async def test_a_resource_entry_says_what_kubectl_reads() -> None:
    _, _, doc = await get("/apis/apps/v1")
    deploy = next(r for r in doc["resources"] if r["name"] == "deployments")
    assert deploy == {"name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
                      "verbs": list(kinds.VERBS), "shortNames": ["deploy"], "categories": ["all"]}
    _, _, core = await get("/api/v1")
    nodes = next(r for r in core["resources"] if r["name"] == "nodes")
    assert (nodes["namespaced"], nodes["shortNames"], "categories" in nodes) == (False, ["no"], False)


@pytest.mark.parametrize("path", ["/apis/nope/v1", "/apis/nope", "/api/v2", "/apis/apps/v2",
                                  "/apis/apps/v1/pods", "/api/v1/deployments"])
async def test_unknown_groups_versions_and_misplaced_resources_are_404(path: str) -> None:
    status, _, doc = await get(path)
    assert status == 404 and (doc["kind"], doc["reason"], doc["code"]) == ("Status", "NotFound", 404)


async def test_healthz_is_ok_in_plain_text_while_the_apiserver_answers() -> None:
    assert await get("/healthz") == (200, {"Content-Type": "text/plain; charset=utf-8"}, b"ok")
    status, _, doc = await get("/healthz", Client(up=False))
    assert status == 503 and doc["reason"] == "ServiceUnavailable"


def test_discovery_document_is_none_for_other_paths() -> None:
    assert discovery.document("/api/v1/pods", "x") is None
    assert discovery.document("/version", "x") is None
