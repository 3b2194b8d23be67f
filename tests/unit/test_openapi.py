"""The OpenAPI documents: valid for a validator nobody here wrote, and holding what kubectl reads from them."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from openapi_spec_validator import validate

from apiserver.http import openapi, openapi_pb
from kubelab import kinds

VERSION = "v1.33.0"


def _v2() -> dict[str, Any]:
    return json.loads(openapi.v2_json(VERSION))


def _v3(name: str) -> dict[str, Any]:
    body = openapi.v3_document(name, VERSION)
    assert body is not None
    return json.loads(body)


def _refs(doc: Any) -> Iterator[str]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _refs(v)


def test_v2_is_valid_swagger_and_every_ref_resolves() -> None:
    doc = _v2()
    validate(doc)
    for ref in _refs(doc):
        assert ref.removeprefix("#/definitions/") in doc["definitions"], ref


@pytest.mark.parametrize("name", list(openapi.group_versions()))
def test_v3_documents_are_valid_openapi_3_and_every_ref_resolves(name: str) -> None:
    doc = _v3(name)
    validate(doc)
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref


def test_v3_index_points_at_each_document_with_its_hash() -> None:
    index = json.loads(openapi.v3_index(VERSION))["paths"]
    assert set(index) == {"api/v1", "apis/apps/v1", "apis/policy/v1", "apis/coordination.k8s.io/v1",
                          "apis/rbac.authorization.k8s.io/v1", "apis/discovery.k8s.io/v1", "apis/policy/v1beta1"}
    url = index["apis/apps/v1"]["serverRelativeURL"]
    assert url == f"/openapi/v3/apis/apps/v1?hash={openapi.v3_hash('apis/apps/v1', VERSION)}"
    assert openapi.v3_document("apis/nope/v1", VERSION) is None


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.kind)
def test_each_kind_has_a_definition_tagged_with_its_group_version_kind(kind: kinds.KindInfo) -> None:
    name = "apis/%s/%s" % (kind.group, kind.version) if kind.group else "api/v1"
    schemas = _v3(name)["components"]["schemas"]
    tagged = [n for n, s in schemas.items()
              if {"group": kind.group, "version": kind.version, "kind": kind.kind}
              in s.get("x-kubernetes-group-version-kind", [])]
    assert len(tagged) == 1, tagged
    assert set(schemas[tagged[0]]["properties"]) >= {"apiVersion", "kind", "metadata"}


def _supports_query_param_v3(doc: dict[str, Any], kind: kinds.KindInfo, param: str) -> bool:
    """What kubectl's QueryParamVerifierV3 checks before sending fieldValidation/dryRun: the PATCH
    operation tagged with the kind's GVK lists the parameter in the query."""
    want = {"group": kind.group, "version": kind.version, "kind": kind.kind}
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != want:
            continue
        return any(p["name"] == param and p["in"] == "query" for p in op["parameters"])
    return False


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.kind)
def test_kubectl_sees_field_validation_and_dry_run_for_every_kind(kind: kinds.KindInfo) -> None:
    doc = _v3("apis/%s/%s" % (kind.group, kind.version) if kind.group else "api/v1")
    assert _supports_query_param_v3(doc, kind, "fieldValidation")
    assert _supports_query_param_v3(doc, kind, "dryRun")


def test_names_and_merge_keys_are_kubernetes_own() -> None:
    d = _v2()["definitions"]
    assert "io.k8s.api.apps.v1.Deployment" in d
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in d
    spec = d["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["containers"]["x-kubernetes-patch-strategy"] == "merge"
    container = d["io.k8s.api.core.v1.Container"]["properties"]
    assert container["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    assert container["resources"] == {"$ref": "#/definitions/io.k8s.api.core.v1.ResourceRequirements"}
    limits = d["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}
    port = d["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert port == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
    meta = d["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["creationTimestamp"] == {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Time"}
    assert d["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"] == {"type": "integer", "format": "int32"}


def test_protobuf_v2_carries_the_same_definitions_and_extensions() -> None:
    # Read back as a client does, with the same gnostic message classes the encoder declares.
    doc = openapi_pb._classes()["Document"]()
    doc.ParseFromString(openapi.v2_protobuf(VERSION))
    assert doc.swagger == "2.0"
    names = [d.name for d in doc.definitions.additional_properties]
    assert names == list(_v2()["definitions"])
    deploy = next(d.value for d in doc.definitions.additional_properties if d.name == "io.k8s.api.apps.v1.Deployment")
    ext = {e.name: json.loads(e.value.yaml) for e in deploy.vendor_extension}
    assert ext["x-kubernetes-group-version-kind"] == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    props = {p.name: p.value for p in deploy.properties.additional_properties}
    assert props["spec"]._ref == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    spec = next(d.value for d in doc.definitions.additional_properties if d.name == "io.k8s.api.core.v1.PodSpec")
    containers = next(p.value for p in spec.properties.additional_properties if p.name == "containers")
    assert list(containers.type.value) == ["array"]
    assert containers.items.schema[0]._ref == "#/definitions/io.k8s.api.core.v1.Container"
    paths = {p.name: p.value for p in doc.paths.path}
    patch = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].patch
    params = [p.parameter.non_body_parameter.query_parameter_sub_schema.name for p in patch.parameters]
    assert "fieldValidation" in params and "dryRun" in params


def test_documents_are_built_once() -> None:
    assert openapi.v2_json(VERSION) is openapi.v2_json(VERSION)
    assert openapi.v3_document("api/v1", VERSION) is openapi.v3_document("api/v1", VERSION)
