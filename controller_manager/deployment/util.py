"""The Deployment arithmetic, pure: no I/O, no clock but the one passed in.

After Kubernetes' pkg/controller/deployment/util/deployment_util.go. Every
function takes protos (pb.Deployment, pb.ReplicaSet) and returns numbers or
plans; the controller modules (sync, rolling, recreate, progress) turn the
plans into API writes.

maxSurge and maxUnavailable, worked through
-------------------------------------------

Both are ints or percentages of `spec.replicas`. A percentage of surge
rounds UP (so 25% of 3 is 1, never 0: a rollout can always add a pod), a
percentage of unavailability rounds DOWN (25% of 3 is 0: never take away
more than asked). If both come out 0 the rollout could never move, so
maxUnavailable becomes 1 (validation already forbids writing both as 0, but
percentages can still round there: 10%/10% of 3 → 1/0, and 0/10% of 3 →
0/0 → 0/1).

Take replicas=10, maxSurge=25%, maxUnavailable=25%:

    surge       = ceil(10 * 25 / 100)  = 3     → at most 13 pods in total
    unavailable = floor(10 * 25 / 100) = 2     → at least 8 available

Rolling from an old ReplicaSet A (10 available) to a new one B, one move
per sync, new pods becoming available between syncs:

    sync  move                                              A   B  pods  available
    1     B up: room = 13 - 10 pods = 3                     10   3   13     10
    2     B's 3 available. A down: two limits, the smaller wins
            maxScaledDown = all pods - minAvailable - B's unavailable
                          = 13 - 8 - 0 = 5
            available - minAvailable = 13 - 8 = 5          5   3    8      8
    3     B up: room = 13 - 8 = 5 (B may not pass 10)        5   8   13      8
    4     B's 8 available: maxScaledDown = 13 - 8 - 0 = 5,
          available - minAvailable = 13 - 8 = 5              0   8    8      8
    5     B up to 10 (room 5, but B stops at replicas)       0  10   10     10

At no point are there more than 13 pods or fewer than 8 available
(tests/unit/test_deployment_util.py replays this for many shapes). While
B's new pods are not yet available, "B's unavailable" holds A back: at
sync 2 with B's 3 still starting, maxScaledDown would be 13 - 8 - 3 = 2.

With maxSurge=1, maxUnavailable=0 (replicas 3) the rollout is "one extra
pod at a time": B up to 1 (total 4), wait until it is available, A down to
2, B up to 2, ... With maxSurge=0, maxUnavailable=1 it is "one fewer at a
time": A down to 2 first, then B up to 1, wait, A down to 1, ...
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from google.protobuf import struct_pb2

from kubelab import conditions, timeutil
from kubelab.v1 import objects_pb2 as pb

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
POD_TEMPLATE_HASH = "pod-template-hash"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"

# Annotations of a Deployment that are not copied onto its ReplicaSets.
SKIP_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO})

# Progressing/Available condition reasons, as Kubernetes writes them.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

MAX_INT32 = 2**31 - 1
_PERCENT = re.compile(r"^(\d+)%$")


# ------------------------------------------------------------------ int-or-percent
def int_or_percent(v: struct_pb2.Value | int | str | None) -> int | str | None:
    """The Python value of an int-or-string field (`3`, `"25%"`), None if unset."""
    if v is None or isinstance(v, (int, str)):
        return v
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return int(v.number_value)
    if kind == "string_value":
        return v.string_value
    return None


def scaled_value(v: int | str | None, total: int, round_up: bool) -> int:
    """An int stays itself; "N%" is N% of total, rounded up or down (GetScaledValueFromIntOrPercent)."""
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    m = _PERCENT.match(v)
    if m is None:
        if v.isdigit():
            return int(v)
        raise ValueError(f"invalid value for IntOrString: invalid value {v!r}")
    exact = int(m.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """(surge, unavailable) as pod counts; surge rounds up, unavailable down; never both 0."""
    surge = scaled_value(int_or_percent(max_surge), desired, True)
    unavailable = scaled_value(int_or_percent(max_unavailable), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_rolling_update(d: pb.Deployment) -> bool:
    return d.spec.strategy.type in ("", "RollingUpdate")


def max_surge(d: pb.Deployment) -> int:
    if not is_rolling_update(d):
        return 0
    ru = d.spec.strategy.rolling_update
    surge, _ = resolve_fenceposts(ru.max_surge, ru.max_unavailable, d.spec.replicas)
    return surge


def max_unavailable(d: pb.Deployment) -> int:
    """Pods that may be unavailable during a rollout (never more than replicas)."""
    if not is_rolling_update(d) or d.spec.replicas == 0:
        return 0
    ru = d.spec.strategy.rolling_update
    _, unavailable = resolve_fenceposts(ru.max_surge, ru.max_unavailable, d.spec.replicas)
    return min(unavailable, d.spec.replicas)


# ------------------------------------------------------------------ replica counts
def spec_replicas(rss: Iterable[pb.ReplicaSet | None]) -> int:
    return sum(rs.spec.replicas for rs in rss if rs is not None)


def actual_replicas(rss: Iterable[pb.ReplicaSet | None]) -> int:
    return sum(rs.status.replicas for rs in rss if rs is not None)


def ready_replicas(rss: Iterable[pb.ReplicaSet | None]) -> int:
    return sum(rs.status.ready_replicas for rs in rss if rs is not None)


def available_replicas(rss: Iterable[pb.ReplicaSet | None]) -> int:
    return sum(rs.status.available_replicas for rs in rss if rs is not None)


def pod_count_upper_bound(rss: Iterable[pb.ReplicaSet | None]) -> int:
    """Pods that may exist: per ReplicaSet the larger of spec and observed status.

    Kubernetes counts spec.replicas only; a ReplicaSet scaled down still has
    its surplus pods until its controller deletes them, so counting spec
    alone lets a new ReplicaSet's creates race an old one's deletes and
    briefly exceed replicas + maxSurge. Counting what the ReplicaSet
    controller still reports makes maxSurge hold for pods, not just specs.
    """
    return sum(max(rs.spec.replicas, rs.status.replicas) for rs in rss if rs is not None)


def active(rss: Iterable[pb.ReplicaSet | None]) -> list[pb.ReplicaSet]:
    return [rs for rs in rss if rs is not None and rs.spec.replicas > 0]


def new_rs_new_replicas(d: pb.Deployment, all_rss: Sequence[pb.ReplicaSet | None], new_rs: pb.ReplicaSet | None) -> int:
    """How many replicas the new ReplicaSet should have now (NewRSNewReplicas)."""
    current = new_rs.spec.replicas if new_rs is not None else 0
    if not is_rolling_update(d):
        return d.spec.replicas
    surge = max_surge(d)
    pods = pod_count_upper_bound(all_rss)
    max_total = d.spec.replicas + surge
    if pods >= max_total:
        return current                      # no room to surge
    scale_up = min(max_total - pods, d.spec.replicas - current)
    return current + max(0, scale_up)


def by_creation(rss: Iterable[pb.ReplicaSet]) -> list[pb.ReplicaSet]:
    """Oldest first (ties by name), as ReplicaSetsByCreationTimestamp."""
    return sorted(rss, key=lambda rs: (timeutil.parse(rs.metadata.creation_timestamp) or 0.0, rs.metadata.name))


def plan_cleanup_unhealthy(old_rss: Sequence[pb.ReplicaSet], max_cleanup: int) -> dict[str, int]:
    """Scale down old ReplicaSets' unavailable pods first (they serve nothing).

    Returns {name: new replicas}; at most `max_cleanup` pods in total.
    """
    plan: dict[str, int] = {}
    total = 0
    for rs in by_creation(old_rss):
        if total >= max_cleanup:
            break
        if rs.spec.replicas == 0:
            continue
        unhealthy = rs.spec.replicas - rs.status.available_replicas
        if unhealthy <= 0:
            continue
        n = min(max_cleanup - total, unhealthy)
        plan[rs.metadata.name] = rs.spec.replicas - n
        total += n
    return plan


def settled_available(rs: pb.ReplicaSet | None) -> int:
    """Available pods a ReplicaSet will have once its controller has applied its spec.

    A ReplicaSet just scaled down still reports the pods it is deleting as
    available until its controller's next status write (Kubernetes has the
    same lag). Its controller deletes unavailable pods first, so once it has
    acted, min(available, spec.replicas) remain available: counting more
    would let the Deployment scale down further on pods already going.
    """
    if rs is None:
        return 0
    return min(rs.status.available_replicas, rs.spec.replicas)


def plan_rolling_scale_down(d: pb.Deployment, all_rss: Sequence[pb.ReplicaSet | None],
                            old_rss: Sequence[pb.ReplicaSet], new_rs: pb.ReplicaSet | None) -> dict[str, int]:
    """Which old ReplicaSets to scale down, and to what (reconcileOldReplicaSets).

    First unhealthy old pods (bounded by maxScaledDown), then healthy ones
    while available pods stay at or above replicas - maxUnavailable.
    Availability is each ReplicaSet's `settled_available`.
    """
    old_pods = spec_replicas(old_rss)
    if old_pods == 0:
        return {}
    all_pods = spec_replicas(all_rss)
    min_available = d.spec.replicas - max_unavailable(d)
    new_unavailable = (new_rs.spec.replicas - settled_available(new_rs)) if new_rs is not None else 0
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    plan = plan_cleanup_unhealthy([rs for rs in old_rss if rs.spec.replicas > 0], max_scaled_down)

    def replicas(rs: pb.ReplicaSet) -> int:
        return plan.get(rs.metadata.name, rs.spec.replicas)

    # Healthy pods: only while enough stay available (the cleanup above
    # removed unavailable pods only, so it did not change availability).
    available = sum(settled_available(rs) for rs in all_rss)
    if available > min_available:
        budget = available - min_available
        scaled = 0
        for rs in by_creation(old_rss):
            if scaled >= budget:
                break
            if replicas(rs) == 0:
                continue
            n = min(replicas(rs), budget - scaled)
            plan[rs.metadata.name] = replicas(rs) - n
            scaled += n
    return {name: n for name, n in plan.items()
            if n != next(rs.spec.replicas for rs in old_rss if rs.metadata.name == name)}


# ------------------------------------------------------------------ proportional scaling
def replicas_annotation(rs: pb.ReplicaSet, name: str) -> int | None:
    v = rs.metadata.annotations.get(name)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def rs_fraction(rs: pb.ReplicaSet, d: pb.Deployment) -> int:
    """How many replicas `rs` gains (or loses) when the Deployment is resized mid-rollout."""
    if d.spec.replicas == 0:
        return -rs.spec.replicas
    deployment_replicas = d.spec.replicas + max_surge(d)
    annotated = replicas_annotation(rs, MAX_REPLICAS)
    if annotated is None or annotated == 0:
        annotated = d.status.replicas
    if annotated == 0:
        return 0
    new_size = rs.spec.replicas * deployment_replicas / annotated
    return int(math.floor(new_size + 0.5)) - rs.spec.replicas


def proportion(rs: pb.ReplicaSet | None, d: pb.Deployment, to_add: int, added: int) -> int:
    if rs is None or rs.spec.replicas == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = rs_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def plan_proportional_scale(d: pb.Deployment, rss: Sequence[pb.ReplicaSet]) -> dict[str, int]:
    """Spread a resize over active ReplicaSets in proportion to their size (mid-rollout scaling).

    `rss` are the active ReplicaSets (old and new). Returns {name: new replicas}.
    """
    allowed = d.spec.replicas + max_surge(d) if d.spec.replicas > 0 else 0
    to_add = allowed - spec_replicas(rss)
    if to_add > 0:      # larger first, newer first among equals
        ordered = sorted(rss, key=lambda rs: (-rs.spec.replicas,
                                              -(timeutil.parse(rs.metadata.creation_timestamp) or 0.0),
                                              rs.metadata.name))
    else:               # larger first, older first among equals
        ordered = sorted(rss, key=lambda rs: (-rs.spec.replicas,
                                              timeutil.parse(rs.metadata.creation_timestamp) or 0.0,
                                              rs.metadata.name))
    sizes: dict[str, int] = {}
    added = 0
    for rs in ordered:
        if to_add != 0:
            p = proportion(rs, d, to_add, added)
            sizes[rs.metadata.name] = rs.spec.replicas + p
            added += p
        else:
            sizes[rs.metadata.name] = rs.spec.replicas
    if ordered and to_add != 0:
        first = ordered[0].metadata.name
        sizes[first] = max(0, sizes[first] + to_add - added)   # leftovers go to the largest
    return sizes


def find_active_or_latest(new_rs: pb.ReplicaSet | None, old_rss: Sequence[pb.ReplicaSet]) -> pb.ReplicaSet | None:
    """The only active ReplicaSet (or the newest if none is active); None if several are active."""
    if new_rs is None and not old_rss:
        return None
    newest_first = list(reversed(by_creation(old_rss)))
    all_active = active([*newest_first, new_rs])
    if not all_active:
        return new_rs if new_rs is not None else newest_first[0]
    if len(all_active) == 1:
        return all_active[0]
    return None


def is_saturated(d: pb.Deployment, rs: pb.ReplicaSet | None) -> bool:
    """The new ReplicaSet runs exactly what the Deployment wants, all available."""
    if rs is None:
        return False
    desired = replicas_annotation(rs, DESIRED_REPLICAS)
    return (desired == d.spec.replicas and rs.spec.replicas == d.spec.replicas
            and rs.status.available_replicas == d.spec.replicas)


def is_scaling_event(d: pb.Deployment, rss: Sequence[pb.ReplicaSet]) -> bool:
    """The Deployment was resized: some active ReplicaSet was sized for another replicas."""
    for rs in active(rss):
        desired = replicas_annotation(rs, DESIRED_REPLICAS)
        if desired is not None and desired != d.spec.replicas:
            return True
    return False


def set_replicas_annotations(rs: pb.ReplicaSet, desired: int, max_replicas: int) -> bool:
    """Record what the ReplicaSet was sized for; True if anything changed."""
    changed = False
    for name, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if rs.metadata.annotations.get(name) != value:
            rs.metadata.annotations[name] = value
            changed = True
    return changed


# ------------------------------------------------------------------ templates and hashes
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_without_hash(template: pb.PodTemplateSpec) -> pb.PodTemplateSpec:
    t = pb.PodTemplateSpec()
    t.CopyFrom(template)
    if POD_TEMPLATE_HASH in t.metadata.labels:
        del t.metadata.labels[POD_TEMPLATE_HASH]
    return t


def compute_hash(template: pb.PodTemplateSpec, collision_count: int | None = None) -> str:
    """The pod-template-hash: FNV-32a of the template, as Kubernetes' "safe" string.

    Kubernetes hashes a deep print of the Go struct; we hash the
    deterministic protobuf encoding. The shape of the result is the same:
    the decimal digits of the 32-bit hash, each mapped into an alphabet
    without vowels (so `5b4c7f657`, `77bc96745b`).
    """
    data = template_without_hash(template).SerializeToString(deterministic=True)
    if collision_count is not None:
        data += b"\x00collision=" + str(collision_count).encode()
    digits = str(_fnv32a(data))
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in digits)


def equal_ignore_hash(a: pb.PodTemplateSpec, b: pb.PodTemplateSpec) -> bool:
    return (template_without_hash(a).SerializeToString(deterministic=True)
            == template_without_hash(b).SerializeToString(deterministic=True))


def find_new_replica_set(d: pb.Deployment, rss: Sequence[pb.ReplicaSet]) -> pb.ReplicaSet | None:
    """The ReplicaSet whose template is the Deployment's (oldest if several)."""
    for rs in by_creation(rss):
        if equal_ignore_hash(rs.spec.template, d.spec.template):
            return rs
    return None


def find_old_replica_sets(d: pb.Deployment, rss: Sequence[pb.ReplicaSet],
                          new_rs: pb.ReplicaSet | None) -> list[pb.ReplicaSet]:
    return [rs for rs in rss if new_rs is None or rs.metadata.uid != new_rs.metadata.uid]


def revision_of(obj: Any) -> int:
    try:
        return int(obj.metadata.annotations.get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: Iterable[pb.ReplicaSet]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def new_rs_annotations(d: pb.Deployment, rs: pb.ReplicaSet, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations onto its new ReplicaSet and set the revision.

    A reused ReplicaSet (a rollback to an old template) moves up to the new
    revision and remembers its old ones in revision-history. True if changed.
    """
    changed = False
    for k, v in d.metadata.annotations.items():
        if k in SKIP_ANNOTATIONS:
            continue
        if rs.metadata.annotations.get(k) != v:
            rs.metadata.annotations[k] = v
            changed = True
    old = revision_of(rs) if REVISION in rs.metadata.annotations else None
    if old is None or old < new_revision:
        if old is not None and exists:
            history = [h for h in rs.metadata.annotations.get(REVISION_HISTORY, "").split(",") if h]
            history.append(str(old))
            rs.metadata.annotations[REVISION_HISTORY] = ",".join(history)
        rs.metadata.annotations[REVISION] = str(new_revision)
        changed = True
    return changed


def new_replica_set(d: pb.Deployment, hash_: str, replicas: int, revision: int) -> pb.ReplicaSet:
    """The ReplicaSet `<deploy>-<hash>` for the Deployment's current template."""
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    md = rs.metadata
    md.name = f"{d.metadata.name}-{hash_}"
    md.namespace = d.metadata.namespace
    md.labels.update(d.spec.template.metadata.labels)
    md.labels[POD_TEMPLATE_HASH] = hash_
    ref = md.owner_references.add()
    ref.api_version, ref.kind, ref.name, ref.uid = "apps/v1", "Deployment", d.metadata.name, d.metadata.uid
    ref.controller = True
    ref.block_owner_deletion = True
    rs.spec.replicas = replicas
    rs.spec.min_ready_seconds = d.spec.min_ready_seconds
    rs.spec.selector.CopyFrom(d.spec.selector)
    rs.spec.selector.match_labels[POD_TEMPLATE_HASH] = hash_
    rs.spec.template.CopyFrom(d.spec.template)
    rs.spec.template.metadata.labels[POD_TEMPLATE_HASH] = hash_
    new_rs_annotations(d, rs, revision, exists=False)
    set_replicas_annotations(rs, d.spec.replicas, d.spec.replicas + max_surge(d))
    return rs


# ------------------------------------------------------------------ status and conditions
def has_progress_deadline(d: pb.Deployment) -> bool:
    return d.spec.HasField("progress_deadline_seconds") and d.spec.progress_deadline_seconds != MAX_INT32


def calculate_status(d: pb.Deployment, all_rss: Sequence[pb.ReplicaSet | None], new_rs: pb.ReplicaSet | None,
                     now: str) -> pb.DeploymentStatus:
    """Counts from the ReplicaSets' statuses, and the Available condition."""
    st = pb.DeploymentStatus()
    st.CopyFrom(d.status)
    available = available_replicas(all_rss)
    total = spec_replicas(all_rss)
    st.observed_generation = d.metadata.generation
    st.replicas = actual_replicas(all_rss)
    st.updated_replicas = actual_replicas([new_rs])
    st.ready_replicas = ready_replicas(all_rss)
    st.available_replicas = available
    st.unavailable_replicas = max(0, total - available)
    if available >= d.spec.replicas - max_unavailable(d):
        conditions.set_(st.conditions, conditions.new("Available", "True", MIN_AVAILABLE,
                                                      "Deployment has minimum availability.", now))
    else:
        conditions.set_(st.conditions, conditions.new("Available", "False", MIN_UNAVAILABLE,
                                                      "Deployment does not have minimum availability.", now))
    return st


def deployment_complete(d: pb.Deployment, st: pb.DeploymentStatus) -> bool:
    return (st.updated_replicas == d.spec.replicas and st.replicas == d.spec.replicas
            and st.available_replicas == d.spec.replicas and st.observed_generation >= d.metadata.generation)


def deployment_progressing(d: pb.Deployment, st: pb.DeploymentStatus) -> bool:
    """Something moved since the last status: more updated, fewer old, more ready or available."""
    old = d.status
    return (st.updated_replicas > old.updated_replicas
            or (st.replicas - st.updated_replicas) < (old.replicas - old.updated_replicas)
            or st.ready_replicas > old.ready_replicas
            or st.available_replicas > old.available_replicas)


def deployment_timed_out(d: pb.Deployment, st: pb.DeploymentStatus, now: float) -> bool:
    """No progress for progressDeadlineSeconds since the Progressing condition last changed."""
    if not has_progress_deadline(d):
        return False
    cond = conditions.get(st.conditions, "Progressing")
    if cond is None:
        return False
    if cond.reason == NEW_RS_AVAILABLE:
        return False
    if cond.reason == TIMED_OUT:
        return True
    since = timeutil.parse(cond.last_update_time)
    return since is not None and since + d.spec.progress_deadline_seconds < now


def seconds_until_deadline(d: pb.Deployment, st: pb.DeploymentStatus, now: float) -> float | None:
    """When to look again at a rollout that may get stuck (requeueStuckDeployment)."""
    cond = conditions.get(st.conditions, "Progressing")
    if not has_progress_deadline(d) or cond is None:
        return None
    if deployment_complete(d, st) or cond.reason == TIMED_OUT:
        return None
    since = timeutil.parse(cond.last_update_time)
    if since is None:
        return None
    left = since + d.spec.progress_deadline_seconds - now
    return max(left, 0.0) + 1.0      # timestamps are whole seconds: look just after the deadline
