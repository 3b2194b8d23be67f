"""apiserver.authz.bootstrap.reconciled: a stored bootstrap role or binding is given what this version grants
and it lacks (kube-apiserver's RBAC reconciliation), keeps what a user added, and is left alone when it opts
out with autoupdate "false"."""
from __future__ import annotations

from apiserver.authz import bootstrap
from kubelab.v1 import objects_pb2 as pb


def _stored(name: str) -> pb.ClusterRole:
    role = next(r for r in bootstrap.cluster_roles() if r.metadata.name == name)
    stored = pb.ClusterRole()
    stored.CopyFrom(role)
    stored.metadata.resource_version = "7"
    return stored


def test_a_role_missing_a_grant_gets_it_and_keeps_what_a_user_added() -> None:
    wanted = next(r for r in bootstrap.cluster_roles() if r.metadata.name == "system:node-proxier")
    old = _stored("system:node-proxier")
    dropped = old.rules[-1]
    del old.rules[-1]
    old.rules.add(verbs=["get"], api_groups=[""], resources=["configmaps"])     # a user's own grant
    out = bootstrap.reconciled(old, wanted)
    assert out is not None
    assert dropped in out.rules and pb.PolicyRule(verbs=["get"], api_groups=[""], resources=["configmaps"]) in out.rules
    assert out.metadata.resource_version == "7"     # an update of what is stored, not a new object


def test_an_up_to_date_role_or_one_that_opts_out_is_left_alone() -> None:
    wanted = next(r for r in bootstrap.cluster_roles() if r.metadata.name == "view")
    assert bootstrap.reconciled(_stored("view"), wanted) is None
    opted_out = _stored("view")
    del opted_out.rules[:]
    opted_out.metadata.annotations[bootstrap.AUTOUPDATE] = "false"
    assert bootstrap.reconciled(opted_out, wanted) is None


def test_a_binding_gets_its_missing_subjects_but_a_changed_role_ref_is_not_touched() -> None:
    wanted = next(b for b in bootstrap.cluster_role_bindings() if b.metadata.name == "system:node-proxier")
    stored = pb.ClusterRoleBinding()
    stored.CopyFrom(wanted)
    del stored.subjects[:]
    out = bootstrap.reconciled(stored, wanted)
    assert out is not None and list(out.subjects) == list(wanted.subjects)
    stored.role_ref.name = "view"
    assert bootstrap.reconciled(stored, wanted) is None
