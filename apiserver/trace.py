"""`kubelab trace`: the apiserver's index of recent activity, and the timelines built from it.

Sits beside the audit log and the watch cache in the apiserver. `TraceIndex` subscribes to both:
- the audit log (`AuditLog.subscribers`): every completed write, whatever the file's policy says (the
  log's subscriber policy: all writes at Metadata but Leases and nodes' status heartbeats), kept as a
  `Write` (when the request arrived, verb, user, user agent, objectRef, resulting resourceVersion, code,
  annotations such as the scheduler's decision);
- the watch cache's Deployments, ReplicaSets, Pods, Services and Endpoints (a listener on each kind's
  cache, `KindCache.listeners`): each change kept as a `Change` (uid, owners, node, readiness, the pods an
  Endpoints sends to) stamped with the moment this apiserver saw it; and its Events (`Note`: reason,
  message, reporting component, the object's uid).
The records go into one ring of the last `max_records` (50,000 by default: about 30 MB, measured with a
mix of writes, changes and Events plus 16,667 live pods in `latest`); the oldest are dropped and counted.
Beside the ring, `latest` holds the current state of each live object of those kinds (one small `Change`
per object: the ownership graph, Deployment → ReplicaSet → Pod, Service → Endpoints → pods, even for
objects older than the ring).

The timeline itself is pure (`build_trace(records, latest, root, ...)`), so it is tested without a server:
a write is joined to the object change it made by (resource, namespace, name, resourceVersion), which tells
which status write made a pod Ready and which Endpoints write added it. `trace_for` builds it from the
traced object's namespace only (the index keeps the ring's records and the graph per namespace too, so a
trace does not scan 50,000 records of other namespaces) and keeps the last few built (`TraceCache`: a trace
is the same while its namespace's records are, so a repeated call, `-w` or the dashboard, costs a lookup;
at most 10,000 steps are kept, about 13 MB).
The gRPC `Trace` call answers `trace_response` (the cached trace's message, copied); the HTTP API's
`/apis/kubelab.io/v1/namespaces/{ns}/traces/{kind}/{name}` is one route in apiserver/http: admit a `get` of
the object, then `trace_document(service.trace_index, service._cached, kind, ns, name, since)` (`?since=`
the cursor; the document is `trace_json(trace_for(...))`, its steps kept with the cached trace).

The moment each node's proxy began sending to a pod comes from the proxy itself: after a sync that gave its
balancers new ready addresses it calls `ReportProxy` (one small call per sync, not a write to etcd per
endpoint per node, which would not scale), and `add_proxy_report` keeps each entry as a `Programmed` record
(node, the Endpoints and resourceVersion applied, the pods newly sent to, the proxy's own timestamp). Every
node's proxy authenticates as `system:kube-proxy`, so the node name is the proxy's word.
With `--workers N` each apiserver process indexes only the writes (and proxy reports) it served itself.
"""
from __future__ import annotations

import collections
import datetime
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from kubelab import conditions, errors, kinds, timeutil
from kubelab.v1 import api_pb2 as api

log = logging.getLogger(__name__)

MAX_RECORDS = 50_000
TRACKED = ("Deployment", "ReplicaSet", "Pod", "Service", "Endpoints")
PLURAL = {k: kinds.BY_KIND[k].plural for k in TRACKED}


@dataclass(slots=True)
class Write:
    """A completed write, from its audit event."""
    seq: int
    time: float
    verb: str
    user: str
    agent: str
    resource: str
    subresource: str
    namespace: str
    name: str
    rv: str
    code: int
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Note:
    """A core Event about an object."""
    seq: int
    time: float
    reason: str
    message: str
    type: str
    component: str
    host: str
    uid: str
    kind: str
    namespace: str
    name: str
    event_name: str


@dataclass(slots=True)
class Change:
    """An object as the watch cache saw it change (`time`: when this apiserver saw it)."""
    seq: int
    time: float
    kind: str
    namespace: str
    name: str
    uid: str
    rv: str
    created: float | None = None
    owners: tuple[str, ...] = ()          # owner uids
    node: str = ""
    ready: bool | None = None             # a pod's Ready condition
    targets: tuple[str, ...] = ()         # an Endpoints' ready addresses' pod uids
    deleted: bool = False


@dataclass(slots=True)
class Programmed:
    """A node's proxy began sending to these pods (the ready addresses of an Endpoints it applied)."""
    seq: int
    time: float
    node: str
    user: str
    agent: str
    namespace: str
    name: str
    rv: str
    pods: tuple[str, ...]


Record = Write | Note | Change | Programmed


@dataclass(slots=True)
class Step:
    time: float
    component: str
    identity: str
    action: str
    object: str
    detail: str = ""
    agent: str = ""
    seq: int = 0
    delay: float = 0.0


@dataclass
class Trace:
    kind: str
    namespace: str
    name: str
    steps: list[Step]
    critical_path: str
    notes: list[str]
    cursor: int


# ---------------------------------------------------------------- turning API objects into records
def component_of(agent: str) -> str:
    """`kube-scheduler/v0.1.0 (linux/amd64) kubelab` → `kube-scheduler`."""
    return agent.split("/", 1)[0].split(" ", 1)[0] if agent else ""


def _ready(obj: Any) -> bool | None:
    """A pod's or node's readiness, None when it has no Ready condition yet."""
    c = conditions.get(obj.status.conditions, "Ready")
    return None if c is None else c.status == "True"


def change_of(obj: Any, kind: str, seq: int, when: float, deleted: bool = False) -> Change:
    md = obj.metadata
    ch = Change(seq, when, kind, md.namespace, md.name, md.uid, md.resource_version,
                timeutil.parse(md.creation_timestamp), tuple(o.uid for o in md.owner_references), deleted=deleted)
    if kind == "Pod":
        ch.node, ch.ready = obj.spec.node_name, _ready(obj)
    elif kind == "Endpoints":
        ch.targets = tuple(a.target_ref.uid for s in obj.subsets for a in s.addresses if a.target_ref.uid)
    return ch


def note_of(ev: Any, seq: int) -> Note:
    io = ev.involved_object
    when = timeutil.parse(ev.event_time) or timeutil.parse(ev.last_timestamp) or time.time()
    return Note(seq, when, ev.reason, ev.message, ev.type, ev.reporting_component or ev.source.component,
                ev.reporting_instance or ev.source.host, io.uid, io.kind, io.namespace, io.name, ev.metadata.name)


def write_of(ev: dict[str, Any], seq: int) -> Write | None:
    """A Write from a completed audit event (None for other stages and failed requests)."""
    ref = ev.get("objectRef")
    code = int((ev.get("responseStatus") or {}).get("code", 0))
    if ev.get("stage") != "ResponseComplete" or not ref or code >= 400:
        return None
    # When the request arrived, not when it was answered: the write took effect between the two, and a step
    # it caused (a kubelet's Event about a pod it saw bound) can come before the answer's stamp under load.
    when = timeutil.parse(ev.get("requestReceivedTimestamp", "")) or timeutil.parse(ev.get("stageTimestamp", "")) \
        or time.time()
    user = ev.get("user") or {}
    return Write(seq, when, ev.get("verb", ""), user.get("username", ""), ev.get("userAgent", ""),
                 ref.get("resource", ""), ref.get("subresource", ""), ref.get("namespace", ""),
                 ref.get("name", ""), ref.get("resourceVersion", ""), code, dict(ev.get("annotations") or {}))


class TraceIndex:
    """The bounded index: a ring of the last `max_records` records, plus the current object graph.

    Beside the ring, the same records per namespace (`by_ns`, in the ring's order: a trace reads only its
    own namespace's, not a full ring of other namespaces'), the current graph per namespace (`latest_ns`),
    and the last few traces computed (`traces`, see `trace_for`)."""

    def __init__(self, max_records: int = MAX_RECORDS, clock: Callable[[], float] = time.time) -> None:
        self.records: collections.deque[Record] = collections.deque(maxlen=max_records)
        self.by_ns: dict[str, collections.deque[Record]] = {}
        self.latest: dict[str, Change] = {}
        self.latest_ns: dict[str, dict[str, Change]] = {}
        self.traces = TraceCache()
        self.seq = 0
        self.dropped = 0
        self.clock = clock
        self.started = clock()

    def _next(self) -> int:
        self.seq += 1
        if len(self.records) == self.records.maxlen:
            self.dropped += 1
        return self.seq

    def _append(self, rec: Record) -> None:
        if not self.records.maxlen:
            return
        if len(self.records) == self.records.maxlen:
            gone = self.records[0]          # the ring drops it: so does its namespace's list (its oldest)
            mine = self.by_ns[gone.namespace]
            mine.popleft()
            if not mine:
                del self.by_ns[gone.namespace]
        self.records.append(rec)
        mine = self.by_ns.get(rec.namespace)
        if mine is None:
            mine = self.by_ns[rec.namespace] = collections.deque()
        mine.append(rec)

    def _set_latest(self, ch: Change) -> None:
        self.latest[ch.uid] = ch
        self.latest_ns.setdefault(ch.namespace, {})[ch.uid] = ch

    def _drop_latest(self, ch: Change) -> None:
        self.latest.pop(ch.uid, None)
        mine = self.latest_ns.get(ch.namespace)
        if mine is not None:
            mine.pop(ch.uid, None)
            if not mine:
                del self.latest_ns[ch.namespace]

    def add_audit(self, event: dict[str, Any]) -> None:
        w = write_of(event, self.seq + 1)
        if w is not None:
            self._next()
            self._append(w)

    def add_proxy_report(self, user: str, agent: str, report: Any) -> int:
        """A proxy's `ProxyReport`: one record per Endpoints it applied; how many were kept."""
        n = 0
        for p in report.programmed:
            if not p.pod_uids or not p.name:
                continue
            when = timeutil.parse(p.time) or self.clock()
            self._append(Programmed(self._next(), when, report.node_name, user, agent, p.namespace, p.name,
                                    p.resource_version, tuple(p.pod_uids)))
            n += 1
        return n

    def add_object(self, kind: str, type_: str, obj: Any) -> None:
        if kind == "Event":
            if type_ != "DELETED":
                self._append(note_of(obj, self._next()))
            return
        ch = change_of(obj, kind, self._next(), self.clock(), deleted=type_ == "DELETED")
        self._append(ch)
        if ch.deleted:
            self._drop_latest(ch)
        else:
            self._set_latest(ch)

    def attach(self, audit: Any, cache: Any) -> None:
        """Subscribe to the audit log and the watch cache (whose caches are filled: the current objects seed
        the graph)."""
        audit.subscribers.append(self.add_audit)
        for kind in (*TRACKED, "Event"):
            kc = cache.caches[kind]
            if kind != "Event":
                for obj in list(kc.objects.values()):
                    self._set_latest(change_of(obj, kind, 0, ch_time(obj)))
            kc.listeners.append(lambda ev, kind=kind: self._on_event(kind, ev))

    def _on_event(self, kind: str, ev: Any) -> None:
        try:
            self.add_object(kind, ev.type, ev.obj)
        except Exception:  # noqa: BLE001 - the index's bug must not stop the watch cache
            log.exception("trace index: %s event", kind)

    @property
    def oldest(self) -> float:
        """Since when the ring holds everything."""
        return self.records[0].time if self.dropped and self.records else self.started


def ch_time(obj: Any) -> float:
    return timeutil.parse(obj.metadata.creation_timestamp) or 0.0


# ---------------------------------------------------------------- the timeline (pure)
def related(latest: dict[str, Change], changes: Sequence[Change], root: Change) -> tuple[dict[str, Change], set[str]]:
    """The objects in the trace (uid → its last known state) and the Endpoints uids to follow."""
    known: dict[str, Change] = {}
    for ch in changes:
        known[ch.uid] = ch
    known.update(latest)
    children: dict[str, list[str]] = collections.defaultdict(list)
    for uid, ch in known.items():
        for o in ch.owners:
            children[o].append(uid)
    out = {root.uid: known.get(root.uid, root)}
    if root.kind == "Deployment":
        todo = [root.uid]
        while todo:
            for c in children.get(todo.pop(), ()):
                if c not in out and known[c].kind in ("ReplicaSet", "Pod"):
                    out[c] = known[c]
                    todo.append(c)
    endpoints = {uid for uid, ch in known.items() if ch.kind == "Endpoints"}
    if root.kind == "Service":
        mine = {uid for uid in endpoints if (known[uid].namespace, known[uid].name) == (root.namespace, root.name)}
        for uid in mine:
            out[uid] = known[uid]
        for ch in changes:
            if ch.uid in mine:
                for t in ch.targets:
                    if t in known:
                        out[t] = known[t]
        for uid in mine:
            for t in known[uid].targets:
                if t in known:
                    out[t] = known[t]
        endpoints = mine
    return out, endpoints


def _obj(kind: str, ns: str, name: str) -> str:
    return f"{kind.lower()}/{ns}/{name}" if ns else f"{kind.lower()}/{name}"


def _decided_node(annotations: dict[str, str]) -> str:
    try:
        return str(json.loads(annotations.get("kubelab.io/scheduler-decision", "{}")).get("node") or "")
    except (ValueError, AttributeError):
        return ""


def _decision(text: str) -> str:
    try:
        d = json.loads(text)
    except ValueError:
        return text
    why = ", ".join(f"{n} {r}" for r, n in sorted(d.get("unfeasible", {}).items()))
    score = d.get("score")
    return (f"{d.get('feasible')}/{d.get('nodes')} nodes feasible ({d.get('examined')} examined)"
            + (f"; others: {why}" if why else "")
            + (f"; score {score}" if score is not None else "; only feasible node, not scored"))


@dataclass
class PodMarks:
    """When each stage of one pod's start happened (None: not in the index)."""
    name: str
    node: str = ""
    created: float | None = None
    bound: float | None = None
    pulling: float | None = None
    pulled: float | None = None
    started: float | None = None
    ready: float | None = None
    sending: float | None = None          # the last node's proxy began sending to it
    sending_node: str = ""


# A change whose write is not in the index yet is left out this long: the write's audit record and the watch
# event race, and a step told twice (without, then with its write) would confuse `-w`.
SETTLE = 1.0


def build_trace(records: Iterable[Record], latest: dict[str, Change], root: Change, oldest: float,
                dropped: int = 0, since: int = 0, cursor: int = 0, now: float | None = None) -> Trace:
    """The timeline of `root` and what it caused, from the index's records and current graph.

    A step's `seq` is the newest record it was built from, so `since` hands out a step again once a later
    record completes it (a status write, then the change that says it made the pod Ready)."""
    settled = (now if now is not None else time.time()) - SETTLE
    # Owners, Endpoints and the Events about an object are in its own namespace: the other namespaces'
    # records (most of a full ring, in a busy cluster) are left out in one cheap pass.
    recs = [r for r in records if r.namespace == root.namespace]
    changes = [r for r in recs if isinstance(r, Change)]
    objs, endpoints = related({u: c for u, c in latest.items() if c.namespace == root.namespace}, changes, root)
    by_key = {(PLURAL[c.kind], c.namespace, c.name): c for c in objs.values()}
    by_name = {(c.kind, c.namespace, c.name): uid for uid, c in objs.items()}   # Events that name no uid
    writes_by_rv: dict[tuple[str, str, str, str], Write] = {}
    event_writer: dict[tuple[str, str], Write] = {}
    for r in recs:
        if isinstance(r, Write):
            writes_by_rv.setdefault((r.resource, r.namespace, r.name, r.rv), r)
            if r.resource == "events" and r.verb == "create":
                event_writer[(r.namespace, r.name)] = r
    steps: list[Step] = []
    used: set[int] = set()
    marks: dict[str, PodMarks] = {uid: PodMarks(c.name, c.node) for uid, c in objs.items() if c.kind == "Pod"}

    # When a pod first became Ready, and by which change; which Endpoints change added which pod.
    ready_rv: dict[str, tuple[str, int]] = {}
    seen_ready: dict[str, bool] = {}
    ep_targets: dict[str, set[str]] = {}
    for ch in changes:
        if ch.kind == "Pod" and ch.uid in marks:
            if ch.ready and not seen_ready.get(ch.uid) and ch.uid not in ready_rv:
                ready_rv[ch.uid] = (ch.rv, ch.seq)
                w = writes_by_rv.get(("pods", ch.namespace, ch.name, ch.rv))
                if w is None and ch.time < settled:
                    # the write is gone (or another worker served it): the change still says when
                    steps.append(Step(ch.time, "", "", "Ready", _obj("Pod", ch.namespace, ch.name),
                                      "seen by the watch cache; its write is not in the index", seq=ch.seq))
                    marks[ch.uid].ready = ch.time
            seen_ready[ch.uid] = bool(ch.ready)
            marks[ch.uid].node = ch.node or marks[ch.uid].node
        elif ch.kind == "Endpoints" and ch.uid in endpoints:
            before = ep_targets.get(ch.uid, set())
            now = set(ch.targets)
            added = [objs[t].name for t in sorted(now - before) if t in marks]
            ep_targets[ch.uid] = now
            w = writes_by_rv.get(("endpoints", ch.namespace, ch.name, ch.rv)) if added else None
            if added and (w is not None or ch.time < settled):
                if w is not None:
                    used.add(w.seq)
                steps.append(Step(w.time if w else ch.time, component_of(w.agent) if w else "",
                                  w.user if w else "", "endpoints add", _obj("Endpoints", ch.namespace, ch.name),
                                  "ready address for pod " + ", ".join(added), w.agent if w else "",
                                  max(w.seq, ch.seq) if w else ch.seq))

    for r in recs:
        if isinstance(r, Write) and r.seq not in used and r.resource != "events":
            c = by_key.get((r.resource, r.namespace, r.name))
            if c is None or r.resource == "endpoints":
                continue
            if c.created is not None and r.time < c.created - 1:
                continue                        # an earlier object of the same name
            action, detail, seq = r.verb, "", r.seq
            if r.subresource == "binding":
                node = _decided_node(r.annotations) or c.node
                action = f"bind to {node}" if node else "bind"
                detail = _decision(r.annotations.get("kubelab.io/scheduler-decision", ""))
                if c.uid in marks:
                    marks[c.uid].bound = r.time
            elif r.subresource:
                action = f"{r.verb} {r.subresource}"
            if c.kind == "Pod" and r.verb == "create" and not r.subresource and c.uid in marks:
                marks[c.uid].created = r.time
            if c.kind == "Pod" and r.rv and ready_rv.get(c.uid, ("", 0))[0] == r.rv:
                detail, seq = "Ready=True", max(r.seq, ready_rv[c.uid][1])
                marks[c.uid].ready = r.time
            steps.append(Step(r.time, component_of(r.agent), r.user, action, _obj(c.kind, r.namespace, r.name),
                              detail, r.agent, seq))
        elif isinstance(r, Note):
            uid = r.uid if r.uid in objs else by_name.get((r.kind, r.namespace, r.name), "")
            if not uid:
                continue
            # The component is the process that wrote the Event (its user agent); the Event's own source
            # (`replicaset-controller`, `default-scheduler`) and host go in the detail.
            w = event_writer.get((r.namespace, r.event_name))
            source = " on ".join(x for x in (r.component, r.host) if x)
            steps.append(Step(r.time, component_of(w.agent) if w else r.component, w.user if w else "", r.reason,
                              _obj(r.kind, r.namespace, r.name), r.message + (f" ({source})" if source else ""),
                              w.agent if w else "", r.seq))
            m = marks.get(uid)
            if m is not None:
                if r.reason == "Pulling" and m.pulling is None:
                    m.pulling = r.time
                elif r.reason == "Pulled":
                    m.pulled = r.time
                elif r.reason == "Started":
                    m.started = r.time

    steps.extend(_proxy_steps(recs, root, objs, marks))
    steps.sort(key=lambda s: (s.time, s.seq))
    for prev, s in zip([None, *steps], steps):
        s.delay = 0.0 if prev is None else max(0.0, s.time - prev.time)
    notes = _gone(root, oldest, dropped, steps)
    path = critical_path(root, steps, marks, objs)
    shown = [s for s in steps if s.seq > since] if since else steps
    return Trace(root.kind, root.namespace, root.name, shown, path, notes, cursor)


def _proxy_steps(recs: list[Record], root: Change, objs: dict[str, Change],
                 marks: dict[str, PodMarks]) -> list[Step]:
    """A step per (node's proxy, pod of the trace) it began sending to; for a Service, through its own
    Endpoints only. Marks each pod's last such moment (the critical path ends there when it is last)."""
    out: list[Step] = []
    for r in recs:
        if not isinstance(r, Programmed):
            continue
        if root.kind == "Service" and (r.namespace, r.name) != (root.namespace, root.name):
            continue
        for uid in r.pods:
            m = marks.get(uid)
            if m is None:
                continue
            out.append(Step(r.time, component_of(r.agent) or "kube-proxy", r.user, f"proxy on {r.node} sends",
                            _obj("Pod", objs[uid].namespace, m.name),
                            f"node {r.node}'s proxy began sending to it (endpoints/{r.namespace}/{r.name} "
                            f"resourceVersion {r.rv})", r.agent, r.seq))
            if m.sending is None or r.time > m.sending:
                m.sending, m.sending_node = r.time, r.node
    return out


def _gone(root: Change, oldest: float, dropped: int, steps: list[Step]) -> list[str]:
    if root.created is None or root.created >= oldest - 1:
        return []
    when = _clock(oldest)
    what = (f"{dropped} older records were dropped (the index keeps the last {MAX_RECORDS:,})" if dropped
            else "the apiserver started then")
    return [f"{root.kind.lower()}/{root.name} was created at {_clock(root.created)}, before the index's oldest "
            f"record ({when}; {what}): its creation and what it caused before {when} are gone; "
            f"left: {len(steps)} steps since then"]


def _clock(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def duration(seconds: float) -> str:
    """`12 ms` under a second, else `2.4 s`."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def critical_path(root: Change, steps: list[Step], marks: dict[str, PodMarks], objs: dict[str, Change]) -> str:
    """`apply → all pods Ready 2.4 s: controllers .., scheduling .., image .., container start .., readiness ..`
    along the pod that was Ready last; the segments follow each other, so they add up to the total."""
    if root.kind == "Deployment":
        me = _obj("Deployment", root.namespace, root.name)
        applies = [s for s in steps if s.object == me and s.action in ("create", "update", "patch")
                   and s.component != "kube-controller-manager"]
        if not applies:
            return "no apply of the deployment in the index"
        start, label = applies[-1].time, "apply"
        pods = {u: m for u, m in marks.items() if m.created is not None and m.created >= start}
    elif root.kind == "Pod":
        pods = marks
        start, label = (marks[root.uid].created if root.uid in marks else None), "pod created"
        if start is None:
            return "the pod's creation is not in the index"
    else:
        adds = [s for s in steps if s.action == "endpoints add"]
        create = next((s for s in steps if s.action == "create" and s.object.startswith("service/")), None)
        if create is None or not adds:
            return "no service creation and endpoints change in the index"
        text = f"service created → last endpoints add {duration(adds[-1].time - create.time)}"
        sending = [m for m in marks.values() if m.sending is not None and m.sending >= adds[-1].time]
        if sending:
            last = max(sending, key=lambda m: m.sending or 0.0)
            text += (f" → last proxy sending {duration((last.sending or 0) - create.time)} "
                     f"(node {last.sending_node}'s proxy to pod {last.name})")
        return text
    if not pods:
        return f"{label} → no pods created since"
    ready = [m for m in pods.values() if m.ready is not None]
    if len(ready) < len(pods):
        waiting = sorted(m.name for m in pods.values() if m.ready is None)
        return f"{label} → {len(ready)}/{len(pods)} pods Ready; waiting for {', '.join(waiting)}"
    last = max(ready, key=lambda m: m.ready or 0.0)
    text = f"{label} → all pods Ready {duration((last.ready or 0) - start)}: " + segments(start, last)
    # The proxies are the last step when one began sending after the last pod was Ready.
    sending = [m for m in pods.values() if m.sending is not None and m.sending > (last.ready or 0)]
    if sending:
        tail = max(sending, key=lambda m: m.sending or 0.0)
        text += (f"; → every proxy sending {duration((tail.sending or 0) - start)}: endpoints + proxies "
                 f"{duration((tail.sending or 0) - (last.ready or 0))} after the last Ready "
                 f"(node {tail.sending_node}'s proxy to pod {tail.name})")
    return text


def segments(start: float, m: PodMarks) -> str:
    """The last pod's stages, each from the end of the one before (missing marks say so)."""
    image = (m.pulled - m.pulling) if m.pulled is not None and m.pulling is not None else 0.0
    parts: list[tuple[str, float | None]] = [
        ("controllers", None if m.created is None else m.created - start),
        ("scheduling", None if m.bound is None or m.created is None else m.bound - m.created),
        ("image", image),
        ("container start", None if m.started is None or m.bound is None else m.started - m.bound - image),
        ("readiness", None if m.ready is None or m.started is None else m.ready - m.started),
    ]
    text = ", ".join(f"{n} {duration(max(0.0, v)) if v is not None else '?'}" for n, v in parts)
    return text + f" (last pod {m.name}" + (f" on {m.node})" if m.node else ")")


# ---------------------------------------------------------------- serving
def trace_for(index: TraceIndex, cached: Callable[[str, str, str], Any], kind: str, namespace: str, name: str,
              since: int = 0) -> Trace:
    """The trace of kind/namespace/name (its kind as the user spelled it); NotFound as the API says it."""
    root, entry = _computed(index, cached, kind, namespace, name)
    return _view(index, root, entry, since)


def trace_response(index: TraceIndex, cached: Callable[[str, str, str], Any], kind: str, namespace: str,
                   name: str, since: int = 0) -> api.TraceResponse:
    """`trace_proto(trace_for(...))`, the gRPC `Trace` answer; a full timeline is copied from the message kept
    with the cached trace (a few hundred steps are a few hundred messages to build in Python)."""
    root, entry = _computed(index, cached, kind, namespace, name)
    t = _view(index, root, entry, since)
    if since:
        return trace_proto(t)
    if entry.proto is None:
        entry.proto = trace_proto(Trace(t.kind, t.namespace, t.name, entry.steps, entry.path, [], 0))
    resp = api.TraceResponse()
    resp.CopyFrom(entry.proto)
    resp.notes.extend(t.notes)
    resp.cursor = t.cursor
    return resp


def trace_document(index: TraceIndex, cached: Callable[[str, str, str], Any], kind: str, namespace: str,
                   name: str, since: int = 0) -> dict[str, Any]:
    """`trace_json(trace_for(...))`, the HTTP API's document; a full timeline's steps are the cached trace's."""
    root, entry = _computed(index, cached, kind, namespace, name)
    t = _view(index, root, entry, since)
    if since:
        return trace_json(t)
    if entry.json_steps is None:
        entry.json_steps = [step_json(s) for s in entry.steps]
    doc = trace_json(Trace(t.kind, t.namespace, t.name, [], t.critical_path, t.notes, t.cursor))
    doc["steps"] = entry.json_steps
    return doc


@dataclass(slots=True)
class Computed:
    """A trace's steps (all of them, before `since`) and critical path, and the records they came from."""
    key: tuple[Any, ...]
    steps: list[Step]
    path: str
    waiting: float = math.inf                 # the oldest change build_trace left to settle (its time)
    proto: api.TraceResponse | None = None    # the steps and critical path as trace_proto writes them
    json_steps: list[dict[str, Any]] | None = None   # the steps as trace_json writes them (read only)


def _computed(index: TraceIndex, cached: Callable[[str, str, str], Any], kind: str, namespace: str,
              name: str) -> tuple[Change, Computed]:
    try:
        info = kinds.BY_KIND.get(kind) or kinds.lookup(kind)
    except kinds.UnknownKind as e:
        raise errors.NotFound(str(e)) from None
    if info.kind not in ("Deployment", "Pod", "Service"):
        raise errors.BadRequest(f"trace follows deployments, pods and services, not {info.plural}")
    obj = cached(info.kind, namespace, name)
    if obj is None:
        group = f".{info.group}" if info.group else ""
        raise errors.NotFound(f'{info.plural}{group} "{name}" not found')
    root = index.latest.get(obj.metadata.uid) or change_of(obj, info.kind, 0, ch_time(obj))
    # Only the object's namespace's records make its trace (build_trace's first pass): they are read from
    # the index's per-namespace list, not filtered out of a full ring. The steps and the critical path are
    # the same while those records are (the index only adds at the end and drops at the front, so the first
    # and last sequence numbers say which they are) and no change among them that still waited for its write
    # (SETTLE) has waited long enough: then they come from the cache.
    recs = index.by_ns.get(root.namespace) or ()
    key = (root.seq, root.rv, recs[0].seq, recs[-1].seq, len(recs)) if recs else (root.seq, root.rv)
    now = index.clock()
    entry = index.traces.get(root.uid, key, now - SETTLE)
    if entry is None:
        full = build_trace(recs, index.latest_ns.get(root.namespace, {}), root, index.oldest, index.dropped,
                           0, index.seq, now)
        waiting = min((r.time for r in recs if isinstance(r, Change) and not r.time < now - SETTLE),
                      default=math.inf)
        entry = Computed(key, full.steps, full.critical_path, waiting)
        index.traces.put(root.uid, entry)
    return root, entry


def _view(index: TraceIndex, root: Change, entry: Computed, since: int) -> Trace:
    """The trace as of now: the steps after `since`, the notes on what the ring has dropped, the cursor."""
    notes = _gone(root, index.oldest, index.dropped, entry.steps)
    shown = [s for s in entry.steps if s.seq > since] if since else list(entry.steps)
    return Trace(root.kind, root.namespace, root.name, shown, entry.path, notes, index.seq)


class TraceCache:
    """The last traces computed, one per traced object (uid), each with the key of the records it was
    computed from; at most `max_entries` and `max_steps` steps in all (least recently used first out): a
    step kept costs about 1.3 kB with its message and JSON (a 100-pod Deployment's trace, 1,000 steps,
    1.3 MB), so the cache stays under 13 MB beside the ring's 30."""

    def __init__(self, max_entries: int = 16, max_steps: int = 10_000) -> None:
        self.entries: collections.OrderedDict[str, Computed] = collections.OrderedDict()
        self.max_entries, self.max_steps = max_entries, max_steps
        self.steps = self.hits = self.misses = 0

    def get(self, uid: str, key: tuple[Any, ...], settled: float = math.inf) -> Computed | None:
        """The trace kept for `uid` if it was computed from the records `key` names and no change it left to
        settle is older than `settled` (build_trace's `now - SETTLE`) now."""
        entry = self.entries.get(uid)
        if entry is None or entry.key != key or entry.waiting < settled:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(uid)
        return entry

    def put(self, uid: str, entry: Computed) -> None:
        old = self.entries.pop(uid, None)
        if old is not None:
            self.steps -= len(old.steps)
        if len(entry.steps) > self.max_steps:
            return
        self.entries[uid] = entry
        self.steps += len(entry.steps)
        while len(self.entries) > self.max_entries or self.steps > self.max_steps:
            _, gone = self.entries.popitem(last=False)
            self.steps -= len(gone.steps)

    def clear(self) -> None:
        self.entries.clear()
        self.steps = 0


def step_json(s: Step) -> dict[str, Any]:
    return {"time": timeutil.fmt_micro(s.time), "component": s.component, "identity": s.identity, "action": s.action,
            "object": s.object, "delaySeconds": round(s.delay, 6), "detail": s.detail, "userAgent": s.agent,
            "seq": s.seq}


def trace_json(t: Trace) -> dict[str, Any]:
    """The trace as the API serves it (gRPC's TraceResponse carries the same fields)."""
    return {"apiVersion": "kubelab.io/v1", "kind": "Trace",
            "object": {"kind": t.kind, "namespace": t.namespace, "name": t.name},
            "steps": [step_json(s) for s in t.steps], "criticalPath": t.critical_path, "notes": t.notes,
            "cursor": t.cursor}


def trace_proto(t: Trace) -> api.TraceResponse:
    # Each step added in place (a list of TraceStep messages given to the constructor is built, then copied).
    resp = api.TraceResponse(critical_path=t.critical_path, notes=t.notes, cursor=t.cursor)
    add = resp.steps.add
    for s in t.steps:
        add(time=timeutil.fmt_micro(s.time), component=s.component, identity=s.identity, action=s.action, object=s.object,
            delay_seconds=s.delay, detail=s.detail, user_agent=s.agent, seq=s.seq)
    return resp
