"""Manifests: YAML ↔ proto, int-or-string and quantity traps, strict fields."""
from __future__ import annotations

import pytest

from kubelab import kinds, manifests

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n"


@pytest.mark.parametrize("value,stored", [
    pytest.param("1", "1", id="int-cpu"),
    pytest.param("0.5", "0.5", id="float-cpu"),
    pytest.param('"250m"', "250m", id="string-cpu"),
])
def test_quantities_take_numbers_and_strings(value: str, stored: str) -> None:
    [doc] = manifests.parse_text(POD + f"    resources: {{requests: {{cpu: {value}}}}}\n", "t")
    assert doc.obj.spec.containers[0].resources.requests["cpu"] == stored


@pytest.mark.parametrize("port,out", [pytest.param("80", 80, id="int"), pytest.param("http", "http", id="name")])
def test_int_or_string_round_trips(port: str, out: object) -> None:
    text = f"apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec: {{ports: [{{port: 80, targetPort: {port}}}]}}\n"
    [doc] = manifests.parse_text(text, "t")
    assert manifests.to_dict(doc.obj)["spec"]["ports"][0]["targetPort"] == out


def test_optional_replicas_tells_unset_from_zero() -> None:
    base = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nspec: {%s}\n"
    assert not manifests.parse_text(base % "", "t")[0].obj.spec.HasField("replicas")
    zero = manifests.parse_text(base % "replicas: 0", "t")[0].obj
    assert zero.spec.HasField("replicas") and zero.spec.replicas == 0


def test_policy_v1beta1_is_read_as_policy_v1() -> None:
    [doc] = manifests.parse_text("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: x}\n"
                                 "spec: {minAvailable: 1}\n", "t")
    assert doc.obj.api_version == "policy/v1"


def test_multi_document_and_list() -> None:
    text = POD + "---\n" + POD.replace("name: p", "name: q") + "---\n"
    assert [d.obj.metadata.name for d in manifests.parse_text(text, "t")] == ["p", "q"]
    lst = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
    assert manifests.parse_text(lst, "t")[0].obj.metadata.name == "a"


@pytest.mark.parametrize("text,msg", [
    pytest.param("a: [", "invalid YAML (line 1", id="yaml"),
    pytest.param("- 1\n- 2\n", "must be a mapping", id="not-a-mapping"),
    pytest.param("kind: Pod\n", "Object 'apiVersion' is missing", id="no-api-version"),
    pytest.param(POD + "    ports: [{containerPort: abc}]\n", "invalid Pod", id="wrong-type"),
    pytest.param(POD + "  nodeNmae: x\n", 'unknown field "spec.nodeNmae"', id="unknown-field"),
])
def test_errors(text: str, msg: str) -> None:
    with pytest.raises(manifests.ManifestError, match=msg.replace("(", r"\(").replace("[", r"\[")):
        manifests.parse_text(text, "t")


def test_load_directory_and_missing_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.yaml").write_text(POD)
    (tmp_path / "notes.txt").write_text("not yaml: [")
    assert len(manifests.load([str(tmp_path)])) == 1
    with pytest.raises(manifests.ManifestError, match='the path "nope.yaml" does not exist'):
        manifests.load(["nope.yaml"])


@pytest.mark.parametrize("typed,kind", [
    ("po", "Pod"), ("pods", "Pod"), ("deploy", "Deployment"), ("deployment.apps", "Deployment"),
    ("svc", "Service"), ("ns", "Namespace"), ("no", "Node"), ("ep", "Endpoints"), ("pdb", "PodDisruptionBudget"),
    ("ev", "Event"), ("rs", "ReplicaSet"), ("ReplicaSet", "ReplicaSet"),
])
def test_kind_lookup(typed: str, kind: str) -> None:
    assert kinds.lookup(typed).kind == kind


def test_unknown_kind_lookup() -> None:
    with pytest.raises(kinds.UnknownKind, match='doesn\'t have a resource type "potatoes"'):
        kinds.lookup("potatoes")
