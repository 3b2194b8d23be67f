"""The controller manager's wiring: `--controllers` parsing, namespaces, deployment syncs on a fake API."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from controller_manager.base import Requeue
from controller_manager.controllers import REGISTRY, UnknownController, enabled
from controller_manager.deployment import DeploymentController
from controller_manager.deployment import util
from controller_manager.main import main
from controller_manager.metrics import Metrics
from controller_manager.namespace import NamespaceController, remaining_message
from tests.harness.controller_manager import Harness
from kubelab import conditions
from kubelab.v1 import objects_pb2 as pb


@pytest.mark.parametrize("spec,expected", [
    pytest.param(["*"], list(REGISTRY), id="all"),
    pytest.param(["*,-garbagecollector"], [n for n in REGISTRY if n != "garbagecollector"], id="all-but-one"),
    pytest.param(["replicaset,deployment"], ["replicaset", "deployment"], id="only-two"),
    pytest.param(["deployment", "replicaset"], ["replicaset", "deployment"], id="registry-order"),
    pytest.param(["*,-endpoints"], [n for n in REGISTRY if n != "endpoint"], id="alias"),
    pytest.param([""], [], id="none"),
])
def test_enabled(spec: list[str], expected: list[str]) -> None:
    assert enabled(spec) == expected


def test_unknown_controller_is_an_error_naming_it() -> None:
    with pytest.raises(UnknownController, match='unknown controller "bogus"'):
        enabled(["*,-bogus"])
    result = CliRunner().invoke(main, ["--controllers", "*,nope", "--server", "x:1", "--token", "t"])
    assert result.exit_code != 0 and 'unknown controller "nope"' in result.output


def test_metrics_render() -> None:
    m = Metrics()
    m.observe("replicaset", 0.5, True)
    m.observe("replicaset", 0.25, False)
    m.depth["replicaset"] = lambda: 7
    text = m.render()
    assert 'kubelab_controller_reconcile_total{controller="replicaset"} 2.0' in text
    assert 'kubelab_controller_reconcile_errors_total{controller="replicaset"} 1.0' in text
    assert 'kubelab_controller_reconcile_seconds_total{controller="replicaset"} 0.75' in text
    assert 'workqueue_depth{name="replicaset"} 7.0' in text
    assert 'leader_election_master_status{name="kube-controller-manager"} 0.0' in text


# ------------------------------------------------------------------ namespace
async def test_namespace_is_emptied_then_finalized() -> None:
    h = Harness(NamespaceController)
    ns = pb.Namespace(api_version="v1", kind="Namespace")
    ns.metadata.name = "team"
    ns.spec.finalizers.append("kubernetes")
    ns.metadata.deletion_timestamp = "2024-01-01T00:00:00Z"
    ns = h.client.put(ns)
    for kind in ("Pod", "Service", "ReplicaSet"):
        obj = getattr(pb, kind)(api_version="v1", kind=kind)
        obj.metadata.name, obj.metadata.namespace = "x", "team"
        h.client.put(obj)
    h.seen(ns)
    with pytest.raises(Requeue):
        await h.reconcile("team")
    # deleted in the namespace ... (the fake deletes at once); the condition says what was there
    cond = conditions.get(h.client.stored("Namespace", "team", "").status.conditions, "NamespaceContentRemaining")
    assert cond is not None and "pods. has 1 resource instances" in cond.message
    await h.reconcile("team")
    assert h.client.stored("Namespace", "team", "") is None        # finalizer gone → namespace gone
    assert ("finalize", "Namespace", "team") in h.client.actions   # a plain update would keep the finalizer


def test_remaining_message() -> None:
    assert remaining_message({"Pod": 3, "Service": 0}) == "Some resources are remaining: pods. has 3 resource instances"


# ------------------------------------------------------------------ deployment, against a fake API
def _deployment(h: Harness, replicas: int = 3, image: str = "nginx:1.15", surge: int = 1,
                unavailable: int = 0) -> pb.Deployment:
    from google.protobuf import struct_pb2
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name = "web"
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = "web"
    d.spec.template.metadata.labels["app"] = "web"
    d.spec.template.spec.containers.add(name="c", image=image)
    d.spec.strategy.type = "RollingUpdate"
    d.spec.strategy.rolling_update.max_surge.CopyFrom(struct_pb2.Value(number_value=surge))
    d.spec.strategy.rolling_update.max_unavailable.CopyFrom(struct_pb2.Value(number_value=unavailable))
    d.spec.revision_history_limit = 10
    d.spec.progress_deadline_seconds = 30
    d = h.client.put(d)
    h.seen(d)
    return d


def _set_image(h: Harness, image: str) -> None:
    d = h.client.stored("Deployment", "web")
    d.spec.template.spec.containers[0].image = image
    h.client.put(d)
    h.client.objects[("Deployment", "default", "web")].metadata.generation += 1
    h.sync_all()


def _settle_rss(h: Harness) -> None:
    """Pretend the ReplicaSet controller made every ReplicaSet's pods, all available."""
    for rs in h.client.all("ReplicaSet"):
        rs.status.replicas = rs.status.ready_replicas = rs.status.available_replicas = rs.spec.replicas
        rs.status.observed_generation = rs.metadata.generation
        h.client.put(rs)
    h.sync_all()


async def _sync(h: Harness) -> None:
    try:
        await h.reconcile("default/web")
    except Requeue:
        pass
    h.sync_all()


async def test_deployment_creates_its_replica_set_with_revision_1() -> None:
    h = Harness(DeploymentController)
    _deployment(h)
    await _sync(h)
    [rs] = h.client.all("ReplicaSet")
    h_ = rs.metadata.labels[util.POD_TEMPLATE_HASH]
    assert rs.metadata.name == f"web-{h_}" and rs.spec.replicas == 3
    assert rs.metadata.annotations[util.REVISION] == "1"
    d = h.client.stored("Deployment", "web")
    assert d.metadata.annotations[util.REVISION] == "1"
    assert conditions.get(d.status.conditions, "Progressing").reason == util.NEW_RS_CREATED
    assert ("ScalingReplicaSet", f"Scaled up replica set {rs.metadata.name} to 3", "web") in h.events
    _settle_rss(h)
    await _sync(h)
    d = h.client.stored("Deployment", "web")
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (3, 3, 3)
    assert conditions.get(d.status.conditions, "Progressing").reason == util.NEW_RS_AVAILABLE
    assert conditions.get(d.status.conditions, "Available").status == "True"


async def test_rollout_then_rollback_reuses_the_old_replica_set_with_a_new_revision() -> None:
    h = Harness(DeploymentController)
    _deployment(h)
    await _sync(h)
    _settle_rss(h)
    await _sync(h)
    first = h.client.all("ReplicaSet")[0].metadata.name
    _set_image(h, "nginx:1.16")
    for _ in range(10):
        await _sync(h)
        _settle_rss(h)
    rss = {rs.metadata.name: rs for rs in h.client.all("ReplicaSet")}
    assert len(rss) == 2 and rss[first].spec.replicas == 0
    second = next(n for n in rss if n != first)
    assert rss[second].spec.replicas == 3 and rss[second].metadata.annotations[util.REVISION] == "2"
    # rollback: the CLI copies revision 1's template back
    _set_image(h, "nginx:1.15")
    for _ in range(10):
        await _sync(h)
        _settle_rss(h)
    rss = {rs.metadata.name: rs for rs in h.client.all("ReplicaSet")}
    assert len(rss) == 2, "no third ReplicaSet: the old one is reused"
    assert rss[first].spec.replicas == 3 and rss[first].metadata.annotations[util.REVISION] == "3"
    assert rss[first].metadata.annotations[util.REVISION_HISTORY] == "1"
    assert h.client.stored("Deployment", "web").metadata.annotations[util.REVISION] == "3"
    assert any(r == "DeploymentRollback" for r, _, _ in h.events)


async def test_paused_deployment_scales_but_does_not_roll_out() -> None:
    h = Harness(DeploymentController)
    _deployment(h)
    await _sync(h)
    _settle_rss(h)
    d = h.client.stored("Deployment", "web")
    d.spec.paused = True
    d.spec.replicas = 5
    d.spec.template.spec.containers[0].image = "nginx:1.16"
    h.client.put(d)
    h.sync_all()
    await _sync(h)
    [rs] = h.client.all("ReplicaSet")
    assert rs.spec.replicas == 5                                # scaling applies
    d = h.client.stored("Deployment", "web")
    assert conditions.get(d.status.conditions, "Progressing").reason == util.PAUSED


async def test_stalled_rollout_reports_progress_deadline_exceeded() -> None:
    h = Harness(DeploymentController)
    _deployment(h)
    await _sync(h)
    _settle_rss(h)
    await _sync(h)
    _set_image(h, "nginx:missing")
    await _sync(h)                     # new RS with 1 pod that never becomes available
    await h.clock.advance(31)
    await _sync(h)
    d = h.client.stored("Deployment", "web")
    cond = conditions.get(d.status.conditions, "Progressing")
    assert (cond.status, cond.reason) == ("False", util.TIMED_OUT)
    assert d.status.available_replicas == 3                     # the old pods still serve
    assert any(r == util.TIMED_OUT for r, _, _ in h.events)


async def test_revision_history_limit_deletes_the_oldest_idle_replica_sets() -> None:
    h = Harness(DeploymentController)
    d = _deployment(h)
    dd = h.client.stored("Deployment", "web")
    dd.spec.revision_history_limit = 1
    h.client.put(dd)
    h.sync_all()
    for i, image in enumerate(["v1", "v2", "v3"]):
        old = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
        old.metadata.name = f"web-old{i}"
        old.metadata.creation_timestamp = f"2024-01-01T00:00:0{i}Z"
        old.metadata.annotations[util.REVISION] = str(i + 1)
        old.metadata.owner_references.add(kind="Deployment", name="web", uid=d.metadata.uid, controller=True)
        old.spec.replicas = 0
        old.metadata.labels["app"] = "web"
        old.spec.selector.match_labels["app"] = "web"
        old.spec.template.metadata.labels["app"] = "web"
        old.spec.template.spec.containers.add(name="c", image=image)
        old.metadata.generation = 1
        old.status.observed_generation = 1
        h.client.put(old)
    h.sync_all()
    for _ in range(4):
        await _sync(h)
        _settle_rss(h)
    names = sorted(rs.metadata.name for rs in h.client.all("ReplicaSet"))
    assert "web-old0" not in names and "web-old1" not in names and "web-old2" in names
    current = [rs for rs in h.client.all("ReplicaSet") if rs.spec.replicas == 3]
    assert len(current) == 1 and current[0].metadata.annotations[util.REVISION] == "4"


async def test_a_replica_set_the_api_refuses_is_reported_on_the_deployment_and_not_retried() -> None:
    """Issue 12 item 12: Kubernetes' sync.go reports a refused new ReplicaSet as Progressing=False
    ReplicaSetCreateError and a Warning event with the API's message. The same Deployment makes the same refused
    ReplicaSet, so the sync ends there (no 15 retries ending in a traceback)."""
    from kubelab import errors
    h = Harness(DeploymentController)
    _deployment(h)
    refusal = 'ReplicaSet "web-abc" is invalid: metadata.name: Invalid value: "web-abc": must be no more than 253 characters'
    h.client.refusals["create"] = [errors.Invalid(refusal)]
    await h.reconcile("default/web")          # returns: nothing to retry
    assert h.client.all("ReplicaSet") == []
    d = h.client.stored("Deployment", "web")
    cond = conditions.get(d.status.conditions, "Progressing")
    assert (cond.status, cond.reason) == ("False", "ReplicaSetCreateError")
    assert cond.message.startswith('Failed to create new replica set "web-') and cond.message.endswith(refusal)
    assert [(r, m) for r, m, _ in h.events] == [("ReplicaSetCreateError", cond.message)]


async def test_a_transient_replica_set_create_failure_is_reported_and_retried() -> None:
    from kubelab import errors
    h = Harness(DeploymentController)
    _deployment(h)
    h.client.refusals["create"] = [errors.Unavailable("etcd is down")]
    with pytest.raises(errors.Unavailable):
        await h.reconcile("default/web")
    assert [r for r, _, _ in h.events] == ["ReplicaSetCreateError"]
