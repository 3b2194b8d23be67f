// The dashboard's panels. Each keeps the elements it made, keyed by object, and updates only what changed:
// with 1,000 pods a watch event rewrites one card, not the board. All text goes in through dom.js (textContent).

import { h, setChildren } from './dom.js';
import {
  podSummary, nodeSummary, deploymentSummary, serviceSummary, revisionOf, ownerUid, eventTime, keyOf,
} from './model.js';

const UNSCHEDULED = '';

// ---------------------------------------------------------------- nodes as columns, pods as cards
export class Board {
  constructor(root, onSelect, onAction) {
    this.root = root;
    this.onSelect = onSelect;
    this.onAction = onAction;
    this.columns = new Map();    // node name ('' = unscheduled) -> {el, title, status, count, body, button}
    this.cards = new Map();      // pod key -> {el, node}
  }

  column(node) {
    let col = this.columns.get(node);
    if (col) return col;
    const title = h('span', { class: 'column-name' }, node || 'Unscheduled');
    const status = h('span', { class: 'column-status' });
    const count = h('span', { class: 'column-count' }, '0');
    const button = node ? h('button', { class: 'cordon', type: 'button', onclick: () => this.cordon(node) }, 'Cordon') : null;
    const head = h('div', { class: 'column-head' }, title, count, status, button);
    head.addEventListener('click', (e) => { if (node && e.target !== button) this.onSelect('Node', '', node); });
    const body = h('div', { class: 'column-body' });
    const el = h('section', { class: 'node-column', dataset: { node } }, head, body);
    col = { el, title, status, count, body, button, unschedulable: false };
    this.columns.set(node, col);
    this.placeColumn(node, el);
    return col;
  }

  placeColumn(node, el) {
    // Sorted by name, the Unscheduled column last.
    const names = [...this.columns.keys()].filter((n) => n).sort();
    const i = names.indexOf(node);
    const next = node ? (i + 1 < names.length ? this.columns.get(names[i + 1]).el : this.columns.get(UNSCHEDULED)?.el) : null;
    this.root.insertBefore(el, next || null);
  }

  cordon(node) {
    const col = this.columns.get(node);
    this.onAction({ action: col && col.unschedulable ? 'uncordon' : 'cordon', name: node });
  }

  setNodes(nodes) {
    const names = new Set(nodes.map((n) => n.metadata.name));
    for (const n of nodes) {
      const col = this.column(n.metadata.name);
      const s = nodeSummary(n);
      // A heartbeat changes a Node but seldom what its column shows: 1,000 nodes heartbeating would
      // otherwise rewrite 1,000 columns several times a second (layout of the whole board each time).
      const shown = `${s.text}|${s.ready}|${s.unschedulable}`;
      if (col.shown === shown) continue;
      col.shown = shown;
      col.unschedulable = s.unschedulable;
      col.status.textContent = s.text;
      col.el.classList.toggle('node-notready', !s.ready);
      col.el.classList.toggle('node-cordoned', s.unschedulable);
      col.button.textContent = s.unschedulable ? 'Uncordon' : 'Cordon';
    }
    for (const [name, col] of this.columns) {
      if (name && !names.has(name) && col.body.childElementCount === 0) {
        col.el.remove();
        this.columns.delete(name);
      } else if (name && !names.has(name) && col.shown !== 'gone') {
        col.status.textContent = 'gone';
        col.shown = 'gone';
      }
    }
    this.column(UNSCHEDULED);
  }

  setPod(key, pod) {
    const card = this.cards.get(key);
    if (!pod) {
      if (card) { card.el.remove(); this.cards.delete(key); this.recount(card.node); }
      return;
    }
    const s = podSummary(pod);
    const md = pod.metadata;
    const el = card ? card.el : h('article', { class: 'pod-card', tabindex: '0' });
    el.className = `pod-card state-${s.state}`;
    el.dataset.name = md.name;
    el.dataset.namespace = md.namespace || '';
    el.dataset.state = s.state;
    el.title = `${md.namespace}/${md.name}`;
    setChildren(el,
      h('div', { class: 'pod-name' }, md.name),
      h('div', { class: 'pod-line' },
        h('span', { class: 'pod-phase' }, s.reason),
        h('span', { class: 'pod-ready' }, `${s.ready}/${s.total}`),
        h('span', { class: 'pod-restarts', title: 'restarts' }, `↻${s.restarts}`),
        h('span', { class: 'pod-ns' }, md.namespace || '')),
      h('div', { class: 'pod-image' }, s.image));
    if (!card) {
      el.addEventListener('click', () => this.onSelect('Pod', el.dataset.namespace, el.dataset.name));
    }
    const col = this.column(s.node);
    if (!card || card.node !== s.node) {
      col.body.append(el);
      if (card) this.recount(card.node);
    }
    this.cards.set(key, { el, node: s.node });
    this.recount(s.node);
  }

  recount(node) {
    const col = this.columns.get(node);
    if (col) col.count.textContent = String(col.body.childElementCount);
  }
}

// ---------------------------------------------------------------- Deployments and their ReplicaSets
export class Workloads {
  constructor(root, onSelect, onAction) {
    this.root = root;
    this.onSelect = onSelect;
    this.onAction = onAction;
    this.rows = new Map();      // deployment key -> {el, info, input}
  }

  render(deployments, replicasets) {
    const byOwner = new Map();
    for (const rs of replicasets) {
      const uid = ownerUid(rs);
      if (!byOwner.has(uid)) byOwner.set(uid, []);
      byOwner.get(uid).push(rs);
    }
    const keys = new Set();
    for (const d of [...deployments].sort((a, b) => keyOf(a).localeCompare(keyOf(b)))) {
      const key = keyOf(d);
      keys.add(key);
      const row = this.rows.get(key) || this.row(d);
      this.rows.set(key, row);
      this.root.append(row.el);          // keeps the sorted order; an existing element just moves
      this.fill(row, d, byOwner.get(d.metadata.uid) || []);
    }
    for (const [key, row] of this.rows) {
      if (!keys.has(key)) { row.el.remove(); this.rows.delete(key); }
    }
  }

  row(d) {
    const ns = d.metadata.namespace;
    const name = d.metadata.name;
    const input = h('input', { type: 'number', min: '0', class: 'scale-input', 'aria-label': 'replicas' });
    const scale = h('button', { type: 'button', class: 'scale', onclick: () => this.onAction({
      action: 'scale', namespace: ns, name, replicas: input.value === '' ? null : Number(input.value) }) }, 'Scale');
    const undo = h('button', { type: 'button', class: 'undo', onclick: () => this.onAction({ action: 'undo', namespace: ns, name }) }, 'Undo');
    const info = h('div', { class: 'workload-info' });
    const title = h('button', { type: 'button', class: 'link workload-name', onclick: () => this.onSelect('Deployment', ns, name) }, `${ns}/${name}`);
    const el = h('div', { class: 'workload', dataset: { name, namespace: ns } },
      h('div', { class: 'workload-head' }, title, h('span', { class: 'workload-actions' }, input, scale, undo)), info);
    return { el, info, input };
  }

  fill(row, d, rss) {
    const s = deploymentSummary(d);
    if (document.activeElement !== row.input && row.input.value === '') row.input.placeholder = String(s.desired);
    const bar = h('div', { class: 'progress' }, h('div', { class: s.done ? 'progress-bar done' : 'progress-bar' }));
    bar.firstChild.style.width = `${Math.round(s.progress * 100)}%`;
    const sets = [...rss].sort((a, b) => revisionOf(b) - revisionOf(a)).map((rs) => {
      const st = rs.status || {};
      return h('li', { class: 'rs', onclick: () => this.onSelect('ReplicaSet', rs.metadata.namespace, rs.metadata.name) },
        `${rs.metadata.name}  rev ${revisionOf(rs)}  ${st.readyReplicas || 0}/${(rs.spec || {}).replicas || 0} ready`);
    });
    setChildren(row.info,
      h('div', { class: 'workload-counts' },
        h('span', { class: 'ready-count' }, `ready ${s.ready}/${s.desired}`),
        ` · up-to-date ${s.updated} · available ${s.available}`),
      bar,
      h('div', { class: 'rollout-message' }, s.message),
      h('ul', { class: 'replicasets' }, sets));
  }
}

// ---------------------------------------------------------------- Services with endpoints and NodePorts
export function renderServices(root, services, endpoints, onSelect) {
  const rows = [...services].sort((a, b) => keyOf(a).localeCompare(keyOf(b))).map((svc) => {
    const s = serviceSummary(svc, endpoints.get(keyOf(svc)));
    const eps = [
      ...s.ready.map((a) => h('li', { class: 'ep ready' }, `${a.ip}:${a.port} ${a.pod}`)),
      ...s.notReady.map((a) => h('li', { class: 'ep notready' }, `${a.ip}:${a.port} ${a.pod} (not ready)`)),
    ];
    return h('div', { class: 'service', dataset: { name: svc.metadata.name } },
      h('button', { type: 'button', class: 'link', onclick: () => onSelect('Service', svc.metadata.namespace, svc.metadata.name) },
        `${svc.metadata.namespace}/${svc.metadata.name}`),
      h('div', { class: 'service-meta' }, `${s.type} ${s.clusterIP} ${s.ports.join(' ')}`),
      h('ul', { class: 'endpoints' }, eps.length ? eps : h('li', { class: 'ep none' }, 'no endpoints')));
  });
  setChildren(root, rows);
}

// ---------------------------------------------------------------- Events as a stream
export function eventRow(ev, onSelect) {
  const o = ev.involvedObject || {};
  const count = (ev.series || {}).count || ev.count || 1;
  return h('li', { class: `event ${ev.type === 'Warning' ? 'warning' : 'normal'}`, dataset: { key: keyOf(ev) },
    onclick: () => o.kind && onSelect(o.kind, o.namespace || '', o.name) },
    h('span', { class: 'event-time' }, eventTime(ev).replace('T', ' ').replace('Z', '').slice(11, 19)),
    h('span', { class: 'event-reason' }, ev.reason || ''),
    h('span', { class: 'event-object' }, `${(o.kind || '').toLowerCase()}/${o.name || ''}`),
    h('span', { class: 'event-message' }, ev.message || ''),
    count > 1 ? h('span', { class: 'event-count' }, `×${count}`) : null);
}

export class EventStream {
  constructor(root, onSelect, limit = 200) {
    this.root = root;
    this.onSelect = onSelect;
    this.limit = limit;
    this.rows = new Map();
  }

  reset(events) {
    this.rows.clear();
    this.root.replaceChildren();
    for (const ev of [...events].sort((a, b) => eventTime(a).localeCompare(eventTime(b))).slice(-this.limit)) this.put(ev);
  }

  put(ev) {   // newest on top
    const key = keyOf(ev);
    this.rows.get(key)?.remove();
    const row = eventRow(ev, this.onSelect);
    this.rows.set(key, row);
    this.root.prepend(row);
    while (this.rows.size > this.limit) {
      const last = this.root.lastElementChild;
      this.rows.delete(last.dataset.key);
      last.remove();
    }
  }

  remove(key) {
    this.rows.get(key)?.remove();
    this.rows.delete(key);
  }
}
