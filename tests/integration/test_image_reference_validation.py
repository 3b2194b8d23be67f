"""An image reference Docker cannot parse is refused at apply, naming the field, over gRPC and over the
Kubernetes HTTP API, on create, update and patch of Pods and of Deployments' and ReplicaSets' templates;
nothing is written (etcd's revision does not move)."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from kubelab import errors, manifests
from kubelab.client import Client

from .conftest import etcd_revision

pytestmark = pytest.mark.integration

BAD = [
    pytest.param("Nginx:1.16", "invalid reference format: repository name (library/Nginx) must be lowercase",
                 id="uppercase"),
    pytest.param("nginx:", "invalid reference format", id="empty-tag"),
    pytest.param("nginx@sha256:abc", "invalid reference format", id="short-digest"),
]

POD = """apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  containers:
  - {name: c, image: "%s"}
"""
TEMPLATED = """apiVersion: apps/v1
kind: %s
metadata: {name: %s}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
      - {name: c, image: "%s"}
"""


def obj_of(text: str) -> Any:
    [doc] = manifests.parse_text(text, "t.yaml")
    return doc.obj


def field_of(kind: str) -> str:
    return "spec.containers[0].image" if kind == "Pod" else "spec.template.spec.containers[0].image"


def manifest(kind: str, name: str, image: str) -> str:
    return POD % (name, image) if kind == "Pod" else TEMPLATED % (kind, name, image)


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "ReplicaSet"])
@pytest.mark.parametrize("image,words", BAD)
async def test_grpc_create_update_and_patch_refuse_a_bad_reference(local_cluster: dict[str, Any], client: Client,
                                                                   kind: str, image: str, words: str) -> None:
    expected = f'{field_of(kind)}: Invalid value: "{image}": {words}'
    name = f"bad-{kind.lower()}"
    before = await etcd_revision(local_cluster)
    with pytest.raises(errors.Invalid) as e:
        await client.create(obj_of(manifest(kind, name, image)))
    assert expected in str(e.value)
    assert await etcd_revision(local_cluster) == before

    good = await client.create(obj_of(manifest(kind, f"{name}-{image[:5].lower().strip(':@')}", "nginx:1.16")))
    try:
        before = await etcd_revision(local_cluster)
        changed = type(good)()
        changed.CopyFrom(good)
        (changed.spec if kind == "Pod" else changed.spec.template.spec).containers[0].image = image
        with pytest.raises(errors.Invalid) as e:
            await client.update(changed)
        assert expected in str(e.value)
        patch: dict[str, Any] = {"spec": {"containers": [{"name": "c", "image": image}]}}
        if kind != "Pod":
            patch = {"spec": {"template": patch}}
        with pytest.raises(errors.Invalid) as e:
            await client.patch(kind, good.metadata.name, patch)
        assert expected in str(e.value)
        assert await etcd_revision(local_cluster) == before
        got = await client.get(kind, good.metadata.name)
        assert (got.spec if kind == "Pod" else got.spec.template.spec).containers[0].image == "nginx:1.16"
    finally:
        await client.delete(kind, good.metadata.name, grace_period_seconds=0)


def http(info: dict[str, Any], method: str, path: str, body: dict[str, Any] | None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    ctx = ssl.create_default_context(cafile=info["ca_file"])
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(info["https"] + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {info['token']}", "Accept": "application/json",
                                          "Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("image,words", BAD)
def test_http_create_and_patch_are_422_naming_the_field(local_cluster: dict[str, Any], image: str,
                                                        words: str) -> None:
    pods = "/api/v1/namespaces/default/pods"
    deployments = "/apis/apps/v1/namespaces/default/deployments"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "http-bad"},
           "spec": {"containers": [{"name": "c", "image": image}]}}
    code, status = http(local_cluster, "POST", pods, pod)
    assert code == 422, status
    assert status["reason"] == "Invalid"
    assert status["message"] == f'Pod "http-bad" is invalid: spec.containers[0].image: Invalid value: "{image}": {words}'
    assert status["details"]["causes"][0]["field"] == "spec.containers[0].image"

    name = f"http-{abs(hash(image)) % 10_000}"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "x"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx:1.16"}]}}}}
    code, status = http(local_cluster, "POST", deployments, dep)
    assert code == 201, status
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    code, status = http(local_cluster, "PATCH", f"{deployments}/{name}", patch,
                        "application/strategic-merge-patch+json")
    assert code == 422, status
    assert f'spec.template.spec.containers[0].image: Invalid value: "{image}": {words}' in status["message"]
    code, current = http(local_cluster, "GET", f"{deployments}/{name}", None)
    assert code == 200 and current["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.16"
    current["spec"]["template"]["spec"]["containers"][0]["image"] = image
    code, status = http(local_cluster, "PUT", f"{deployments}/{name}", current)
    assert code == 422, status
    assert f'spec.template.spec.containers[0].image: Invalid value: "{image}": {words}' in status["message"]
    assert http(local_cluster, "DELETE", f"{deployments}/{name}", None)[0] == 200
