"""The Deployment arithmetic (controller_manager/deployment/util.py), table-driven."""
from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from controller_manager.deployment import util
from controller_manager.deployment.rollback import previous_revision, template_for_revision
from kubelab import conditions, timeutil
from kubelab.v1 import objects_pb2 as pb

T0 = 1_700_000_000.0


def val(v: int | str | None) -> struct_pb2.Value:
    if v is None:
        return struct_pb2.Value()
    if isinstance(v, int):
        return struct_pb2.Value(number_value=v)
    return struct_pb2.Value(string_value=v)


def deployment(replicas: int, surge: int | str = "25%", unavailable: int | str = "25%", image: str = "nginx:1.16",
               strategy: str = "RollingUpdate", generation: int = 1) -> pb.Deployment:
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace, d.metadata.uid = "web", "default", "d-uid"
    d.metadata.generation = generation
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = "web"
    d.spec.template.metadata.labels["app"] = "web"
    d.spec.template.spec.containers.add(name="c", image=image)
    d.spec.strategy.type = strategy
    if strategy == "RollingUpdate":
        d.spec.strategy.rolling_update.max_surge.CopyFrom(val(surge))
        d.spec.strategy.rolling_update.max_unavailable.CopyFrom(val(unavailable))
    d.spec.progress_deadline_seconds = 600
    d.spec.revision_history_limit = 10
    return d


def rs(name: str, replicas: int, available: int | None = None, created: float = T0, actual: int | None = None,
       revision: int | None = None, max_replicas: int | None = None, desired: int | None = None,
       image: str = "nginx:1.15") -> pb.ReplicaSet:
    r = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    r.metadata.name, r.metadata.namespace, r.metadata.uid = name, "default", f"{name}-uid"
    r.metadata.creation_timestamp = timeutil.fmt(created)
    r.spec.replicas = replicas
    r.spec.template.metadata.labels["app"] = "web"
    r.spec.template.spec.containers.add(name="c", image=image)
    r.status.replicas = replicas if actual is None else actual
    r.status.available_replicas = replicas if available is None else available
    r.status.ready_replicas = r.status.available_replicas
    if revision is not None:
        r.metadata.annotations[util.REVISION] = str(revision)
    if max_replicas is not None:
        r.metadata.annotations[util.MAX_REPLICAS] = str(max_replicas)
    if desired is not None:
        r.metadata.annotations[util.DESIRED_REPLICAS] = str(desired)
    return r


# ------------------------------------------------------------------ int-or-percent
@pytest.mark.parametrize("value,total,round_up,expected", [
    pytest.param(3, 10, True, 3, id="int-is-itself"),
    pytest.param("25%", 10, True, 3, id="25%-of-10-up"),
    pytest.param("25%", 10, False, 2, id="25%-of-10-down"),
    pytest.param("25%", 4, False, 1, id="25%-of-4-exact"),
    pytest.param("25%", 3, True, 1, id="25%-of-3-up-is-1"),
    pytest.param("25%", 3, False, 0, id="25%-of-3-down-is-0"),
    pytest.param("100%", 7, False, 7, id="100%"),
    pytest.param("0%", 7, True, 0, id="0%"),
    pytest.param("50%", 1, True, 1, id="half-of-one-up"),
    pytest.param(None, 5, True, 0, id="unset"),
])
def test_scaled_value(value: int | str | None, total: int, round_up: bool, expected: int) -> None:
    assert util.scaled_value(value, total, round_up) == expected


def test_scaled_value_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        util.scaled_value("lots", 10, True)


@pytest.mark.parametrize("surge,unavailable,replicas,expected", [
    pytest.param(1, 0, 3, (1, 0), id="1-0"),
    pytest.param(0, 1, 3, (0, 1), id="0-1"),
    pytest.param("25%", "25%", 10, (3, 2), id="25%-25%-of-10"),
    pytest.param("25%", "25%", 4, (1, 1), id="25%-25%-of-4"),
    pytest.param("25%", "25%", 3, (1, 0), id="25%-25%-of-3-surge-up-unavailable-down"),
    pytest.param("10%", "10%", 3, (1, 0), id="10%-of-3"),
    pytest.param(0, "10%", 3, (0, 1), id="both-round-to-0-means-unavailable-1"),
    pytest.param("0%", "0%", 5, (0, 1), id="0%-0%"),
    pytest.param(2, "50%", 5, (2, 2), id="int-and-percent"),
    pytest.param("100%", 0, 2, (2, 0), id="blue-green"),
])
def test_resolve_fenceposts(surge: int | str, unavailable: int | str, replicas: int,
                            expected: tuple[int, int]) -> None:
    assert util.resolve_fenceposts(val(surge), val(unavailable), replicas) == expected


@pytest.mark.parametrize("d,surge,unavailable", [
    pytest.param(deployment(3, 1, 0), 1, 0, id="rolling-1-0"),
    pytest.param(deployment(3, 0, 5), 0, 3, id="unavailable-capped-at-replicas"),
    pytest.param(deployment(0, 1, 1), 1, 0, id="zero-replicas-nothing-unavailable"),
    pytest.param(deployment(3, strategy="Recreate"), 0, 0, id="recreate-no-surge"),
])
def test_max_surge_and_unavailable(d: pb.Deployment, surge: int, unavailable: int) -> None:
    assert util.max_surge(d) == surge
    assert util.max_unavailable(d) == unavailable


# ------------------------------------------------------------------ rolling steps
@pytest.mark.parametrize("d,rss,new_index,expected", [
    pytest.param(deployment(3, 1, 0), [rs("a", 3), rs("b", 0)], 1, 1, id="surge-1-adds-one"),
    pytest.param(deployment(3, 1, 0), [rs("a", 3), rs("b", 1, 0)], 1, 1, id="no-room-to-surge"),
    pytest.param(deployment(3, 0, 1), [rs("a", 3), rs("b", 0)], 1, 0, id="no-surge-waits-for-scale-down"),
    pytest.param(deployment(3, 0, 1), [rs("a", 2), rs("b", 0)], 1, 1, id="scale-down-made-room"),
    pytest.param(deployment(10, "25%", "25%"), [rs("a", 10), rs("b", 0)], 1, 3, id="25%-of-10"),
    pytest.param(deployment(10, "25%", "25%"), [rs("a", 8), rs("b", 3, 0)], 1, 5, id="second-step"),
    pytest.param(deployment(3, 2, 0), [rs("a", 0), rs("b", 2)], 1, 3, id="never-above-replicas"),
    pytest.param(deployment(3, 1, 0), [rs("a", 2, actual=3), rs("b", 1)], 1, 1,
                 id="old-pods-still-there-count-until-gone"),
    pytest.param(deployment(4, strategy="Recreate"), [rs("a", 0), rs("b", 0)], 1, 4, id="recreate-all-at-once"),
])
def test_new_rs_new_replicas(d: pb.Deployment, rss: list[pb.ReplicaSet], new_index: int, expected: int) -> None:
    assert util.new_rs_new_replicas(d, rss, rss[new_index]) == expected


@pytest.mark.parametrize("d,old,new,expected", [
    pytest.param(deployment(3, 1, 0), [rs("a", 3)], rs("b", 1, 0), {}, id="new-not-available-yet"),
    pytest.param(deployment(3, 1, 0), [rs("a", 3)], rs("b", 1, 1), {"a": 2}, id="new-available-old-down-1"),
    pytest.param(deployment(3, 0, 1), [rs("a", 3)], rs("b", 0), {"a": 2}, id="unavailable-1-goes-first"),
    pytest.param(deployment(3, 0, 1), [rs("a", 2)], rs("b", 1, 0), {}, id="wait-for-new-pod"),
    pytest.param(deployment(10, "25%", "25%"), [rs("a", 10)], rs("b", 3, 0), {"a": 8}, id="25%-first-scale-down"),
    pytest.param(deployment(10, "25%", "25%"), [rs("a", 8)], rs("b", 5, 5), {"a": 3}, id="25%-later"),
    pytest.param(deployment(3, 1, 0), [rs("a", 3, available=1)], rs("b", 1, 1), {"a": 2},
                 id="unhealthy-old-pods-first-within-maxScaledDown"),
    pytest.param(deployment(3, 1, 0), [rs("a", 2, created=T0), rs("x", 1, created=T0 + 5)], rs("b", 1, 1),
                 {"a": 1}, id="oldest-first"),
    pytest.param(deployment(3, 1, 0), [rs("a", 0)], rs("b", 3, 3), {}, id="nothing-old"),
    # The old ReplicaSet was just scaled 100 -> 75 and its status still counts the 25 pods being
    # deleted as available: only 75 + 25 = 100 will remain, so 25 more may go, not 50.
    pytest.param(deployment(100, "25%", "25%"), [rs("a", 75, available=100, actual=100)], rs("b", 25, 25),
                 {"a": 50}, id="stale-status-of-a-just-scaled-down-replica-set"),
])
def test_plan_rolling_scale_down(d: pb.Deployment, old: list[pb.ReplicaSet], new: pb.ReplicaSet,
                                 expected: dict[str, int]) -> None:
    assert util.plan_rolling_scale_down(d, [*old, new], old, new) == expected


def _simulate(replicas: int, surge: int | str, unavailable: int | str) -> list[tuple[int, int, int]]:
    """Drive the pure planners through a whole rollout; return (old spec, new spec, available) per step.

    Each step: the Deployment acts once on what the ReplicaSets' statuses
    say; ReplicaSet controllers bring pods to spec (new pods not ready, the
    unready deleted first); then pods created in an earlier step get ready.
    """
    d = deployment(replicas, surge, unavailable)
    old = rs("a", replicas, created=T0)
    new = rs("b", 0, created=T0 + 10, image="nginx:1.16")
    pods = {"a": [True] * replicas, "b": []}          # ready flags
    s, u = util.resolve_fenceposts(val(surge), val(unavailable), replicas)
    trace = []
    for _ in range(10 * replicas + 20):
        if new.spec.replicas == replicas and new.status.available_replicas == replicas and old.spec.replicas == 0:
            break
        all_rss = [old, new]
        if new.spec.replicas != replicas:
            target = util.new_rs_new_replicas(d, all_rss, new)
        else:
            target = new.spec.replicas
        if target != new.spec.replicas:
            new.spec.replicas = target
        else:
            plan = util.plan_rolling_scale_down(d, all_rss, [old], new)
            if "a" in plan:
                old.spec.replicas = plan["a"]
        for r in (old, new):
            have = pods[r.metadata.name]
            have.sort()                                  # False (not ready) first: deleted first
            while len(have) > r.spec.replicas:
                have.pop(0)
            while len(have) < r.spec.replicas:
                have.append(False)
        total = len(pods["a"]) + len(pods["b"])
        available = sum(pods["a"]) + sum(pods["b"])
        assert total <= replicas + s, f"{total} pods > {replicas} + {s}"
        assert available >= replicas - u, f"{available} available < {replicas} - {u}"
        for name in pods:
            pods[name] = [True] * len(pods[name])
        for r in (old, new):
            r.status.replicas = len(pods[r.metadata.name])
            r.status.available_replicas = r.status.ready_replicas = sum(pods[r.metadata.name])
        trace.append((old.spec.replicas, new.spec.replicas, old.status.available_replicas
                      + new.status.available_replicas))
    else:
        raise AssertionError(f"rollout did not finish: {trace}")
    return trace


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 5, 10, 17, 100])
@pytest.mark.parametrize("surge,unavailable", [(1, 0), (0, 1), ("25%", "25%"), ("100%", 0), (2, "50%"),
                                               ("10%", "10%"), (0, "100%")])
def test_simulated_rollout_keeps_its_bounds(replicas: int, surge: int | str, unavailable: int | str) -> None:
    trace = _simulate(replicas, surge, unavailable)
    assert trace[-1][0] == 0 and trace[-1][1] == replicas


def test_simulated_rollout_steps_for_1_0() -> None:
    # one extra pod at a time: new up, old down, ...
    assert _simulate(3, 1, 0) == [(3, 1, 4), (2, 1, 3), (2, 2, 4), (1, 2, 3), (1, 3, 4), (0, 3, 3)]


def test_simulated_rollout_matches_the_worked_example_in_util() -> None:
    # (A, B) after each sync, as the table in deployment/util.py's docstring shows
    assert [(a, b) for a, b, _ in _simulate(10, "25%", "25%")] == [(10, 3), (5, 3), (5, 8), (0, 8), (0, 10)]


# ------------------------------------------------------------------ proportional scaling
def test_proportional_scale_up_mid_rollout() -> None:
    # Kubernetes' doc example: 10 replicas, maxSurge 3, rollout half way (8 old, 5 new) → scale to 15.
    d = deployment(15, 3, 2)
    d.status.replicas = 13
    old, new = rs("a", 8, max_replicas=13, created=T0), rs("b", 5, max_replicas=13, created=T0 + 10)
    sizes = util.plan_proportional_scale(d, [old, new])
    assert sum(sizes.values()) == 18                     # 15 + maxSurge 3
    assert sizes == {"a": 11, "b": 7}


def test_proportional_scale_down_to_zero() -> None:
    d = deployment(0, 1, 0)
    sizes = util.plan_proportional_scale(d, [rs("a", 2, max_replicas=4), rs("b", 2, max_replicas=4)])
    assert sizes == {"a": 0, "b": 0}


@pytest.mark.parametrize("new,old,expected", [
    pytest.param(rs("b", 3), [rs("a", 0)], "b", id="only-new-active"),
    pytest.param(rs("b", 0), [rs("a", 3)], "a", id="only-old-active"),
    pytest.param(rs("b", 1), [rs("a", 3)], None, id="both-active"),
    pytest.param(rs("b", 0), [rs("a", 0)], "b", id="none-active-prefer-new"),
    pytest.param(None, [rs("a", 0, created=T0), rs("c", 0, created=T0 + 9)], "c", id="none-active-newest-old"),
])
def test_find_active_or_latest(new: pb.ReplicaSet | None, old: list[pb.ReplicaSet], expected: str | None) -> None:
    got = util.find_active_or_latest(new, old)
    assert (got.metadata.name if got is not None else None) == expected


def test_scaling_event_and_saturation() -> None:
    d = deployment(5, 1, 0)
    assert util.is_scaling_event(d, [rs("a", 3, desired=3)])
    assert not util.is_scaling_event(d, [rs("a", 5, desired=5), rs("b", 0, desired=3)])
    assert util.is_saturated(d, rs("a", 5, desired=5))
    assert not util.is_saturated(d, rs("a", 5, available=4, desired=5))


# ------------------------------------------------------------------ templates, hashes, revisions
def test_hash_is_stable_kubernetes_shaped_and_ignores_its_own_label() -> None:
    d = deployment(3)
    h = util.compute_hash(d.spec.template)
    assert h == util.compute_hash(d.spec.template)
    assert 1 <= len(h) <= 10 and set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    d.spec.template.metadata.labels[util.POD_TEMPLATE_HASH] = h
    assert util.compute_hash(d.spec.template) == h
    assert util.compute_hash(d.spec.template, 1) != h
    other = deployment(3, image="nginx:1.17")
    assert util.compute_hash(other.spec.template) != h


def test_new_replica_set_and_find_it_again() -> None:
    d = deployment(3, 1, 0)
    d.metadata.annotations["team"] = "a"
    d.metadata.annotations[util.LAST_APPLIED] = "{}"
    h = util.compute_hash(d.spec.template)
    new = util.new_replica_set(d, h, 1, 4)
    assert new.metadata.name == f"web-{h}"
    assert new.metadata.labels[util.POD_TEMPLATE_HASH] == h
    assert new.spec.selector.match_labels == {"app": "web", util.POD_TEMPLATE_HASH: h}
    assert new.spec.template.metadata.labels[util.POD_TEMPLATE_HASH] == h
    assert new.metadata.annotations[util.REVISION] == "4"
    assert new.metadata.annotations["team"] == "a" and util.LAST_APPLIED not in new.metadata.annotations
    assert new.metadata.annotations[util.DESIRED_REPLICAS] == "3"
    assert new.metadata.annotations[util.MAX_REPLICAS] == "4"
    ref = new.metadata.owner_references[0]
    assert (ref.kind, ref.uid, ref.controller, ref.block_owner_deletion) == ("Deployment", "d-uid", True, True)
    old = rs("a", 3)
    assert util.find_new_replica_set(d, [old, new]) is new
    assert util.find_old_replica_sets(d, [old, new], new) == [old]


def test_reused_replica_set_moves_to_the_new_revision_and_keeps_history() -> None:
    d = deployment(3)
    r = rs("a", 0, revision=1)
    assert util.new_rs_annotations(d, r, 3, exists=True)
    assert r.metadata.annotations[util.REVISION] == "3"
    assert r.metadata.annotations[util.REVISION_HISTORY] == "1"
    assert not util.new_rs_annotations(d, r, 3, exists=True)


def test_rollback_lookup() -> None:
    rss = [rs("a", 0, revision=1, image="v1"), rs("b", 0, revision=2, image="v2"), rs("c", 3, revision=3,
                                                                                      image="v3")]
    assert previous_revision(rss) == 2
    t = template_for_revision(rss, 0)
    assert t is not None and t.spec.containers[0].image == "v2"
    t1 = template_for_revision(rss, 1)
    assert t1 is not None and t1.spec.containers[0].image == "v1"
    assert template_for_revision(rss, 9) is None
    assert template_for_revision(rss[:1], 0) is None


# ------------------------------------------------------------------ status and progress
def _status(d: pb.Deployment, rss: list[pb.ReplicaSet], new: pb.ReplicaSet) -> pb.DeploymentStatus:
    return util.calculate_status(d, rss, new, timeutil.fmt(T0))


def test_calculate_status_counts_and_availability() -> None:
    d = deployment(4, 1, 1)
    old, new = rs("a", 2, available=2), rs("b", 3, available=1)
    st = _status(d, [old, new], new)
    assert (st.replicas, st.updated_replicas, st.available_replicas, st.unavailable_replicas) == (5, 3, 3, 2)
    assert st.observed_generation == 1
    avail = conditions.get(st.conditions, "Available")
    assert avail is not None and (avail.status, avail.reason) == ("True", util.MIN_AVAILABLE)   # 3 >= 4 - 1
    st2 = _status(d, [rs("a", 1, available=1), new], new)
    avail = conditions.get(st2.conditions, "Available")
    assert avail is not None and (avail.status, avail.reason) == ("False", util.MIN_UNAVAILABLE)


def test_complete_progressing_timed_out() -> None:
    d = deployment(3, 1, 0)
    new = rs("b", 3)
    st = _status(d, [new], new)
    assert util.deployment_complete(d, st)
    d.metadata.generation = 2                    # a spec change not yet observed is not complete
    assert not util.deployment_complete(d, st)

    d = deployment(3, 1, 0)
    d.status.updated_replicas = 1
    st = pb.DeploymentStatus(updated_replicas=2)
    assert util.deployment_progressing(d, st)
    assert not util.deployment_progressing(d, pb.DeploymentStatus(updated_replicas=1))

    d.spec.progress_deadline_seconds = 10
    cond = conditions.new("Progressing", "True", util.RS_UPDATED, "", timeutil.fmt(T0))
    st = pb.DeploymentStatus()
    st.conditions.add().CopyFrom(cond)
    assert not util.deployment_timed_out(d, st, T0 + 10)
    assert util.deployment_timed_out(d, st, T0 + 11)
    assert util.seconds_until_deadline(d, st, T0 + 4) == pytest.approx(7.0)
    st.conditions[0].reason = util.NEW_RS_AVAILABLE
    assert not util.deployment_timed_out(d, st, T0 + 1000)
    d.spec.progress_deadline_seconds = util.MAX_INT32
    st.conditions[0].reason = util.RS_UPDATED
    assert not util.deployment_timed_out(d, st, T0 + 10**6)


def test_condition_set_keeps_transition_time_on_same_status() -> None:
    conds = pb.DeploymentStatus().conditions
    conditions.set_(conds, conditions.new("Progressing", "True", util.NEW_RS_CREATED, "a", "t1"))
    conditions.set_(conds, conditions.new("Progressing", "True", util.RS_UPDATED, "b", "t2"))
    c = conditions.get(conds, "Progressing")
    assert c is not None and (c.reason, c.last_transition_time, c.last_update_time) == (util.RS_UPDATED, "t1", "t2")
    conditions.set_(conds, conditions.new("Progressing", "False", util.TIMED_OUT, "c", "t3"))
    c = conditions.get(conds, "Progressing")
    assert c is not None and c.last_transition_time == "t3" and len(conds) == 1


def test_condition_replace_moves_last_update_time_even_with_the_same_reason() -> None:
    # Progress seen again (ReplicaSetUpdated once more): the deadline clock restarts, the transition stays.
    conds = pb.DeploymentStatus().conditions
    conditions.set_(conds, conditions.new("ReplicaFailure", "True", "FailedCreate", "x", "t0"))
    conditions.set_(conds, conditions.new("Progressing", "True", util.RS_UPDATED, "a", "t1"))
    conditions.replace(conds, conditions.new("Progressing", "True", util.RS_UPDATED, "a", "t2"))
    c = conditions.get(conds, "Progressing")
    assert c is not None and (c.last_transition_time, c.last_update_time) == ("t1", "t2")
    conditions.replace(conds, conditions.new("Progressing", "False", util.TIMED_OUT, "b", "t3"))
    assert [(c.type, c.last_transition_time) for c in conds] == [("ReplicaFailure", "t0"), ("Progressing", "t3")]
