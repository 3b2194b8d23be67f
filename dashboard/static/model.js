// The dashboard's state: the objects of each kind the local server relays, and pure summaries of them
// (a pod's state and colour, a Deployment's rollout progress, a Service's endpoints) that the views draw.

export const KINDS = ['Node', 'Pod', 'Deployment', 'ReplicaSet', 'Service', 'Endpoints', 'Event'];

export function keyOf(obj) {
  const md = obj.metadata || {};
  return md.namespace ? `${md.namespace}/${md.name}` : String(md.name || '');
}

export class Store {
  constructor() {
    this.objects = new Map(KINDS.map((k) => [k, new Map()]));
    this.status = new Map();        // kind -> {ok, message, retryIn, server}
  }

  of(kind) { return this.objects.get(kind); }

  // Replace a kind's objects; returns the keys that changed (added, updated or gone).
  snapshot(kind, items) {
    const old = this.of(kind);
    const fresh = new Map(items.map((o) => [keyOf(o), o]));
    const changed = new Set([...old.keys(), ...fresh.keys()]);
    this.objects.set(kind, fresh);
    return changed;
  }

  change(kind, type, obj) {
    const key = keyOf(obj);
    if (type === 'DELETED') this.of(kind).delete(key);
    else this.of(kind).set(key, obj);
    return key;
  }
}

const BAD_WAITING = new Set(['CrashLoopBackOff', 'ErrImagePull', 'ImagePullBackOff', 'CreateContainerError',
  'CreateContainerConfigError', 'InvalidImageName', 'RunContainerError']);

// What a pod card shows: its state class (the colour), phase or reason, readiness, restarts, image.
export function podSummary(pod) {
  const spec = pod.spec || {};
  const status = pod.status || {};
  const statuses = status.containerStatuses || [];
  const containers = spec.containers || [];
  const ready = statuses.filter((s) => s.ready).length;
  const restarts = statuses.reduce((n, s) => n + (s.restartCount || 0), 0);
  const phase = status.phase || 'Pending';
  let reason = status.reason || '';
  for (const s of statuses) {
    const w = (s.state || {}).waiting;
    if (w && w.reason) { reason = w.reason; break; }
  }
  let state;
  if ((pod.metadata || {}).deletionTimestamp) { state = 'terminating'; reason = 'Terminating'; }
  else if (phase === 'Failed' || BAD_WAITING.has(reason)) state = 'failed';
  else if (phase === 'Succeeded') state = 'succeeded';
  else if (phase === 'Running') state = ready === containers.length && containers.length > 0 ? 'ok' : 'notready';
  else state = 'pending';
  return {
    state, phase, reason: reason || phase, ready, total: containers.length, restarts,
    image: containers.map((c) => c.image).join(', '), node: spec.nodeName || '',
  };
}

export function nodeSummary(node) {
  const conds = (node.status || {}).conditions || [];
  const ready = conds.find((c) => c.type === 'Ready');
  const unschedulable = !!(node.spec || {}).unschedulable;
  const readyText = ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown';
  return { ready: readyText === 'Ready', unschedulable, text: readyText + (unschedulable ? ',SchedulingDisabled' : '') };
}

export function revisionOf(obj) {
  return Number(((obj.metadata || {}).annotations || {})['deployment.kubernetes.io/revision'] || 0);
}

export function ownerUid(obj) {
  const ref = ((obj.metadata || {}).ownerReferences || []).find((r) => r.controller);
  return ref ? ref.uid : '';
}

// ready/desired, up-to-date, available, and how far the rollout is (0..1) with kubectl's status words.
export function deploymentSummary(d) {
  const spec = d.spec || {};
  const st = d.status || {};
  const desired = spec.replicas === undefined ? 1 : spec.replicas;
  const updated = st.updatedReplicas || 0;
  const ready = st.readyReplicas || 0;
  const available = st.availableReplicas || 0;
  const total = st.replicas || 0;
  const observed = (st.observedGeneration || 0) >= ((d.metadata || {}).generation || 0);
  const progressing = (st.conditions || []).find((c) => c.type === 'Progressing');
  let message;
  if (!observed) message = 'Waiting for deployment spec update to be observed...';
  else if (progressing && progressing.reason === 'ProgressDeadlineExceeded') message = 'exceeded its progress deadline';
  else if (updated < desired) message = `${updated} of ${desired} updated replicas are available...`;
  else if (total > updated) message = `${total - updated} old replicas are pending termination...`;
  else if (available < updated) message = `${available} of ${updated} updated replicas are available...`;
  else message = 'successfully rolled out';
  const progress = desired === 0 ? (total === 0 ? 1 : 0) : Math.min(1, Math.min(updated, available) / desired);
  return { desired, updated, ready, available, total, progress, message, done: message === 'successfully rolled out' };
}

export function serviceSummary(svc, endpoints) {
  const spec = svc.spec || {};
  const ports = (spec.ports || []).map((p) =>
    `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol || 'TCP'}`);
  const ready = [];
  const notReady = [];
  for (const subset of (endpoints && endpoints.subsets) || []) {
    const eport = (subset.ports || []).map((p) => p.port).join(',');
    for (const a of subset.addresses || []) ready.push({ ip: a.ip, port: eport, pod: (a.targetRef || {}).name || '' });
    for (const a of subset.notReadyAddresses || []) notReady.push({ ip: a.ip, port: eport, pod: (a.targetRef || {}).name || '' });
  }
  return { type: spec.type || 'ClusterIP', clusterIP: spec.clusterIP || '', ports, ready, notReady };
}

export function eventTime(ev) {
  return (ev.series || {}).lastObservedTime || ev.lastTimestamp || ev.eventTime ||
    (ev.metadata || {}).creationTimestamp || '';
}

export function involves(ev, kind, namespace, name) {
  const o = ev.involvedObject || ev.regarding || {};
  return o.kind === kind && o.name === name && (o.namespace || '') === (namespace || '');
}
