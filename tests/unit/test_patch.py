"""Merge patch, strategic merge and apply's three-way merge."""
from __future__ import annotations

import json

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
    assert json.loads(live2["metadata"]["annotations"][patch.LAST_APPLIED]) == second


def test_three_way_apply_prunes_dropped_containers() -> None:
    cfg1 = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}
    live = patch.three_way_apply({"metadata": {}}, cfg1)
    live["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"   # a server default
    cfg2 = {"spec": {"containers": [{"name": "a", "image": "x2"}]}}
    out = patch.three_way_apply(live, cfg2)
    assert out["spec"]["containers"] == [{"name": "a", "image": "x2", "imagePullPolicy": "IfNotPresent"}]
