"""Merge patch, strategic merge, JSON patch and apply's three-way merge."""
from __future__ import annotations

import json
from typing import Any

import pytest

from kubelab import patch


@pytest.mark.parametrize("target,p,out", [
    pytest.param({"a": 1, "b": 2}, {"b": None}, {"a": 1}, id="null-deletes"),
    pytest.param({"a": {"x": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}, id="objects-merge"),
    pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replace"),
])
def test_merge_patch(target: dict, p: dict, out: dict) -> None:
    assert patch.merge_patch(target, p) == out


def test_strategic_merges_containers_by_name() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    out = patch.strategic_merge(live, {"spec": {"containers": [{"name": "b", "image": "y:2"}]}})
    assert out["spec"]["containers"] == [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]


def test_strategic_delete_directive() -> None:
    live = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    out = patch.strategic_merge(live, {"env": [{"name": "A", "$patch": "delete"}]})
    assert out == {"env": [{"name": "B", "value": "2"}]}


def test_three_way_apply_removes_what_the_config_dropped_and_keeps_server_fields() -> None:
    first = {"metadata": {"name": "d", "labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2}}
    live = patch.three_way_apply({"metadata": {"name": "d", "uid": "u"}, "status": {"x": 1}}, first)
    assert live["metadata"]["labels"] == {"a": "1", "b": "2"} and live["metadata"]["uid"] == "u"
    second = {"metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {"replicas": 3}}
    live2 = patch.three_way_apply(live, second)
    assert live2["metadata"]["labels"] == {"a": "1"}
    assert live2["spec"]["replicas"] == 3 and live2["status"] == {"x": 1}
    assert json.loads(live2["metadata"]["annotations"][patch.LAST_APPLIED]) == {
        **second, "metadata": {**second["metadata"], "annotations": {}}}
    # an apply of a manifest without annotations keeps those the server wrote meanwhile
    live2["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    live3 = patch.three_way_apply(live2, second)
    assert live3["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_three_way_apply_prunes_dropped_containers() -> None:
    cfg1 = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    live = patch.three_way_apply({"metadata": {}}, cfg1)
    live["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"   # a server default
    cfg2 = {"spec": {"containers": [{"name": "a", "image": "x2"}]}}
    out = patch.three_way_apply(live, cfg2)
    assert out["spec"]["containers"] == [{"name": "a", "image": "x2", "imagePullPolicy": "IfNotPresent"}]


# ---------------------------------------------------------------- JSON patch (RFC 6902)
def test_json_patch() -> None:
    doc = {"spec": {"containers": [{"image": "a"}], "replicas": 1}}
    out = patch.json_patch(doc, [{"op": "replace", "path": "/spec/containers/0/image", "value": "b"},
                           {"op": "add", "path": "/spec/containers/-", "value": {"image": "c"}},
                           {"op": "remove", "path": "/spec/replicas"}])
    assert out == {"spec": {"containers": [{"image": "b"}, {"image": "c"}]}}
    with pytest.raises(patch.JSONPatchError):
        patch.json_patch(doc, [{"op": "replace", "path": "/spec/nope", "value": 1}])


DEPLOY = {"metadata": {"name": "pd"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c"}]}}}}


@pytest.mark.parametrize("ops,message", [
    pytest.param([{"op": "add", "path": "/spec/template/spec/containers/5", "value": {}}],
                 "Unable to access invalid index: 5", id="add-past-the-end"),
    pytest.param([{"op": "replace", "path": "/spec/template/spec/containers/1", "value": {}}],
                 "Unable to access invalid index: 1", id="replace-at-len"),
    pytest.param([{"op": "replace", "path": "/spec/template/spec/containers/-", "value": {}}],
                 "Unable to access invalid index: -", id="replace-dash"),
    pytest.param([{"op": "remove", "path": "/spec/template/spec/containers/1"}],
                 "Unable to access invalid index: 1", id="remove-at-len"),
    pytest.param([{"op": "remove", "path": "/spec/template/spec/containers/-1"}],
                 "Unable to access invalid index: -1", id="negative"),
    pytest.param([{"op": "replace", "path": 5}], "replace operation: 'path' must be a string, got 5", id="int-path"),
    pytest.param([{"op": "copy", "from": None, "path": "/x"}], "copy operation: 'from' must be a string, got null",
                 id="null-from"),
    pytest.param([{"op": "replace", "path": "/nope/x", "value": 1}],
                 "replace operation does not apply: doc is missing key: /nope/x", id="replace-missing"),
    pytest.param([{"op": "add", "path": "/x/y", "value": 1}],
                 'add operation does not apply: doc is missing path: "/x/y"', id="add-missing"),
    pytest.param([{"op": "remove", "path": "/spec/replicas/x"}],
                 'remove operation does not apply: doc is missing path: "/spec/replicas/x"', id="into-a-scalar"),
    pytest.param([{"op": "move", "from": "/nope", "path": "/x"}],
                 'move operation does not apply: doc is missing from path: "/nope"', id="move-missing"),
    pytest.param([{"op": "add", "path": "/x"}], "add operation: missing value", id="no-value"),
    pytest.param([{"op": "frob", "path": "/x"}], 'Unexpected kind: "frob"', id="unknown-op"),
    pytest.param([{"op": "test", "path": "/spec/replicas", "value": 2}], "testing value /spec/replicas failed",
                 id="test"),
    pytest.param([{"op": "test", "path": "/spec/replicas", "value": True}], "testing value /spec/replicas failed",
                 id="test-bool-is-not-1"),
    pytest.param([{"op": "test", "path": "/spec/nope", "value": None}], "testing value /spec/nope failed",
                 id="test-missing-is-not-null"),
])
def test_json_patch_refuses_what_the_apiserver_would(ops: list[Any], message: str) -> None:
    with pytest.raises(patch.JSONPatchError) as e:
        patch.json_patch(DEPLOY, ops)
    assert str(e.value) == message


def test_json_patch_test_compares_json_values() -> None:
    ops = [{"op": "test", "path": "/spec/replicas", "value": 1.0},
           {"op": "test", "path": "/spec/template", "value": {"spec": {"containers": [{"name": "c"}]}}}]
    assert patch.json_patch(DEPLOY, ops) == DEPLOY


def test_json_patch_indices() -> None:
    containers = [{"op": "add", "path": "/spec/template/spec/containers/1", "value": {"name": "end"}},
                  {"op": "add", "path": "/spec/template/spec/containers/0", "value": {"name": "start"}},
                  {"op": "move", "from": "/spec/replicas", "path": "/spec/template/spec/containers/0/n"}]
    out = patch.json_patch(DEPLOY, containers)
    assert out["spec"] == {"template": {"spec": {"containers": [{"name": "start", "n": 1}, {"name": "c"},
                                                               {"name": "end"}]}}}
    assert DEPLOY["spec"]["replicas"] == 1      # the input is not changed


@pytest.mark.parametrize("ops,malformed", [
    pytest.param({"op": "add"}, True, id="not-a-list"),
    pytest.param(["add"], True, id="operation-not-an-object"),
    pytest.param([{"op": "frob", "path": "/x"}], False, id="unknown-op"),
    pytest.param([{"op": "remove", "path": "/nope"}], False, id="missing"),
])
def test_json_patch_errors_say_whether_the_body_or_the_document_is_wrong(ops: Any, malformed: bool) -> None:
    with pytest.raises(patch.JSONPatchError) as e:
        patch.json_patch(DEPLOY, ops)
    assert e.value.malformed is malformed       # the apiserver: BadRequest, else Invalid


def test_strategic_merge_skips_kubectls_set_element_order_directive() -> None:
    """`kubectl set image` sends `$setElementOrder/containers` beside the containers it changes: a directive,
    not a field (stored, it made the object invalid: unknown field)."""
    from kubelab.patch import strategic_merge
    live = {"spec": {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                      "containers": [{"name": "b", "image": "y:2"}]}}
    assert strategic_merge(live, patch) == {"spec": {"containers": [{"name": "a", "image": "x:1"},
                                                                    {"name": "b", "image": "y:2"}]}}


def test_the_last_applied_annotation_leaves_out_the_precondition() -> None:
    """apply sends the resourceVersion it read; the annotation, and so a re-apply's verdict, ignores it."""
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c", "annotations": {patch.LAST_APPLIED: "old"}}, "data": {"a": "1"}}
    read_at = json.loads(json.dumps(manifest))
    read_at["metadata"]["resourceVersion"] = "42"
    assert patch.last_applied_of(read_at) == patch.last_applied_of(manifest) == \
        '{"apiVersion":"v1","data":{"a":"1"},"kind":"ConfigMap","metadata":{"annotations":{},"name":"c"}}\n'
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "42"}}
    merged = patch.three_way_apply(live, read_at)
    assert json.loads(merged["metadata"]["annotations"][patch.LAST_APPLIED])["metadata"] == {"annotations": {},
                                                                                              "name": "c"}


def test_the_last_applied_annotation_is_byte_for_byte_kubectls() -> None:
    """What kubectl 1.37's `apply -f cowweb-service.yaml -n handson2` wrote (read back from the apiserver): the
    same bytes from us, so kubectl's apply after ours says `unchanged`, and ours after kubectl's."""
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cowweb", "namespace": "handson2"},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}], "selector": {"app": "cowweb"},
                         "type": "LoadBalancer"}}
    assert patch.last_applied_of(manifest) == (
        '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"cowweb","namespace":"handson2"},'
        '"spec":{"ports":[{"name":"http","port":80,"targetPort":8080}],"selector":{"app":"cowweb"},'
        '"type":"LoadBalancer"}}\n')
    # Go's encoding/json: HTML characters escaped, other non-ASCII text raw; other annotations kept.
    noted = {"kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"note": "<a&b> café"}}}
    assert patch.last_applied_of(noted) == \
        '{"kind":"ConfigMap","metadata":{"annotations":{"note":"\\u003ca\\u0026b\\u003e café"},"name":"c"}}\n'
