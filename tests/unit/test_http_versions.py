"""policy/v1beta1 PodDisruptionBudget beside policy/v1 (apiserver.http.versions): the selector conversion both
ways as Kubernetes' pkg/apis/policy conversion does it, the URL routing, body decoding, the wire form, and
discovery/OpenAPI listing both versions."""
from __future__ import annotations

import json
from typing import Any

import pytest

from kubelab import errors, manifests
from apiserver.http import discovery, openapi, versions
from apiserver.http.patch import merge_diff
from apiserver.http.request import decode_object, parse_path
from apiserver.http.serialize import list_wire, to_wire

LABEL = versions.PDB_V1BETA1_LABEL
V1BETA1 = "/apis/policy/v1beta1/namespaces/ns/poddisruptionbudgets"
V1 = "/apis/policy/v1/namespaces/ns/poddisruptionbudgets"


def pdb(api_version: str, selector: Any = None, **spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": api_version, "kind": "PodDisruptionBudget",
                           "metadata": {"name": "b", "namespace": "ns"}, "spec": {"minAvailable": 1, **spec}}
    if selector is not None:
        doc["spec"]["selector"] = selector
    return doc


def decoded(path: str, doc: dict[str, Any], validation: str = "Strict") -> Any:
    return decode_object(doc, parse_path(path), validation, [])


EXISTS = {"matchExpressions": [{"key": LABEL, "operator": "Exists"}]}
DOES_NOT_EXIST = {"matchExpressions": [{"key": LABEL, "operator": "DoesNotExist"}]}
USER = {"matchLabels": {"component": "nginx"}}


@pytest.mark.parametrize("beta, stored", [
    ({}, EXISTS),                              # v1beta1 {} selects no pods: stored as a selector nothing matches
    ({"matchLabels": {}}, EXISTS),             # nil and empty compare alike (Semantic.DeepEqual)
    (DOES_NOT_EXIST, {}),                      # v1beta1's select-all is v1's {}
    (USER, USER),
    ({**USER, "matchExpressions": [{"key": LABEL, "operator": "Exists"}, {"key": "a", "operator": "Exists"}]},
     {**USER, "matchExpressions": [{"key": "a", "operator": "Exists"}]}),    # the key never combines
])
def test_a_v1beta1_selector_is_stored_as_v1_meaning_the_same(beta: Any, stored: Any) -> None:
    obj = decoded(V1BETA1, pdb("policy/v1beta1", beta))
    assert obj.api_version == "policy/v1"
    assert manifests.to_dict(obj)["spec"].get("selector", {}) == stored
    assert obj.spec.HasField("selector")


@pytest.mark.parametrize("stored, beta", [(EXISTS, {}), ({}, DOES_NOT_EXIST), (USER, USER)])
def test_a_stored_selector_reads_back_through_v1beta1_meaning_the_same(stored: Any, beta: Any) -> None:
    obj = decoded(V1, pdb("policy/v1", stored))
    wire = to_wire(obj, parse_path(V1BETA1).kind_info)
    assert wire["apiVersion"] == "policy/v1beta1" and wire["kind"] == "PodDisruptionBudget"
    assert wire["spec"]["selector"] == beta
    assert to_wire(obj)["apiVersion"] == "policy/v1" and to_wire(obj)["spec"]["selector"] == stored
    # and back: the round trip through v1beta1 stores what was stored
    again = decoded(V1BETA1, wire)
    assert manifests.to_dict(again)["spec"]["selector"] == stored if stored else \
        manifests.to_dict(again)["spec"].get("selector", {}) == {}


def test_no_selector_stays_none_and_v1_strips_the_key_from_a_users_selector() -> None:
    assert not decoded(V1BETA1, pdb("policy/v1beta1")).spec.HasField("selector")
    mixed = {**USER, "matchExpressions": [{"key": LABEL, "operator": "Exists"}]}
    assert manifests.to_dict(decoded(V1, pdb("policy/v1", mixed)))["spec"]["selector"] == USER
    assert manifests.to_dict(decoded(V1, pdb("policy/v1", EXISTS)))["spec"]["selector"] == EXISTS


def test_a_list_of_v1beta1_says_v1beta1_for_the_list_and_its_items() -> None:
    info = parse_path(V1BETA1).kind_info
    doc = list_wire(info, [decoded(V1, pdb("policy/v1", {}))], "7")
    assert (doc["apiVersion"], doc["kind"]) == ("policy/v1beta1", "PodDisruptionBudgetList")
    assert doc["items"][0]["apiVersion"] == "policy/v1beta1" and doc["items"][0]["spec"]["selector"] == DOES_NOT_EXIST


@pytest.mark.parametrize("path, doc, message", [
    (V1BETA1, pdb("policy/v1", USER), "the API version in the data (policy/v1) does not match the expected API "
                                      "version (policy/v1beta1)"),
    (V1, pdb("policy/v1beta1", USER), "the API version in the data (policy/v1beta1) does not match the expected "
                                      "API version (policy/v1)"),
    (V1BETA1, dict(pdb("policy/v1beta1", USER), kind="Deployment"),
     'Deployment in version "v1beta1" cannot be handled as a PodDisruptionBudget'),
    (V1BETA1, pdb("policy/v1beta1", USER, minAvailabel=1),
     'PodDisruptionBudget in version "v1beta1" cannot be handled as a PodDisruptionBudget: strict decoding error: '
     'unknown field "spec.minAvailabel"'),
])
def test_bad_v1beta1_bodies_are_400_in_kubernetes_words(path: str, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.BadRequest) as e:
        decoded(path, doc)
    assert message in e.value.message


def test_the_warning_is_v1beta1s_only() -> None:
    assert versions.warning(parse_path(V1BETA1).kind_info) == (
        "policy/v1beta1 PodDisruptionBudget is deprecated in v1.21+, unavailable in v1.25+; use policy/v1 "
        "PodDisruptionBudget")
    assert versions.warning(parse_path(V1).kind_info) == ""


def test_merge_diff_turns_old_into_new() -> None:
    from kubelab.patch import merge_patch
    old = {"a": 1, "b": {"c": 2, "d": [1]}, "e": "x"}
    new = {"a": 1, "b": {"c": 3, "d": [1], "f": {}}, "g": None}
    assert merge_patch(old, merge_diff(old, new)) == {"a": 1, "b": {"c": 3, "d": [1], "f": {}}}
    assert merge_diff(old, old) == {}


def test_discovery_lists_both_versions_v1_preferred() -> None:
    group = discovery.api_group("policy")
    assert group is not None
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1"]
    assert group["preferredVersion"]["version"] == "v1"
    beta = discovery.api_resource_list("policy", "v1beta1")
    assert beta is not None and [r["name"] for r in beta["resources"]] == ["poddisruptionbudgets",
                                                                             "poddisruptionbudgets/status"]
    [policy] = [i for i in discovery.aggregated(False)["items"] if i["metadata"]["name"] == "policy"]
    assert [v["version"] for v in policy["versions"]] == ["v1", "v1beta1"]
    assert policy["versions"][1]["resources"][0]["responseKind"] == {"group": "policy", "version": "v1beta1",
                                                                     "kind": "PodDisruptionBudget"}


def test_openapi_defines_the_v1beta1_types_with_their_own_refs() -> None:
    defs = json.loads(openapi.v2_json("test"))["definitions"]
    beta = defs["io.k8s.api.policy.v1beta1.PodDisruptionBudget"]
    assert beta["x-kubernetes-group-version-kind"] == [{"group": "policy", "version": "v1beta1",
                                                        "kind": "PodDisruptionBudget"}]
    assert beta["properties"]["spec"] == {"$ref": "#/definitions/io.k8s.api.policy.v1beta1.PodDisruptionBudgetSpec"}
    assert "io.k8s.api.policy.v1.PodDisruptionBudget" in defs
    assert "io.k8s.api.policy.v1beta1.PodDisruptionBudgetList" in defs
    v3 = json.loads(openapi.v3_document("apis/policy/v1beta1", "test") or b"{}")
    schemas = v3["components"]["schemas"]
    assert "io.k8s.api.policy.v1beta1.PodDisruptionBudgetSpec" in schemas
    assert not any(n.startswith("io.k8s.api.policy.v1.") for n in schemas)
    patch = v3["paths"]["/apis/policy/v1beta1/namespaces/{namespace}/poddisruptionbudgets/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["version"] == "v1beta1"
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


def test_the_wire_cache_keeps_each_versions_bytes_apart() -> None:
    from apiserver.http import serialize
    obj = decoded(V1, pdb("policy/v1", {}))
    obj.metadata.resource_version = "5"
    cache = serialize.WireCache()
    beta, stored = parse_path(V1BETA1).kind_info, parse_path(V1).kind_info
    for _ in range(2):          # the second round is answered from the cache
        assert json.loads(cache.encode(obj))["apiVersion"] == "policy/v1"
        assert json.loads(cache.encode(obj, beta))["spec"]["selector"] == DOES_NOT_EXIST
    assert cache.hits == 2
    listed = json.loads(serialize.list_bytes(beta, [obj], "5", cache=cache))
    assert (listed["apiVersion"], listed["items"][0]["apiVersion"]) == ("policy/v1beta1", "policy/v1beta1")
    assert json.loads(serialize.list_bytes(stored, [obj], "5", cache=cache))["items"][0]["spec"]["selector"] == {}
