"""Field management without I/O: field sets, FieldsV1, Update ownership, server-side apply's merge,
removal and conflicts (apiserver.fieldmanager)."""
from __future__ import annotations

from typing import Any

import pytest

from apiserver import fieldmanager as fm
from apiserver.http.status import status
from kubelab.v1 import objects_pb2 as pb

DEPLOY = pb.Deployment.DESCRIPTOR


def w(manager: str, subresource: str = "", now: str = "2026-12-03T10:00:00Z") -> fm.Write:
    return fm.Write(manager, DEPLOY, "apps/v1", subresource, has_status=True, now=now)


def deployment(replicas: int | None = 2, image: str = "nginx:1.25", labels: dict[str, str] | None = None,
               containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": containers or [{"name": "web", "image": image}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
            "spec": spec}


def test_field_set_of_a_deployment_is_kubernetes_fieldsv1() -> None:
    fields = fm.to_fields_v1(set(fm.field_values(deployment(), DEPLOY)))
    assert fields == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},        # LabelSelector is an atomic struct
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                           "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}}},
        },
    }


def test_fieldsv1_round_trips_and_paths_print_as_structured_merge_diff_does() -> None:
    paths = set(fm.field_values(deployment(), DEPLOY))
    assert fm.from_fields_v1(fm.to_fields_v1(paths)) == paths
    assert fm.path_string(("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image")) \
        == '.spec.template.spec.containers[name="web"].image'
    assert fm.path_string(("f:metadata", "f:finalizers", 'v:"a"')) == '.metadata.finalizers[="a"]'


def test_sets_and_atomic_lists() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}}}}
    paths = set(fm.field_values(obj, DEPLOY))
    assert ("f:metadata", "f:finalizers", 'v:"a"') in paths
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}', "f:args") in paths   # atomic


def test_create_records_an_update_entry_for_everything_but_status() -> None:
    obj = deployment()
    obj["status"] = {"replicas": 1}
    entries = fm.update(None, obj, [], w("kubectl-create"))
    assert [(e["manager"], e["operation"], e["apiVersion"], e["fieldsType"]) for e in entries] == \
        [("kubectl-create", "Update", "apps/v1", "FieldsV1")]
    assert "f:status" not in entries[0]["fieldsV1"] and "f:replicas" in entries[0]["fieldsV1"]["f:spec"]


def test_status_writes_own_status_only_with_subresource() -> None:
    old = deployment()
    new = deployment()
    new["status"] = {"replicas": 2}
    entries = fm.update(old, new, [], w("kube-controller-manager", "status"))
    assert entries == [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                        "time": "2026-12-03T10:00:00Z", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:status": {"f:replicas": {}}}, "subresource": "status"}]


def test_an_update_takes_the_fields_it_changes_from_other_managers() -> None:
    first = fm.update(None, deployment(replicas=2), [], w("kubectl-create"))
    second = fm.update(deployment(replicas=2), deployment(replicas=5), first, w("kubectl-scale", "scale"))
    by = {e["manager"]: fm.from_fields_v1(e["fieldsV1"]) for e in second}
    assert ("f:spec", "f:replicas") in by["kubectl-scale"]
    assert ("f:spec", "f:replicas") not in by["kubectl-create"]


def test_an_unchanged_write_changes_no_entry() -> None:
    first = fm.update(None, deployment(), [], w("a"))
    assert fm.update(deployment(), deployment(), first, w("b", now="later")) == first


def test_apply_creates_with_the_appliers_set_exactly() -> None:
    merged, entries = fm.apply(None, deployment(), w("kubectl"))
    assert merged == deployment()
    assert [(e["manager"], e["operation"]) for e in entries] == [("kubectl", "Apply")]
    assert fm.from_fields_v1(entries[0]["fieldsV1"]) == set(fm.field_values(deployment(), DEPLOY))


def live_after(config: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(config, metadata=dict(config["metadata"], uid="u1", managedFields=entries))
    out["status"] = {"replicas": 1}
    return out


def test_reapply_changes_a_field_and_removes_what_it_no_longer_sends() -> None:
    merged, entries = fm.apply(None, deployment(labels={"app": "web", "tier": "front"}), w("kubectl"))
    live = live_after(merged, entries)
    merged2, entries2 = fm.apply(live, deployment(replicas=3, image="nginx:1.26"), w("kubectl", now="t2"))
    assert merged2["spec"]["replicas"] == 3
    assert merged2["spec"]["template"]["spec"]["containers"] == [{"name": "web", "image": "nginx:1.26"}]
    assert merged2["metadata"]["labels"] == {"app": "web"}             # tier was applied before, not now
    assert merged2["metadata"]["uid"] == "u1" and merged2["status"] == {"replicas": 1}   # others' fields stay
    assert "managedFields" not in merged2["metadata"]
    assert entries2[0]["time"] == "t2"


def test_a_field_another_manager_also_owns_is_not_removed() -> None:
    merged, entries = fm.apply(None, deployment(labels={"app": "web", "tier": "front"}), w("kubectl"))
    # Someone else sets the same label value: both own it.
    entries = fm.update(merged, dict(merged, metadata=dict(merged["metadata"],
                                                           labels={"app": "web", "tier": "back"})),
                        entries, w("labeller"))
    live = live_after(merged, entries)
    live["metadata"]["labels"]["tier"] = "back"
    merged2, _ = fm.apply(live, deployment(), w("kubectl"))
    assert merged2["metadata"]["labels"] == {"app": "web", "tier": "back"}


def test_removing_a_container_from_the_config_removes_the_item() -> None:
    two = [{"name": "web", "image": "a"}, {"name": "side", "image": "b"}]
    merged, entries = fm.apply(None, deployment(containers=two), w("kubectl"))
    merged2, entries2 = fm.apply(live_after(merged, entries), deployment(containers=two[:1]), w("kubectl"))
    assert merged2["spec"]["template"]["spec"]["containers"] == two[:1]
    assert 'k:{"name":"side"}' not in entries2[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_apply_of_a_value_another_manager_owns_conflicts_and_force_takes_it_over() -> None:
    created = fm.update(None, deployment(replicas=2), [], w("kubectl-client-side-apply"))
    live = live_after(deployment(replicas=2), created)
    with pytest.raises(fm.Conflicts) as e:
        fm.apply(live, deployment(replicas=4), w("kubectl"))
    assert e.value.message == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                               'using apps/v1: .spec.replicas')
    doc = status(e.value)
    assert doc["code"] == 409 and doc["reason"] == "Conflict"
    assert doc["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                         "message": 'conflict with "kubectl-client-side-apply" using apps/v1'}]
    merged, entries = fm.apply(live, deployment(replicas=4), w("kubectl"), force=True)
    assert merged["spec"]["replicas"] == 4
    by = {e["manager"]: fm.from_fields_v1(e["fieldsV1"]) for e in entries}
    assert ("f:spec", "f:replicas") in by["kubectl"]
    assert ("f:spec", "f:replicas") not in by["kubectl-client-side-apply"]
    assert [e["operation"] for e in entries] == ["Apply", "Update"]      # appliers first


def test_the_same_value_is_shared_not_a_conflict() -> None:
    created = fm.update(None, deployment(replicas=2), [], w("kubectl-create"))
    _, entries = fm.apply(live_after(deployment(replicas=2), created), deployment(replicas=2), w("kubectl"))
    owners = [e["manager"] for e in entries if "f:replicas" in e["fieldsV1"].get("f:spec", {})]
    assert sorted(owners) == ["kubectl", "kubectl-create"]


def test_several_conflicts_are_grouped_by_manager() -> None:
    created = fm.update(None, deployment(replicas=2), [], w("a"))
    scaled = fm.update(deployment(replicas=2), deployment(replicas=2, image="x"), created, w("b", "scale"))
    live = live_after(deployment(replicas=2, image="x"), scaled)
    with pytest.raises(fm.Conflicts) as e:
        fm.apply(live, deployment(replicas=3, image="y"), w("kubectl"))
    assert e.value.message == (
        'Apply failed with 2 conflicts: conflicts with "a" using apps/v1:\n- .spec.replicas\n'
        'conflicts with "b" with subresource "scale" using apps/v1:\n'
        '- .spec.template.spec.containers[name="web"].image')


def test_apply_refuses_managed_fields_in_the_config() -> None:
    config = deployment()
    config["metadata"]["managedFields"] = []
    with pytest.raises(fm.errors.BadRequest, match="metadata.managedFields must be nil"):
        fm.apply(None, config, w("kubectl"))


@pytest.mark.parametrize("agent,manager", [
    ("kubectl-edit/v1.37.0 (linux/amd64) kubernetes/abc", "kubectl-edit"),
    ("OpenAPI-Generator/31.0.0/python", "OpenAPI-Generator"),
    ("", ""),
])
def test_manager_from_user_agent(agent: str, manager: str) -> None:
    assert fm.manager_from_user_agent(agent) == manager


def test_manager_names_are_validated_in_kubernetes_words() -> None:
    with pytest.raises(fm.errors.Invalid, match='PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: '
                                                'may not be more than 128 bytes'):
        fm.validate_manager("x" * 129)
    fm.validate_manager("kubectl")


def test_the_first_apply_to_an_object_no_manager_wrote_conflicts_with_before_first_apply() -> None:
    live = deployment(replicas=2)
    with pytest.raises(fm.Conflicts, match='conflict with "before-first-apply" using apps/v1: .spec.replicas'):
        fm.apply(live, deployment(replicas=3), w("kubectl"))
    _, entries = fm.apply(live, deployment(replicas=2), w("kubectl"))
    assert [e["manager"] for e in entries] == ["kubectl", "before-first-apply"]


def test_an_apply_to_the_object_leaves_status_to_the_status_writers() -> None:
    live = deployment()
    live["status"] = {"replicas": 2}
    entries = fm.update(deployment(), live, fm.update(None, deployment(), [], w("creator")),
                        w("controller", "status"))
    live["metadata"]["managedFields"] = entries
    config = deployment()
    config["status"] = {"replicas": 7}
    merged, out = fm.apply(live, config, w("kubectl"))         # no conflict with the controller's status
    assert merged["status"] == {"replicas": 2}
    assert "f:status" not in next(e for e in out if e["manager"] == "kubectl")["fieldsV1"]


def test_more_than_ten_update_managers_merge_the_oldest_into_ancient_changes() -> None:
    entries: list[dict[str, Any]] = []
    obj = deployment()
    for i in range(12):
        new = deployment(labels={**obj["metadata"]["labels"], f"l{i:02}": "x"})
        entries = fm.update(obj, new, entries, w(f"m{i:02}", now=f"2026-12-03T10:00:{i:02}Z"))
        obj = new
    managers = [e["manager"] for e in entries]
    assert len(managers) == 10 and "m00" not in managers and "m01" not in managers and "m02" not in managers
    ancient = next(e for e in entries if e["manager"] == "ancient-changes")
    assert set(ancient["fieldsV1"]["f:metadata"]["f:labels"]) >= {"f:l00", "f:l01", "f:l02"}
    assert ancient["time"] == "2026-12-03T10:00:02Z"


def test_ports_are_keyed_by_port_and_protocol_completed_with_its_default() -> None:
    ports = [{"name": "web", "image": "a", "ports": [{"containerPort": 80}]}]
    merged, entries = fm.apply(None, deployment(containers=ports), w("kubectl"))
    items = entries[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert items["f:ports"] == {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}
    # The live object has the protocol defaulted; the same config applies to the same item, not a second one.
    live = live_after(merged, entries)
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"
    again, _ = fm.apply(live, deployment(containers=ports), w("kubectl"))
    assert again["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert fm.path_string(("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}')) == \
        '.spec.ports[port=80,protocol="TCP"]'
