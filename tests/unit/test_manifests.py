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
    pytest.param(POD + "  - name: d\n    image: i\n    ports: [{containerPort: 80}, {containerPort: abc}]\n",
                 'invalid Pod: spec.containers[1].ports[1].containerPort: Invalid value: "abc": expected an integer',
                 id="wrong-type-path"),
    pytest.param(POD + "    ports: [{containerPort: 2147483648}]\n",
                 "spec.containers[0].ports[0].containerPort: Invalid value: 2147483648: must be between "
                 "-2147483648 and 2147483647, inclusive", id="int32-overflow"),
    pytest.param(POD.replace("image: i", "image: 5"), "spec.containers[0].image: Invalid value: 5: expected a string",
                 id="int-for-string"),
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata: [1]\n",
                 'metadata: Invalid value: "array": expected an object', id="list-for-object"),
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: 5}}\n",
                 "metadata.labels[a]: Invalid value: 5: expected a string", id="int-label"),
    pytest.param("apiVersion: v1\nkind: Pod\nspec: 5\n", "spec: Invalid value: 5: expected an object",
                 id="int-for-object"),
    pytest.param(POD + "    ports: 5\n", "spec.containers[0].ports: Invalid value: 5: expected an array",
                 id="int-for-list"),
    pytest.param(POD + "    tty: 'true'\n", 'spec.containers[0].tty: Invalid value: "true": expected a boolean',
                 id="string-for-bool"),
    pytest.param(POD + "    nme: x\n", 'unknown field "spec.containers[0].nme" in Pod', id="unknown-field-index"),
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata: &a {name: *a}\n",
                 'metadata.name: Invalid value: "object": expected a string', id="self-referencing-alias"),
    pytest.param("a: " + "[" * 5000 + "]" * 5000 + "\n", "t: invalid YAML: nested too deeply", id="deep"),
    pytest.param(POD + "  nodeNmae: x\n", 'unknown field "spec.nodeNmae"', id="unknown-field"),
    pytest.param(POD + "  node_name: x\n", 'unknown field "spec.node_name"', id="proto-name-is-not-a-field"),
])
def test_errors(text: str, msg: str) -> None:
    with pytest.raises(manifests.ManifestError, match=msg.replace("(", r"\(").replace("[", r"\[")):
        manifests.parse_text(text, "t")


D = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {%s}\n"


@pytest.mark.parametrize("spec,msg", [
    # protobuf's JSON mapping takes all of these; Kubernetes refuses a JSON string for an int32.
    pytest.param('replicas: "3"', 'spec.replicas: Invalid value: "3": expected an integer', id="quoted"),
    pytest.param("replicas: 1e2", 'spec.replicas: Invalid value: "1e2": expected an integer', id="exponent"),
    pytest.param("replicas: 2.5", "spec.replicas: Invalid value: 2.5: expected an integer", id="fraction"),
    pytest.param("replicas: true", "spec.replicas: Invalid value: true: expected an integer", id="bool"),
    pytest.param("paused: 1", "spec.paused: Invalid value: 1: expected a boolean", id="int-for-bool"),
    pytest.param("template: {spec: {terminationGracePeriodSeconds: '30'}}",
                 'spec.template.spec.terminationGracePeriodSeconds: Invalid value: "30": expected an integer',
                 id="grace"),
    # Int-or-string: an int32 or a string.
    pytest.param("strategy: {rollingUpdate: {maxSurge: 1.0e+20}}",
                 "spec.strategy.rollingUpdate.maxSurge: Invalid value: 1e+20: must be between -2147483648 and "
                 "2147483647, inclusive", id="int-or-string-overflow"),
    pytest.param("strategy: {rollingUpdate: {maxUnavailable: 0.5}}",
                 "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0.5: expected an integer or a string",
                 id="int-or-string-fraction"),
    pytest.param("strategy: {rollingUpdate: {maxUnavailable: [1]}}",
                 'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "array": expected an integer or a string',
                 id="int-or-string-list"),
])
def test_json_types_are_kubernetes_ones(spec: str, msg: str) -> None:
    with pytest.raises(manifests.ManifestError) as e:
        manifests.parse_text(D % spec, "t")
    assert str(e.value) == f"t: invalid Deployment: {msg}"


def test_whole_numbers_stay_accepted() -> None:
    # YAML `3.0` reaches Kubernetes as 3 (kubectl converts through float64); a whole float from a JSON patch too.
    obj = manifests.parse_text(D % "replicas: 3.0, strategy: {rollingUpdate: {maxSurge: 2.0, maxUnavailable: 25%}}",
                               "t")[0].obj
    assert obj.spec.replicas == 3
    assert manifests.to_dict(obj)["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 2, "maxUnavailable": "25%"}


def test_patch_that_empties_a_key_names_it() -> None:
    with pytest.raises(manifests.ManifestError, match='^patch: unknown field "" in Deployment$'):
        manifests.from_dict({"apiVersion": "apps/v1", "kind": "Deployment", "": 1}, "patch")


def test_load_refuses_binary_files_by_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"a: \x8c\xff\n")
    with pytest.raises(manifests.ManifestError, match=f"^{f}: invalid UTF-8 at byte 3$"):
        manifests.load([str(f)])


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
